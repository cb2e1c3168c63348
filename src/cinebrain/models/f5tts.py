"""F5-TTS (the ``f5-tts`` package's DiT + conditional flow matching) with a brain feature in place of text.

CineSync's audio decoder (CineBrain, seed 000, section 4.3 and appendix A.2): F5-TTS-Base, LoRA on the
attention layers, the fused brain feature as the condition where F5-TTS reads its text, noise over the
whole 4-s mel segment (no audio prompt), trained by flow matching; Vocos turns the mel into a waveform
(:mod:`cinebrain.models.vocoder`).

- :func:`f5_classes` imports the package's ``CFM``, ``DiT`` and ``MelSpec`` from their own modules.
  ``f5_tts/model/__init__.py`` also imports the package's ``Trainer``, which imports ``wandb`` and
  ``datasets``; the project installs f5-tts without its dependencies (Makefile, envs/torch.post-deploy.sh)
  and names the ones the model code needs, so the package's ``__init__`` is bypassed (a package object
  whose ``__path__`` is the folder) and those two are never installed.
- :func:`load_f5tts` builds the model from an F5-TTS config (the package's ``configs/F5TTS_Base.yaml``
  layout) and loads a checkpoint as F5-TTS's inference code does (the EMA weights).
- :class:`BrainTextEmbedding` replaces the DiT's ``text_embed``: the brain tokens ``(B, T, C)`` are
  projected to the text width and stretched in time to the mel length (at the paper's sizes the
  fused feature's 376 tokens meet the 376 mel frames of a 4-s clip one to one). CFM's training loss is the package's own (``CFM.forward`` with the span
  mask set to the whole segment, ``frac_lengths_mask=(1, 1)``).
- :func:`sample` integrates the flow with the package's EPSS steps, sway sampling and CFG. ``CFM.sample``
  is not used because it derives the output length from an integer text tensor ``(B, nt)`` (``text !=
  -1``); a float brain tensor ``(B, T, C)`` breaks that arithmetic.

The mel is F5-TTS's ``vocos`` mel (24 kHz, n_fft 1,024, hop 256, 100 bands, log of the magnitude), the
input Vocos's ``charactr/vocos-mel-24khz`` was trained on.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def f5_classes():
    """``(CFM, DiT, MelSpec)`` of the installed f5-tts, without importing its trainer (see the module doc)."""
    import importlib.util
    import sys
    import types

    if "f5_tts.model" not in sys.modules:
        spec = importlib.util.find_spec("f5_tts")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("f5-tts is not installed; fix: make install (pip install --no-deps f5-tts==1.1.22, "
                              "see the Makefile)")  # fmt: skip
        package = types.ModuleType("f5_tts.model")
        package.__path__ = [os.path.join(p, "model") for p in spec.submodule_search_locations]
        package.__package__ = "f5_tts.model"
        sys.modules["f5_tts.model"] = package
    from f5_tts.model.backbones.dit import DiT
    from f5_tts.model.cfm import CFM
    from f5_tts.model.modules import MelSpec

    return CFM, DiT, MelSpec


def read_config(path) -> dict:
    """An F5-TTS config (YAML with ``model.arch`` and ``model.mel_spec``): a file, or the name of one of
    the package's configs (``F5TTS_Base``, ``F5TTS_v1_Base``, ...)."""
    import yaml

    path = str(path)
    if not path.endswith((".yaml", ".yml")):
        spec_dirs = [os.path.join(p, "configs") for p in (_f5_locations())]
        hits = [os.path.join(d, f"{path}.yaml") for d in spec_dirs if os.path.exists(os.path.join(d, f"{path}.yaml"))]
        if not hits:
            raise FileNotFoundError(f"F5-TTS config '{path}' is neither a YAML file nor one of the package's configs; "
                                    "fix: name a file or one of f5_tts/configs/*.yaml")  # fmt: skip
        path = hits[0]
    cfg = yaml.safe_load(Path(path).read_text())
    model = cfg.get("model", {}) if isinstance(cfg, dict) else {}
    if "arch" not in model or "mel_spec" not in model:
        raise ValueError(f"{path}: not an F5-TTS config (model.arch and model.mel_spec missing); fix: use the layout "
                         "of f5_tts/configs/F5TTS_Base.yaml")  # fmt: skip
    if model.get("backbone", "DiT") != "DiT":
        raise ValueError(f"{path}: backbone {model.get('backbone')} is not DiT (F5-TTS); fix: an F5-TTS config")
    return cfg


def _f5_locations() -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("f5_tts")
    return list(spec.submodule_search_locations) if spec else []


