"""Rule cineneuron_decoder: stage 2 of one subject (Brain Model, Mixture-of-Memories and Wan2.1 LoRA
trained jointly), through submitit (cinebrain.launch, cinebrain.methods.cineneuron.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cineneuron.train:train_decoder",
    {"train_dir": str(snakemake.input.train), "brain_dir": str(Path(snakemake.input.brain).parent),
     "memory_file": str(snakemake.input.pool), "model": dict(p.model), "memory": dict(p.memory),
     "train": dict(p.train), "out_dir": str(Path(snakemake.output.config).parent), "device": p.device,
     "progress": False},
    p.launch,
    p.submitit,
    p.launch_dir,
)
