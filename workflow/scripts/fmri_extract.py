"""Rule fmri_extract: one run's ROI columns, optionally cleaned, and its QC (cinebrain.fmri.extract)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.extract import extract_run

extract_run(
    snakemake.input.manifest,
    int(snakemake.wildcards.run),
    snakemake.input.columns,
    snakemake.params.confounds,
    dict(snakemake.output.items()),
)
