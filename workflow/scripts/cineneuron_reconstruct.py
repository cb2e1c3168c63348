"""Rule cineneuron_reconstruct: every test clip of one subject decoded by its trained CineNeuron, through
submitit (cinebrain.launch, cinebrain.methods.cineneuron.reconstruct)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cineneuron.reconstruct:reconstruct",
    {"decoder_dir": str(Path(snakemake.input.decoder).parent), "test_dir": str(snakemake.input.test),
     "train_dir": str(snakemake.input.train), "out_dir": str(snakemake.output.recon), "settings": dict(p.settings),
     "device": p.device, "progress": False},
    p.launch,
    p.submitit,
    p.launch_dir,
)
