"""Rule cinesync_audio_report: the table of every audio decoder (variant x subject) and their training curves
(cinebrain.methods.cinesync.report, shared with the video decoders)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.methods.cinesync.report import plot_decoders

plot_decoders(snakemake.input.configs, snakemake.output.summary, snakemake.output.figure,
              ylabel="flow-matching loss", title="CineSync audio decoders (F5-TTS + LoRA on the brain feature)")
