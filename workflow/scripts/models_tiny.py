"""Rule models_tiny: tiny random models of the real classes for the demo (cinebrain.synth.models)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.models import write_tiny_models

write_tiny_models(snakemake.output.models, models=snakemake.params.models,
                  clip_pretrain_steps=snakemake.params.clip_pretrain_steps, progress=True)
