"""Rule methods_summary: retrieval against chance of every method's models, read through the output contract
(cinebrain.methods.report)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.methods.report import summarise_models

summarise_models(snakemake.input.metrics, snakemake.output.summary, snakemake.output.figure,
                 snakemake.output.protocols)
