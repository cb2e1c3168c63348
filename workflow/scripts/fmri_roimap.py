"""Rule fmri_roimap: the selected ROIs on the fsLR-32k surfaces (cinebrain.fmri.report.plot_roi_sets)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.report import plot_roi_sets

plot_roi_sets(snakemake.input.columns, snakemake.output.figure)
