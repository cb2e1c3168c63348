"""Rule decoder_report: the table of every decoder (variant x subject) and their training curves (cinebrain.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_decoders

plot_decoders(snakemake.input.configs, snakemake.output.summary, snakemake.output.figure)
