"""Rule models_world_audio: the tiny Vocos and F5-TTS trained on the synthetic soundtrack, or copied from the
shipped world while it matches (cinebrain.synth.pretrain_audio)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from cinebrain.synth.pretrain_audio import shipped_audio_world, world_audio

p = snakemake.params
shipped = shipped_audio_world(snakemake.input.get("shipped"), p.world)
world_audio(snakemake.output.f5tts, snakemake.output.vocos, f5_steps=p.world["f5tts_pretrain_steps"],
            vocos_steps=p.world["vocoder_pretrain_steps"], clips=p.world["audio_world_clips"], progress=True,
            shipped=shipped)
