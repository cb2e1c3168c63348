"""CineSync (CineBrain, seed 000): the Multi-Modal Fusion Encoder and the Neuro Latent Decoder.

- :mod:`.settings` — the ``methods.cinesync`` configuration section (:class:`Settings`);
- :mod:`.encoder` — the encoder model (fMRI and EEG transformers, fusion MLP, contrastive heads);
- :mod:`.decoder` — the decoder model (CogVideoX + peft LoRA on the brain feature);
- :mod:`.train` — the training tasks (rules ``cinesync_encoder`` and ``cinesync_decoder``);
- :mod:`.reconstruct` — loading a trained decoder and reconstructing the test clips;
- :mod:`.report` — the decoders' summary table and training figure.
"""

from .settings import Settings

__all__ = ["Settings"]
