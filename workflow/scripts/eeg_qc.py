"""Rule eeg_qc: report figures of one run's EEG cleaning (cinebrain.report.plot_eeg_qc)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import plot_eeg_qc

plot_eeg_qc(snakemake.input, snakemake.output)
