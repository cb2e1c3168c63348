"""Rule models_world_generator: the synthetic world's caption-to-video CogVideoX pipeline (cinebrain.synth.pretrain)."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain import world_generator

world_generator(snakemake.input.tiny, snakemake.input.vae, Path(snakemake.output.index).parent,
                steps=snakemake.params.steps, clips=snakemake.params.clips, progress=True)
