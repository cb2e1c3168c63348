"""Rule fmri_activation: a subject's stimulus-activated columns from its training repeats (cinebrain.fmri.activation)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.fmri.activation import activation_subject

activation_subject(snakemake.wildcards.subject, inventory=snakemake.input.inventory, runs=snakemake.params.runs,
                   columns=snakemake.input.columns, settings=snakemake.params.settings,
                   out=snakemake.output.selection, figure=snakemake.output.figure)
