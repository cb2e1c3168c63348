"""Rule brainflix_stage1: Brain Netflix's stage 1 (masked brain modelling, then alignment) of one pool of subjects,
through submitit (cinebrain.launch, cinebrain.methods.brainflix.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.brainflix.train:train_stage1",
    {"runs": [list(r) for r in p.runs], "train_dirs": dict(p.train_dirs), "held_out": p.held_out,
     "settings": dict(p.settings), "device": p.device, "progress": False,
     "out_dir": str(Path(snakemake.output.model).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
