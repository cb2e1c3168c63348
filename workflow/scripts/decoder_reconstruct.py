"""Rule decoder_reconstruct: a video for every test clip from its brain feature, through submitit
(cinebrain.launch, cinebrain.models.decoder)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from cinebrain.launch import launch  # noqa: E402

p = snakemake.params  # noqa: F821
launch(
    "cinebrain.models.decoder:reconstruct",
    {"decoder_dir": str(Path(snakemake.input.decoder).parent), "test_dir": str(snakemake.input.test),  # noqa: F821
     "out_dir": str(snakemake.output.recon), "settings": dict(p.settings),  # noqa: F821
     "figure": str(snakemake.output.figure), "device": p.device, "progress": False},  # noqa: F821
    p.launch,
    p.submitit,
)
