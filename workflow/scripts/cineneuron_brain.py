"""Rule cineneuron_brain: train and score one subject's Brain Model (stage 1), through submitit
(cinebrain.launch, cinebrain.methods.cineneuron.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cineneuron.train:train_brain",
    {"train_dir": str(snakemake.input.train), "test_dir": str(snakemake.input.test), "model": dict(p.model),
     "train": dict(p.train), "evaluation": dict(p.evaluation), "fmri_augment": dict(p.fmri_augment), "device": p.device,
     "progress": False,
     "roi_sets": list(p.roi_sets) if p.roi_sets else None, "out_dir": str(Path(snakemake.output.metrics).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
