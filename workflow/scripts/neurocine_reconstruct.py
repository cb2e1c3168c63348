"""Rule neurocine_reconstruct: every test clip of one subject decoded by its trained NeuroCine, through submitit
(cinebrain.launch, cinebrain.methods.neurocine.reconstruct)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p, i = snakemake.params, snakemake.input
launch(
    "cinebrain.methods.neurocine.reconstruct:reconstruct",
    {"model_dir": str(Path(i.config).parent.parent), "test_dir": str(i.test), "train_dir": str(i.train),
     "out_dir": str(snakemake.output.recon), "settings": dict(p.settings), "device": p.device, "progress": False},
    p.launch,
    p.submitit,
    p.launch_dir,
)
