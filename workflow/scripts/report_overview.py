"""Rule report_overview: dataset figures for the report (cinebrain.report.dataset_overview)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.report import dataset_overview

dataset_overview(
    snakemake.input.inventory,
    snakemake.params.bids_root,
    snakemake.params.fmriprep_dir,
    dict(snakemake.output.items()),
    volume_marker=snakemake.params.volume_marker,
    visual_roi=snakemake.input.visual_roi,
)
