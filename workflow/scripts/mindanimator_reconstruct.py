"""Rule mindanimator_reconstruct: every test clip of one subject decoded by one Mind-Animator variant,
through submitit (cinebrain.launch, cinebrain.methods.mindanimator.reconstruct)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.mindanimator.reconstruct:reconstruct",
    {"model_dir": str(Path(i.model).parent), "variant": snakemake.wildcards.variant, "test_dir": str(i.test),
     "train_dir": str(i.train), "latents_train": str(i.latents_train), "out_dir": str(snakemake.output.recon),
     "settings": dict(p.settings), "device": p.device, "progress": False},
    p.launch,
    p.submitit,
    p.launch_dir,
)
