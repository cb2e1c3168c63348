"""Rule eeg_preprocess: gradient, BCG, filters, bad channels and ICA fit of one run (cinebrain.eeg.preprocess)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.eeg.preprocess import preprocess_rule

preprocess_rule(
    snakemake.input.inventory,
    snakemake.params.bids_root,
    snakemake.wildcards.subject,
    int(snakemake.wildcards.run),
    marker=snakemake.params.marker,
    settings=snakemake.params.eeg,
    outputs=dict(snakemake.output.items()),
    n_jobs=snakemake.threads,
)
