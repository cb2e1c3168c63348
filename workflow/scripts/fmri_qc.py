"""Rule fmri_qc: temporal SNR, framewise displacement and carpet plot of one run (cinebrain.fmri.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.report import plot_fmri_qc

plot_fmri_qc(snakemake.input.qc, snakemake.input.data, snakemake.input.sidecar, snakemake.output.figure)
