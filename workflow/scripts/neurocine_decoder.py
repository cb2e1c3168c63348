"""Rule neurocine_decoder: NeuroCine's phase 2 (video diffusion on captions, then on the fMRI) of one subject,
through submitit (cinebrain.launch, cinebrain.methods.neurocine.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.neurocine.train:train_decoder",
    {"train_dir": str(i.train), "encoder_dir": str(Path(i.model).parent), "latents_train": str(i.latents_train),
     "settings": dict(p.settings), "device": p.device, "progress": False,
     "out_dir": str(Path(i.model).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
