"""Rule synth_generate: write the synthetic dataset (cinebrain.synth.generate)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth import SynthConfig, generate

generate(snakemake.params.out, SynthConfig(**snakemake.params.synth), progress=True, roi_dir=snakemake.params.roi_dir)
