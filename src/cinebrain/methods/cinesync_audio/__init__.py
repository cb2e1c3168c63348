"""CineSync for audio (CineBrain, seed 000, sections 4.3 and 5.4, appendix A.2-A.3, Tab. B.1).

- :mod:`.settings` — the ``methods.cinesync_audio`` configuration section (:class:`Settings`);
- :mod:`.train` — the encoders: CineSync's Multi-Modal Fusion Encoder in its audio configuration,
  contrastive against the transcripts only (rule ``cinesync_audio_encoder``);
- :mod:`.decoder` — F5-TTS + LoRA on the fused brain feature (rule ``cinesync_audio_decoder``);
- :mod:`.reconstruct` — a waveform of every test clip through Vocos, the no-brain control, and the
  report's mel-spectrogram figure and playable clips (rule ``cinesync_audio_reconstruct``).

The audio benchmark (:mod:`cinebrain.benchmark.audio`) scores the reconstructions.
"""

from .settings import Settings

__all__ = ["Settings"]
