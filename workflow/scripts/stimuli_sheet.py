"""Rule stimuli_sheet: frames of the first clips with their shot boundaries (cinebrain.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_clips

plot_clips(snakemake.input.table, snakemake.output.figure)
