"""Rule encoder_report: the retrieval table of every variant and subject and its figure (cinebrain.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_encoders

plot_encoders(snakemake.input.metrics, snakemake.output.summary, snakemake.output.figure)
