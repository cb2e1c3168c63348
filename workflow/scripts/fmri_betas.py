"""Rule fmri_betas: a subject's per-clip beta vectors, ROI columns z-scored over its training rows (cinebrain.fmri.betas)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.betas import normalise_betas

normalise_betas(snakemake.wildcards.subject, inventory=snakemake.input.inventory, values=snakemake.input.values,
                columns=snakemake.input.columns, out=snakemake.output.data)
