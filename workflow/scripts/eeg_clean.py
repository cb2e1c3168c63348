"""Rule eeg_clean: apply the ICA choice of the components TSV, write the clean EEG and QC (cinebrain.eeg.clean)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.eeg.clean import clean_run  # noqa: E402

clean_run(
    snakemake.input.fif,  # noqa: F821
    snakemake.input.ica,  # noqa: F821
    snakemake.input.components,  # noqa: F821
    snakemake.input.qc,  # noqa: F821
    out_fif=snakemake.output.fif,  # noqa: F821
    qc_json=snakemake.output.qc,  # noqa: F821
    truth=snakemake.params.truth,  # noqa: F821
    bids_eeg=snakemake.params.bids_eeg,  # noqa: F821
)
