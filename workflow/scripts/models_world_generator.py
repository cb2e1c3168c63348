"""Rule models_world_generator: the synthetic world's caption-to-video CogVideoX pipeline, trained or copied
from the shipped world while it matches (cinebrain.synth.pretrain)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.synth.pretrain import shipped_world, world_generator

shipped = shipped_world(snakemake.input.get("shipped"), snakemake.params.world)
world_generator(snakemake.input.tiny, snakemake.input.vae, Path(snakemake.output.index).parent,
                steps=snakemake.params.steps, clips=snakemake.params.clips, progress=True, shipped=shipped)
