"""Rule mindanimator_train: one subject's semantic, structure and motion decoders (and the ablations' models),
scored on its test split, with the voxel importance maps, through submitit (cinebrain.launch,
cinebrain.methods.mindanimator.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.mindanimator.train:train",
    {"train_dir": str(i.train), "test_dir": str(i.test), "latents_train": str(i.latents_train),
     "latents_test": str(i.latents_test), "embedder": p.embedder, "settings": dict(p.settings), "device": p.device,
     "progress": False, "out_dir": str(Path(snakemake.output.metrics).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
