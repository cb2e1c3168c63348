"""Rule decoder_train: LoRA fine-tuning of CogVideoX on one encoder variant's brain feature, through submitit
(cinebrain.launch, cinebrain.models.decoder)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from cinebrain.launch import launch  # noqa: E402

p = snakemake.params  # noqa: F821
launch(
    "cinebrain.models.decoder:train_decoder",
    {"variant": snakemake.wildcards.variant, "train_dir": str(snakemake.input.train),  # noqa: F821
     "encoder_dir": str(Path(snakemake.input.encoder).parent), "model": dict(p.model),  # noqa: F821
     "train": dict(p.train), "device": p.device, "progress": False,
     "roi_sets": list(p.roi_sets) if p.roi_sets else None, "roi_columns": str(snakemake.input.columns),  # noqa: F821
     "out_dir": str(Path(snakemake.output.config).parent)},  # noqa: F821
    p.launch,
    p.submitit,
)
