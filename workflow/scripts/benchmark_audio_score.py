"""Rule benchmark_audio_score: every audio reconstruction of one run scored against its clip's audio, with the
shuffled-brain and no-brain controls (cinebrain.benchmark.audio.score_audio)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.benchmark.audio import score_audio

p = snakemake.params
score_audio(snakemake.input.recon, snakemake.input.test, settings=dict(p.settings), audio=dict(p.audio),
            out_dir=snakemake.output.scores, device=p.device, progress=True)
