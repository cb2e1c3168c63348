"""Rule eeg_clean: apply the ICA choice of the components TSV, write the clean EEG and QC (cinebrain.eeg.clean)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.eeg.clean import clean_run

clean_run(
    snakemake.input.fif,
    snakemake.input.ica,
    snakemake.input.components,
    snakemake.input.qc,
    out_fif=snakemake.output.fif,
    qc_json=snakemake.output.qc,
    truth=snakemake.params.truth,
    bids_eeg=snakemake.params.bids_eeg,
)
