"""Rule features_latents: the decoder VAE's latents of one episode's clips (cinebrain.features)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.features import encode_latents  # noqa: E402

vae = snakemake.params.vae  # noqa: F821
encode_latents(snakemake.input.table, snakemake.wildcards.episode, model=vae["model"],  # noqa: F821
               subfolder=vae["subfolder"], out=snakemake.output.features, device=snakemake.params.device,  # noqa: F821
               batch_size=vae["batch_size"], dtype=vae["dtype"], progress=True)
