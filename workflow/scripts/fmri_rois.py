"""Rule fmri_rois: the grayordinates of the configured ROI sets (cinebrain.fmri.rois)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.rois import write_columns

write_columns(snakemake.params.roi_sets, snakemake.output.columns, roi_dir=snakemake.params.roi_dir)
