"""Rules features_latents and features_wan_latents: a video VAE's latents of one episode's clips (cinebrain.features)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.features import encode_latents

vae = snakemake.params.vae
encode_latents(snakemake.input.table, snakemake.wildcards.episode, model=vae["model"],
               subfolder=vae["subfolder"], out=snakemake.output.features, device=snakemake.params.device,
               batch_size=vae["batch_size"], dtype=vae["dtype"], precision=vae["precision"], progress=True)
