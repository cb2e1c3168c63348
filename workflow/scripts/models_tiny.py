"""Rule models_tiny: tiny random models of the real classes for the demo (cinebrain.tiny_models)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from cinebrain.tiny_models import write_tiny_models  # noqa: E402

write_tiny_models(snakemake.output.models, models=snakemake.params.models,  # noqa: F821
                  clip_pretrain_steps=snakemake.params.clip_pretrain_steps)  # noqa: F821
