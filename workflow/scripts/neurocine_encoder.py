"""Rule neurocine_encoder: NeuroCine's phase 1 (the fMRI encoder) of one subject, scored on its test split,
through submitit (cinebrain.launch, cinebrain.methods.neurocine.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.neurocine.train:train_encoder",
    {"train_dir": str(i.train), "test_dir": str(i.test), "settings": dict(p.settings), "device": p.device,
     "progress": False, "out_dir": str(Path(snakemake.output.metrics).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
