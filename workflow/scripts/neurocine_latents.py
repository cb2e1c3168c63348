"""Rule neurocine_latents: the Stable Diffusion VAE latents of the frames of every clip of one split, through
submitit (cinebrain.launch, cinebrain.models.frame_latents)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.models.frame_latents:encode_latents",
    {"split_dir": str(snakemake.input.split), "base": p.base, "frames": p.frames,
     "size": list(p.size) if p.size else None, "out": str(snakemake.output.latents), "device": p.device},
    p.launch,
    p.submitit,
    p.launch_dir,
)