def checkpoint_file(folder) -> Path:
    """The checkpoint of an F5-TTS model folder (SWivid/F5-TTS's ``F5TTS_Base/model_1200000.safetensors``
    layout): the one ``model_*.safetensors`` (or ``.pt``), the highest step when there are several."""
    folder = Path(folder)
    found = sorted(glob.glob(str(folder / "model_*.safetensors"))) or sorted(glob.glob(str(folder / "model_*.pt")))
    if not found:
        raise FileNotFoundError(f"{folder}: no F5-TTS checkpoint (model_<step>.safetensors or .pt); fix: download "
                                "SWivid/F5-TTS's F5TTS_Base folder there")  # fmt: skip

    def step(p):
        tail = Path(p).stem.split("_")[-1]
        return int(tail) if tail.isdigit() else -1

    return Path(max(found, key=step))


def model_config(folder, config=None) -> dict:
    """The config of an F5-TTS folder: ``config`` (a file or a package config name) or the folder's YAML."""
    if config:
        return read_config(config)
    yamls = sorted(Path(folder).glob("*.yaml"))
    if len(yamls) != 1:
        raise FileNotFoundError(f"{folder}: expected one F5-TTS config YAML beside the checkpoint, found "
                                f"{len(yamls)}; fix: set the decoder's model.config (e.g. F5TTS_Base)")  # fmt: skip
    return read_config(yamls[0])


def build_cfm(cfg: dict, *, sigma: float = 0.0, cond_drop_prob: float = 0.2):
    """An untrained ``CFM(DiT)`` of the config, with the whole segment as the flow-matching span (the
    paper's "noise over the entire audio segment"), no audio prompt, and ``cond_drop_prob`` of the batches
    trained unconditionally (the null condition classifier-free guidance needs)."""
    CFM, DiT, _ = f5_classes()
    model = cfg["model"]
    arch = dict(model["arch"])
    mel = dict(model["mel_spec"])
    dit = DiT(**arch, text_num_embeds=_vocab_size(cfg), mel_dim=mel["n_mel_channels"])
    return CFM(transformer=dit, sigma=sigma, mel_spec_kwargs=mel, frac_lengths_mask=(1.0, 1.0), audio_drop_prob=0.0,
               cond_drop_prob=cond_drop_prob)  # fmt: skip


def _vocab_size(cfg: dict) -> int:
    # F5-TTS-Base's pinyin vocabulary has 2,545 entries; the number only sizes the (replaced) text table, and
    # must match the checkpoint's so that the checkpoint loads.
    return int(cfg["model"].get("text_num_embeds", 2545))


def load_f5tts(folder, config=None, device="cpu", dtype=None):
    """F5-TTS from a folder: the config (``config`` or the folder's YAML) and the EMA weights of its
    checkpoint, loaded as F5-TTS's inference code loads them (``ema_model.`` prefix removed, the mel
    filter buffers of old checkpoints dropped)."""
    cfg = model_config(folder, config)
    cfm = build_cfm(cfg)
    ckpt = checkpoint_file(folder)
    if ckpt.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(ckpt))
    else:
        raw = torch.load(ckpt, map_location="cpu", weights_only=True)
        state = raw.get("ema_model_state_dict", raw.get("model_state_dict", raw))
    state = {k.removeprefix("ema_model."): v for k, v in state.items() if k not in ("initted", "step")}
    for k in ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window"):
        state.pop(k, None)
    fix = "fix: the config the checkpoint was trained with (the decoder's model.config; null: the folder's YAML)"
    try:
        missing, unexpected = cfm.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensors of other shapes: another architecture
        first = str(e).split("\n")[1].strip() if "\n" in str(e) else str(e)
        raise ValueError(f"{ckpt}: does not fit the config's model ({first}); {fix}") from None
    if missing or unexpected:
        raise ValueError(f"{ckpt}: does not fit the config's model ({len(missing)} missing, {len(unexpected)} "
                         f"unexpected keys, e.g. {(missing or unexpected)[:3]}); {fix}")  # fmt: skip
    cfm.config = cfg
    return cfm.to(device=device, dtype=dtype or torch.float32).eval()


def save_f5tts(cfm, folder, step: int = 0) -> Path:
    """Write a CFM as an F5-TTS folder (config YAML + ``model_<step>.safetensors`` of EMA-prefixed weights),
    the layout :func:`load_f5tts` reads."""
    import yaml
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.yaml").write_text(yaml.safe_dump(cfm.config, sort_keys=False))
    state = {f"ema_model.{k}": v.detach().contiguous() for k, v in cfm.state_dict().items()
             if not k.startswith("mel_spec.")}  # fmt: skip
    save_file(state, str(folder / f"model_{step}.safetensors"))
    return folder


