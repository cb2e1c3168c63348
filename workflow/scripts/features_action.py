"""Rule features_action: the action embedding of every clip of one episode (cinebrain.features)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.features import embed_actions

embed_actions(snakemake.input.table, snakemake.wildcards.episode, model=snakemake.params.model,
              out=snakemake.output.features, device=snakemake.params.device,
              batch_size=snakemake.params.batch_size, progress=True)
