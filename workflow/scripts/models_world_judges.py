"""Rule models_world_judges: the benchmark's ViT and VideoMAE trained on the synthetic categories (cinebrain.synth.pretrain)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain import world_judges

world_judges(snakemake.output.vit, snakemake.output.videomae, steps=snakemake.params.steps,
             progress=True)
