"""Rule benchmark_summary: the benchmark table (cinebrain.benchmark.score.summarise), its figure and the
best/median/worst clips (cinebrain.benchmark.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.report import plot_benchmark, published_comparison, write_published_comparison
from cinebrain.benchmark.score import summarise

i, o = snakemake.input, snakemake.output
summary = summarise(i.scores, dict(snakemake.params.settings), o.summary, o.table)
plot_benchmark(summary, i.scores, i.recon, i.published, o.figure, o.clips, dataset=snakemake.params.dataset)
write_published_comparison(published_comparison(summary, i.published, snakemake.params.dataset), snakemake.params.dataset,
                           o.published, o.published_table)
