"""Rule cinesync_report: the table of every CineSync decoder (variant x subject) and their training curves
(cinebrain.methods.cinesync.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.methods.cinesync.report import plot_decoders

plot_decoders(snakemake.input.configs, snakemake.output.summary, snakemake.output.figure)
