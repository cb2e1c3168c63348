"""Rule models_world_vae: the synthetic world's CogVideoX VAE trained as an autoencoder (cinebrain.synth.pretrain)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain import world_vae

world_vae(snakemake.output.vae, steps=snakemake.params.steps, clips=snakemake.params.clips,
          progress=True)
