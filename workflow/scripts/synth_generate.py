"""Rule synth_generate: write the synthetic dataset (cinebrain.synth.generate)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.synth import SynthConfig, generate  # noqa: E402

generate(snakemake.params.out, SynthConfig(**snakemake.params.synth), progress=True)  # noqa: F821
