"""Rule cinesync_audio_decoder: LoRA fine-tuning of F5-TTS on one audio encoder variant's brain feature, through
submitit (cinebrain.launch, cinebrain.methods.cinesync_audio.decoder)."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from cinebrain.launch import launch

p = snakemake.params
launch(
    "cinebrain.methods.cinesync_audio.decoder:train_audio_decoder",
    {"variant": snakemake.wildcards.variant, "train_dir": str(snakemake.input.train),
     "encoder_dir": str(Path(snakemake.input.encoder).parent), "model": dict(p.model), "train": dict(p.train),
     "device": p.device, "progress": False, "roi_sets": list(p.roi_sets),
     "out_dir": str(Path(snakemake.output.config).parent)},
    p.launch,
    p.submitit,
    p.launch_dir,
)
