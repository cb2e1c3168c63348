"""Rule models_world_vae: the synthetic world's CogVideoX VAE trained as an autoencoder, or copied from the
shipped world while it matches (cinebrain.synth.pretrain)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain import shipped_world, world_vae

shipped = shipped_world(snakemake.input.get("shipped"), snakemake.params.world)
world_vae(snakemake.output.vae, steps=snakemake.params.steps, clips=snakemake.params.clips, progress=True,
          shipped=shipped)
