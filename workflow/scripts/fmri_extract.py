"""Rule fmri_extract: one run's ROI columns, optionally cleaned, and its QC (cinebrain.fmri.extract)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.fmri.extract import extract_run  # noqa: E402

extract_run(
    snakemake.input.manifest,  # noqa: F821
    int(snakemake.wildcards.run),  # noqa: F821
    snakemake.input.columns,  # noqa: F821
    snakemake.params.confounds,  # noqa: F821
    snakemake.output,  # noqa: F821
)
