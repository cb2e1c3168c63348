"""Rule brainflix_targets: the regression targets of every clip of one split — the generator VAE's latents z and
BLIP's embeddings b — through submitit (cinebrain.launch, cinebrain.methods.brainflix.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from cinebrain.launch import launch

p, o = snakemake.params, snakemake.output
launch(
    "cinebrain.methods.brainflix.train:encode_targets",
    {"split_dir": str(snakemake.input.split), "generator": p.generator, "blip": p.blip, "frames": p.frames,
     "size": list(p.size) if p.size else None, "latents_out": str(o.latents), "blip_out": str(o.blip),
     "device": p.device},
    p.launch,
    p.submitit,
    p.launch_dir,
)
