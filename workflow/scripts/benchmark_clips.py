"""Rule benchmark_clips: every test clip under each condition of one run (cinebrain.benchmark.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.report import plot_conditions

i = snakemake.input
plot_conditions(i.scores, i.recon, i.ceiling[0] if i.ceiling else None, snakemake.output.figure,
                seed=snakemake.params.seed, min_gap=snakemake.params.shuffle_gap)
