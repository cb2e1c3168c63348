"""Rule cineneuron_memory: the memory pool of one subject's training clips, through submitit
(cinebrain.launch, cinebrain.methods.cineneuron.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cineneuron.train:build_memory",
    {"train_dir": str(snakemake.input.train), "test_dir": str(snakemake.input.test),
     "brain_dir": str(Path(snakemake.input.brain).parent), "base": p.base, "out": str(snakemake.output.pool),
     "tokens": int(p.tokens), "extra": snakemake.input.extra[0] if snakemake.input.extra else None,
     "device": p.device},
    p.launch,
    p.submitit,
    p.launch_dir,
)
