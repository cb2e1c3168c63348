"""Rule models_tiny: tiny random models of the real classes for the demo (cinebrain.synth.models)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.models import write_tiny_models

p = snakemake.params
write_tiny_models(snakemake.output.models, models=p.models, clip_pretrain_steps=p.clip_pretrain_steps,
                  world_clips=p.world_clips, vae_pretrain_steps=p.vae_pretrain_steps,
                  transformer_pretrain_steps=p.transformer_pretrain_steps, judge_pretrain_steps=p.judge_pretrain_steps,
                  progress=True)
