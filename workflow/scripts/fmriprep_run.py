"""Rule fmriprep_run: run fMRIPrep for one subject (or check precomputed derivatives) (cinebrain.fmri.fmriprep)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.fmri.fmriprep import fmriprep_subject  # noqa: E402

fmriprep_subject(
    snakemake.wildcards.subject,  # noqa: F821
    inventory=snakemake.input.inventory,  # noqa: F821
    bids_dir=snakemake.input.bids,  # noqa: F821
    fmriprep_dir=snakemake.params.fmriprep_dir,  # noqa: F821
    settings=snakemake.params.settings,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    mem_mb=snakemake.resources.mem_mb,  # noqa: F821
    tmpdir=snakemake.resources.tmpdir,  # noqa: F821
    manifest=snakemake.output.manifest,  # noqa: F821
    log=snakemake.log[0],  # noqa: F821
)
