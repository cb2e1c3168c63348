"""Rule models_world_judges: the benchmark's ViT and VideoMAE trained on the synthetic categories, or copied
from the shipped world while it matches (cinebrain.synth.pretrain)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain import shipped_world, world_judges

shipped = shipped_world(snakemake.input.get("shipped"), snakemake.params.world)
world_judges(snakemake.output.vit, snakemake.output.videomae, steps=snakemake.params.steps, progress=True,
             shipped=shipped)
