"""Rule cineneuron_categories: the Brain Models' per-superclass classification, table and figure
(cinebrain.methods.cineneuron.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.methods.cineneuron.report import plot_categories

plot_categories(snakemake.input.metrics, snakemake.output.figure, snakemake.output.table)