class BrainTextEmbedding(nn.Module):
    """Brain tokens ``(B, T, cond_dim)`` (or one vector ``(B, cond_dim)``) -> ``(B, seq_len, text_dim)``: a
    LayerNorm and a linear projection, then linear interpolation along time to the mel length; zeros when
    the condition is dropped (classifier-free guidance's null condition, as F5-TTS's filler text)."""

    def __init__(self, cond_dim: int, text_dim: int):
        super().__init__()
        self.cond_dim, self.text_dim = cond_dim, text_dim
        self.norm = nn.LayerNorm(cond_dim)
        self.proj = nn.Linear(cond_dim, text_dim)

    def forward(self, text, seq_len, drop_text: bool = False):
        n = int(seq_len.max().item()) if torch.is_tensor(seq_len) else int(seq_len)
        if text.ndim == 2:  # one vector per clip: the same condition at every frame
            text = text[:, None, :]
        x = self.proj(self.norm(text.to(self.proj.weight.dtype)))
        if x.shape[1] != n:
            x = F.interpolate(x.transpose(1, 2), size=n, mode="linear", align_corners=True).transpose(1, 2)
        if drop_text:
            x = torch.zeros_like(x)
        if torch.is_tensor(seq_len):
            valid = torch.arange(n, device=x.device)[None, :] < seq_len.to(x.device)[:, None]
            x = x.masked_fill(~valid[..., None], 0.0)
        return x


def condition_on_brain(cfm, cond_dim: int):
    """Replace the DiT's text embedding of ``cfm`` by a :class:`BrainTextEmbedding` (trainable) of the
    DiT's text width; returns the new module."""
    dit = cfm.transformer
    text_dim = dit.input_embed.proj.in_features - 2 * cfm.num_channels
    dit.text_embed = BrainTextEmbedding(cond_dim, text_dim).to(next(dit.parameters()).device)
    return dit.text_embed


def mel_frames(n_samples: int, hop_length: int) -> int:
    """Mel frames of ``n_samples`` (torch.stft with ``center=True``, Vocos's and F5-TTS's)."""
    return n_samples // hop_length + 1


def sample(cfm, brain, n_frames: int, *, steps: int = 32, cfg_strength: float = 2.0,
           sway_sampling_coef: float | None = -1.0, seed: int | None = None):  # fmt: skip
    """Mels ``(B, n_frames, n_mels)`` generated from brain tokens ``(B, T, C)`` (or, for a DiT that still has
    its text embedding, character ids ``(B, nt)``: then it equals ``CFM.sample`` without a prompt, tested) by integrating the learned
    flow from noise (Euler steps at F5-TTS's EPSS times when ``steps`` is one of its tables, else uniform;
    its sway sampling; CFG against the dropped condition), with no audio prompt. Every clip starts from
    the same noise (drawn from ``seed``), so outputs differ by their condition only and do not depend on
    the batching (the methods' contract: the shuffled-brain control is another clip's reconstruction)."""
    from f5_tts.model.utils import get_epss_timesteps
    from torchdiffeq import odeint

    dit = cfm.transformer
    dtype = next(dit.parameters()).dtype
    device = next(dit.parameters()).device
    brain = brain.to(device=device, dtype=dtype) if brain.is_floating_point() else brain.to(device)  # (or text ids)
    b = brain.shape[0]
    cond = torch.zeros(b, n_frames, cfm.num_channels, device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    y0 = torch.randn(n_frames, cfm.num_channels, generator=gen).expand(b, -1, -1).to(device=device, dtype=dtype)
    t = get_epss_timesteps(steps, device=device, dtype=dtype)
    if sway_sampling_coef is not None:
        t = t + sway_sampling_coef * (torch.cos(torch.pi / 2 * t) - 1 + t)

    def flow(time, x):
        if cfg_strength < 1e-5:
            return dit(x=x, cond=cond, text=brain, time=time, drop_audio_cond=True, drop_text=False, cache=True)
        both = dit(x=x, cond=cond, text=brain, time=time, cfg_infer=True, cache=True)
        pred, null = torch.chunk(both, 2, dim=0)
        return pred + (pred - null) * cfg_strength

    cfm.eval()
    try:
        with torch.no_grad():
            out = odeint(flow, y0, t, **cfm.odeint_kwargs)[-1]
    finally:
        dit.clear_cache()
    return out
