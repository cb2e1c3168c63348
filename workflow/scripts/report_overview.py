"""Rule report_overview: dataset figures for the report (cinebrain.report.dataset_overview)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.report import dataset_overview  # noqa: E402

dataset_overview(
    snakemake.input.inventory,  # noqa: F821
    snakemake.input.bids,  # noqa: F821
    snakemake.params.fmriprep_dir,  # noqa: F821
    snakemake.output,  # noqa: F821
    volume_marker=snakemake.params.volume_marker,  # noqa: F821
)
