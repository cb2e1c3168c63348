"""Rule eeg_clean: apply the ICA choice of the components TSV, write the clean EEG and QC (cinebrain.eeg.clean)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os

from cinebrain.eeg.clean import clean_run

i, p = snakemake.input, snakemake.params

clean_run(
    snakemake.input.fif,
    snakemake.input.ica,
    snakemake.input.components,
    snakemake.input.qc,
    out_fif=snakemake.output.fif,
    qc_json=snakemake.output.qc,
    truth=os.path.join(i.truth, p.truth) if i.truth else None,
    bids_eeg=os.path.join(p.bids_root, p.bids_eeg),
)
