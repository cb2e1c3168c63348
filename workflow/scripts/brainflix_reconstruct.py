"""Rule brainflix_reconstruct: every test clip of one subject reconstructed by one Brain Netflix variant, through
submitit (cinebrain.launch, cinebrain.methods.brainflix.reconstruct)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from cinebrain.launch import launch

p, i, w = snakemake.params, snakemake.input, snakemake.wildcards
launch(
    "cinebrain.methods.brainflix.reconstruct:reconstruct",
    {"predictions": str(i.predictions), "test_dir": str(i.test), "generator": p.generator, "blip": p.blip,
     "variant": w.variant, "settings": dict(p.settings), "device": p.device, "progress": False,
     "out_dir": str(snakemake.output.recon)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
