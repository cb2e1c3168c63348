"""Rule fmriprep_run: run fMRIPrep for one subject (or check precomputed derivatives) (cinebrain.fmri.fmriprep)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.fmriprep import fmriprep_subject

fmriprep_subject(
    snakemake.wildcards.subject,
    inventory=snakemake.input.inventory,
    bids_dir=snakemake.params.bids_root,
    fmriprep_dir=snakemake.params.fmriprep_dir,
    settings=snakemake.params.settings,
    threads=snakemake.threads,
    mem_mb=snakemake.resources.mem_mb,
    tmpdir=snakemake.resources.tmpdir,
    manifest=snakemake.output.manifest,
    log=snakemake.log[0],
)
