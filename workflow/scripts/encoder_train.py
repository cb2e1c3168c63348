"""Rule encoder_train: train and evaluate one CineSync variant on one subject, through submitit (cinebrain.launch)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.models.encoder:train_encoder",
    {"variant": snakemake.wildcards.variant, "train_dir": str(snakemake.input.train),
     "test_dir": str(snakemake.input.test), "model": dict(p.model), "train": dict(p.train),
     "evaluation": dict(p.evaluation), "device": p.device, "progress": False,
     "roi_sets": list(p.roi_sets) if p.roi_sets else None, "roi_columns": str(snakemake.input.columns),
     "out_dir": str(Path(snakemake.output.metrics).parent)},
    p.launch,
    p.submitit,
)
