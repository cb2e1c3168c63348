"""A small but realistic synthetic CineBrain-like dataset (``cinebrain synth``).

See :func:`cinebrain.synth.dataset.generate` for what is written and how.
"""

from .dataset import SynthConfig, generate

__all__ = ["SynthConfig", "generate"]
