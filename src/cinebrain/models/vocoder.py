"""Vocos (the ``vocos`` package): the mel of a 24-kHz waveform and the waveform of a mel.

CineSync's audio decoder generates Vocos mels (CineBrain, appendix A.2: "we use Vocos ... to obtain a
latent representation of the mel spectrogram"); Vocos's own feature extractor computes the training
targets, so they are exactly what its decoder inverts.

:func:`load_vocos` reads a hub id (``charactr/vocos-mel-24khz``, via ``Vocos.from_pretrained``) or a
local folder in the same layout (``config.yaml`` + ``pytorch_model.bin``), as F5-TTS's ``load_vocoder``
does for a local vocoder. The vocos package imports ``encodec`` (its EnCodec feature extractor) and
``huggingface_hub``; its training extras (pytorch-lightning, fairseq, ...) are not installed.
"""

from __future__ import annotations

from pathlib import Path

import torch


def load_vocos(name, device="cpu"):
    """A Vocos model from a local folder (config.yaml + pytorch_model.bin) or a hub id, in eval mode."""
    from vocos import Vocos

    folder = Path(str(name))
    if folder.is_dir():
        for f in ("config.yaml", "pytorch_model.bin"):
            if not (folder / f).exists():
                raise FileNotFoundError(f"{folder}: no {f}; fix: a Vocos folder as charactr/vocos-mel-24khz is laid "
                                        "out (config.yaml, pytorch_model.bin)")  # fmt: skip
        model = Vocos.from_hparams(str(folder / "config.yaml"))
        model.load_state_dict(torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True))
    else:
        model = Vocos.from_pretrained(str(name))
    return model.to(device).eval()


def mel_settings(vocos) -> dict:
    """The mel settings of a Vocos's feature extractor (sample rate, n_fft, hop, bands)."""
    fe = vocos.feature_extractor
    spec = fe.mel_spec
    return {"sample_rate": int(spec.sample_rate), "n_fft": int(spec.n_fft), "hop_length": int(spec.hop_length),
            "n_mels": int(spec.n_mels)}  # fmt: skip


def mel(vocos, audio) -> torch.Tensor:
    """Vocos's log-mel ``(B, n_mels, frames)`` of waveforms ``(B, samples)`` at its sample rate."""
    with torch.no_grad():
        return vocos.feature_extractor(torch.as_tensor(audio, dtype=torch.float32).to(_device(vocos)))


def vocode(vocos, mels, length: int | None = None) -> torch.Tensor:
    """Waveforms ``(B, samples)`` of log-mels ``(B, n_mels, frames)``, cut or zero-padded to ``length``."""
    with torch.no_grad():
        wave = vocos.decode(mels.to(device=_device(vocos), dtype=torch.float32))
    if length is not None:
        wave = torch.nn.functional.pad(wave, (0, max(0, length - wave.shape[-1])))[..., :length]
    return wave


def save_vocos(vocos, config: dict, folder) -> Path:
    """Write a Vocos as ``config.yaml`` + ``pytorch_model.bin`` (the layout :func:`load_vocos` reads)."""
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    torch.save({k: v.detach().clone() for k, v in vocos.state_dict().items()}, folder / "pytorch_model.bin")
    return folder


def vocos_config(*, sample_rate: int = 24000, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 100,
                 dim: int = 512, intermediate_dim: int = 1536, num_layers: int = 8) -> dict:  # fmt: skip
    """A mel Vocos's config.yaml (charactr/vocos-mel-24khz's values by default)."""
    return {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length,
                                            "n_mels": n_mels, "padding": "center"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": n_mels, "dim": dim, "intermediate_dim": intermediate_dim,
                                   "num_layers": num_layers}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": dim, "n_fft": n_fft, "hop_length": hop_length, "padding": "center"}},
    }  # fmt: skip


def _device(module) -> torch.device:
    return next(module.parameters()).device
