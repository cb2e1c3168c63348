"""Rule data_windows: a subject's clip windows against its fMRI and EEG (cinebrain.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_windows

plot_windows(snakemake.input.datasets, snakemake.output.figure)
