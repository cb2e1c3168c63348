"""Rule fmri_normalise: z-score a run's ROI series and write it with its sidecar (cinebrain.fmri.normalise)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.normalise import normalise_run

normalise_run(
    snakemake.wildcards.subject,
    int(snakemake.wildcards.run),
    inventory=snakemake.input.inventory,
    columns=snakemake.input.columns,
    info=snakemake.input.info,
    runs=snakemake.input.runs,
    mode=snakemake.params.normalise,
    hrf_lag=snakemake.params.hrf_lag,
    out=snakemake.output.data,
)
