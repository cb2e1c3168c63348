"""Rule fmri_normalise: z-score a run's ROI series and write it with its sidecar (cinebrain.fmri.normalise)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.fmri.normalise import normalise_run  # noqa: E402

normalise_run(
    snakemake.wildcards.subject,  # noqa: F821
    int(snakemake.wildcards.run),  # noqa: F821
    inventory=snakemake.input.inventory,  # noqa: F821
    columns=snakemake.input.columns,  # noqa: F821
    info=snakemake.input.info,  # noqa: F821
    runs=snakemake.input.runs,  # noqa: F821
    mode=snakemake.params.normalise,  # noqa: F821
    hrf_lag=snakemake.params.hrf_lag,  # noqa: F821
    out=snakemake.output.data,  # noqa: F821
)
