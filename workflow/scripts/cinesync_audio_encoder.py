"""Rule cinesync_audio_encoder: train and evaluate one audio encoder variant (transcript-aligned) on one subject,
through submitit (cinebrain.launch, cinebrain.methods.cinesync_audio.train)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cinesync_audio.train:train_encoder",
    {"variant": snakemake.wildcards.variant, "train_dir": str(snakemake.input.train),
     "test_dir": str(snakemake.input.test), "model": dict(p.model), "train": dict(p.train),
     "evaluation": dict(p.evaluation), "fmri_augment": dict(p.fmri_augment), "device": p.device, "progress": False,
     "roi_sets": list(p.roi_sets), "text_sources": list(p.text_sources),
     "out_dir": str(Path(snakemake.output.metrics).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
