"""Rule features_embed: CLIP/SigLIP frame and caption embeddings of one episode (cinebrain.features)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.features import embed_episode

embed_episode(snakemake.input.table, snakemake.input.captions, snakemake.wildcards.episode,
              model=snakemake.params.model, out=snakemake.output.features,
              device=snakemake.params.device, batch_size=snakemake.params.batch_size, progress=True)
