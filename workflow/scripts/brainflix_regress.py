"""Rule brainflix_regress: Brain Netflix's stage 2 (ridge and MLP regression of z and b) of one pool of subjects,
through submitit (cinebrain.launch, cinebrain.methods.brainflix.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.brainflix.train:train_regression",
    {"stage1_dir": str(Path(i.model).parent), "train_dirs": dict(p.train_dirs), "latents": dict(p.latents),
     "blips": dict(p.blips), "held_out": p.held_out, "settings": dict(p.settings), "device": p.device,
     "progress": False, "out_dir": str(Path(snakemake.output.config).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
