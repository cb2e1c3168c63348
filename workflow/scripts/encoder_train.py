"""Rule encoder_train: train and evaluate one CineSync variant on one subject, through submitit (cinebrain.launch)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from cinebrain.launch import launch  # noqa: E402

p = snakemake.params  # noqa: F821
launch(
    "cinebrain.models.encoder:train_encoder",
    {"variant": snakemake.wildcards.variant, "train_dir": str(snakemake.input.train),  # noqa: F821
     "test_dir": str(snakemake.input.test), "model": dict(p.model), "train": dict(p.train),  # noqa: F821
     "evaluation": dict(p.evaluation), "device": p.device, "progress": False,
     "roi_sets": list(p.roi_sets) if p.roi_sets else None, "roi_columns": str(snakemake.input.columns),  # noqa: F821
     "out_dir": str(Path(snakemake.output.metrics).parent)},  # noqa: F821
    p.launch,
    p.submitit,
)
