"""Rule cinesync_audio_reconstruct: a waveform of every test clip by one trained audio decoder, through submitit
(cinebrain.launch, cinebrain.methods.cinesync_audio.reconstruct)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cinesync_audio.reconstruct:reconstruct",
    {"decoder_dir": str(Path(snakemake.input.decoder).parent), "test_dir": str(snakemake.input.test),
     "train_dir": str(snakemake.input.train), "out_dir": str(snakemake.output.recon), "settings": dict(p.settings),
     "figure": str(snakemake.output.figure), "clips_page": str(snakemake.output.clips), "device": p.device,
     "progress": False},
    p.launch,
    p.submitit,
    p.launch_dir,
)
