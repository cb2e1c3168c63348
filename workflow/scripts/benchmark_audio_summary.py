"""Rule benchmark_audio_summary: the audio benchmark's table (cinebrain.benchmark.audio.summarise_audio) and its
figure (cinebrain.benchmark.report.plot_metric_panels)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.audio import summarise_audio
from cinebrain.benchmark.report import plot_metric_panels

i, o = snakemake.input, snakemake.output
summary = summarise_audio(i.scores, dict(snakemake.params.settings), o.summary, o.table)
plot_metric_panels(summary, i.scores, i.published, o.figure, title="Cine-Benchmark, audio", dataset=snakemake.params.dataset)
