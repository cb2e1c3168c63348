"""Rule eeg_qc: report figures of one run's EEG cleaning (cinebrain.eeg.report.plot_eeg_qc)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.eeg.report import plot_eeg_qc

i, o = snakemake.input, snakemake.output
plot_eeg_qc(arrays=i.arrays, qc=i.qc, ica=i.ica, fif=i.fif, psd=o.psd, locked=o.locked, ica_figure=o.ica)
