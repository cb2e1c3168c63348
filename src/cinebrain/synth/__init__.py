"""A small but realistic synthetic CineBrain-like dataset (``cinebrain synth``), and the tiny models of the
synthetic world (:mod:`cinebrain.synth.models`).

See :func:`cinebrain.synth.dataset.generate` for what is written and how.  The names below are imported
when first used: Snakemake imports :mod:`cinebrain.synth.settings` at start-up, which must stay light.
"""

__all__ = ["SynthConfig", "generate"]


def __getattr__(name):
    if name == "generate":
        from .dataset import generate

        return generate
    if name == "SynthConfig":
        from .settings import SynthConfig

        return SynthConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
