"""Rule eeg_preprocess: gradient, BCG, filters, bad channels and ICA fit of one run (cinebrain.eeg.preprocess)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.eeg.preprocess import preprocess_rule  # noqa: E402

preprocess_rule(
    snakemake.input.inventory,  # noqa: F821
    snakemake.input.bids,  # noqa: F821
    snakemake.wildcards.subject,  # noqa: F821
    int(snakemake.wildcards.run),  # noqa: F821
    marker=snakemake.params.marker,  # noqa: F821
    settings=snakemake.params.eeg,  # noqa: F821
    outputs=snakemake.output,  # noqa: F821
    n_jobs=snakemake.threads,  # noqa: F821
)
