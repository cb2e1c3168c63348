"""Rule benchmark_summary: the benchmark table, its figure and the best/median/worst clips (cinebrain.benchmark, cinebrain.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_benchmark

plot_benchmark(snakemake.input.scores, dict(snakemake.params.settings), snakemake.input.published,
               snakemake.output.summary, snakemake.output.table, snakemake.output.figure,
               snakemake.output.clips)
