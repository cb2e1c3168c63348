"""Rule features_embed: CLIP/SigLIP frame and caption embeddings of one episode (cinebrain.features)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.features import embed_episode  # noqa: E402

embed_episode(snakemake.input.table, snakemake.input.captions, snakemake.wildcards.episode,  # noqa: F821
              model=snakemake.params.model, out=snakemake.output.features,  # noqa: F821
              device=snakemake.params.device, batch_size=snakemake.params.batch_size, progress=True)  # noqa: F821
