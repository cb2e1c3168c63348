"""CineSync's Neuro Latent Decoder (CineBrain, seed 000, sections 4.2 and 5.2): CogVideoX with LoRA,
conditioned on the fused brain feature; training (rule ``decoder_train``) and reconstruction (rule
``decoder_reconstruct``).

The fused brain feature of the encoder (:mod:`cinebrain.models.cinesync`, ``(n_tokens, cond_dim)``)
takes the place of CogVideoX's T5 text embeddings as the transformer's ``encoder_hidden_states``
(CogVideoX-5B: 226 x 4096); when the shapes differ a trainable :func:`brain_adapter` maps one to the
other.  peft LoRA adapters sit on the attention projections and feed-forward layers of every DiT block
(CineBrain: rank 128, alpha 64); the base transformer and the VAE stay frozen, and the pretrained
encoder is fine-tuned jointly (which parts train is ``DecoderConfig.train_parts``).

One training step, as diffusers' CogVideoX LoRA example trains (and the paper describes):

- a latent is drawn from the clip's VAE posterior (mean, std) cached by the features stage — videos are
  never re-encoded — and scaled by the VAE's scaling factor, laid out (B, F, C, H, W);
- a timestep is drawn uniformly from the scheduler's 1,000 training steps and the latent noised with
  the CogVideoX DPM scheduler (zero-terminal-SNR betas);
- the transformer predicts the velocity v; the loss is ``mean(w_t * (x0_hat - x0)^2)`` with
  ``x0_hat = sqrt(a_t) x_t - sqrt(1 - a_t) v_hat`` and CogVideoX's weight ``w_t = 1 / (1 - a_t)``, which
  equals the plain MSE of the predicted velocity;
- 3-D rotary position embeddings are computed for each batch's latent size, exactly as the pipeline
  computes them at sampling time;
- gradient checkpointing in the transformer, bf16 autocast on a GPU (:class:`cinebrain.train.Trainer`).

Only what was trained is saved: the LoRA layers in diffusers' format (``pytorch_lora_weights.safetensors``,
loadable with ``CogVideoXPipeline.load_lora_weights``) and the brain path (encoder backbones + fusion +
adapter, ``brain.safetensors``), plus ``decoder.json`` naming the base model and the signature of its
transformer, so that an adapter is never applied to a different base model.

Reconstruction runs ``CogVideoXPipeline`` with the brain feature as ``prompt_embeds`` and a zeroed brain
feature as the unconditional input of classifier-free guidance (as CineBrain's released code does), from
initial noise drawn per clip from the configured seed — optionally NeuroCine's dependent prior noise
(seed 003, eq. 7): ``eps_j = sqrt(beta) eps_s + sqrt(1 - beta) eps_j'``, a component ``eps_s`` shared by
all latent frames of a clip.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")
PARTS = ("lora", "encoder", "adapter")
ADAPTERS = ("auto", "linear", "none")
SCHEDULERS = ("CogVideoXDPMScheduler", "CogVideoXDDIMScheduler")
LORA_FILE = "pytorch_lora_weights.safetensors"  # diffusers' name: load_lora_weights finds it
BRAIN_FILE = "brain.safetensors"
CONFIG_FILE = "decoder.json"
# Encoder parameters that only serve the contrastive stage (class-token heads, the frame aggregator,
# the loss's temperature): they do not shape the fused feature, so they neither train nor get saved here.
_CONTRASTIVE_ONLY = ("heads.", "aggregate.", "logit_scale", "logit_bias")


class DecoderError(ValueError):
    """Bad input to the decoder: the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class DecoderConfig:
    """What the ``decoder.model`` section of the configuration sets (see config/config.yaml)."""

    base: str = "THUDM/CogVideoX-5b"
    lora_rank: int = 128
    lora_alpha: int = 64
    lora_targets: tuple = LORA_TARGETS
    lora_dropout: float = 0.0
    train_parts: tuple = PARTS
    adapter: str = "auto"
    gradient_checkpointing: bool = True
    base_dtype: str = "auto"
    noise_beta: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        object.__setattr__(self, "train_parts", tuple(self.train_parts))
        bad = set(self.train_parts) - set(PARTS)
        if bad:
            raise ValueError(f"decoder.model.train_parts: {sorted(bad)} not among {PARTS}")
        if self.adapter not in ADAPTERS:
            raise ValueError(f"decoder.model.adapter '{self.adapter}' is not one of {ADAPTERS}")
        if self.base_dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"decoder.model.base_dtype '{self.base_dtype}' is not auto, float32, bfloat16 or float16")
        if not 0.0 <= self.noise_beta < 1.0:
            raise ValueError(f"decoder.model.noise_beta {self.noise_beta} is not in [0, 1)")

    def dtype(self, device):
        if self.base_dtype == "auto":
            return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        return getattr(torch, self.base_dtype)


@dataclass(frozen=True)
class ReconstructSettings:
    """What the ``decoder.reconstruct`` section sets."""

    steps: int = 50
    guidance_scale: float = 6.0
    scheduler: str = "CogVideoXDPMScheduler"
    seed: int = 42
    noise_beta: float = 0.0
    batch_size: int = 1
    fps: float = 8.0
    figure_frames: int = 4

    def __post_init__(self):
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"decoder.reconstruct.scheduler '{self.scheduler}' is not one of {SCHEDULERS}")
        if not 0.0 <= self.noise_beta < 1.0:
            raise ValueError(f"decoder.reconstruct.noise_beta {self.noise_beta} is not in [0, 1)")


# --- base model ------------------------------------------------------------------------------------


def base_signature(transformer_config) -> str:
    """A hash of the base transformer's architecture (its config without diffusers' private keys)."""
    cfg = {k: v for k, v in dict(transformer_config).items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=list).encode()).hexdigest()[:16]


def load_base(base: str, *, parts=("transformer", "scheduler"), dtype=None, device="cpu") -> dict:
    """The frozen components of a CogVideoX pipeline folder or hub id (``transformer/``, ``vae/``,
    ``scheduler/`` as THUDM/CogVideoX-5b lays them out), loaded with ``from_pretrained``."""
    import diffusers

    out = {}
    for part in parts:
        try:
            if part == "transformer":
                m = diffusers.CogVideoXTransformer3DModel.from_pretrained(base, subfolder="transformer", torch_dtype=dtype)
            elif part == "vae":
                m = diffusers.AutoencoderKLCogVideoX.from_pretrained(base, subfolder="vae", torch_dtype=dtype)
            else:
                m = diffusers.CogVideoXDPMScheduler.from_pretrained(base, subfolder="scheduler")
        except OSError as e:
            raise DecoderError(f"{base}: no CogVideoX {part} (expected {base}/{part}/); fix: point decoder.model.base "
                               f"at a CogVideoX pipeline folder ({e})") from e  # fmt: skip
        if part != "scheduler":
            m = m.to(device).eval().requires_grad_(False)
        out[part] = m
    return out


def rotary_embeddings(transformer_config, latent_frames: int, latent_height: int, latent_width: int, device="cpu"):
    """CogVideoX's 3-D rotary position embeddings (cos, sin) for one latent size, computed as
    ``CogVideoXPipeline`` computes them at sampling time (1.0 models: the grid resized and centre-cropped
    to the base sample size; 1.5 models: sliced), so that training and sampling see the same positions.
    None for models with learned positional embeddings."""
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    c = transformer_config
    if not c.use_rotary_positional_embeddings:
        return None
    p, p_t = c.patch_size, c.patch_size_t
    grid = (latent_height // p, latent_width // p)
    base_h, base_w = c.sample_height // p, c.sample_width // p
    if p_t is None:
        crops = get_resize_crop_region_for_grid(grid, base_w, base_h)
        return get_3d_rotary_pos_embed(embed_dim=c.attention_head_dim, crops_coords=crops, grid_size=grid,
                                       temporal_size=latent_frames, device=device)  # fmt: skip
    return get_3d_rotary_pos_embed(embed_dim=c.attention_head_dim, crops_coords=None, grid_size=grid,
                                   temporal_size=(latent_frames + p_t - 1) // p_t, grid_type="slice",
                                   max_size=(base_h, base_w), device=device)  # fmt: skip


def dependent_noise(shape, beta: float, generator=None, device="cpu", dtype=None):
    """Gaussian noise (B, F, C, H, W) whose frames share a component with ratio ``beta`` (NeuroCine eq. 7);
    ``beta`` 0 is independent noise. Every entry stays N(0, 1)."""
    eps = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if beta <= 0:
        return eps
    shared = torch.randn((shape[0], 1, *shape[2:]), generator=generator, device=device, dtype=dtype)
    return math.sqrt(beta) * shared + math.sqrt(1 - beta) * eps


# --- the brain path --------------------------------------------------------------------------------


class LinearAdapter(nn.Module):
    """(B, n_in, d_in) -> (B, n_out, d_out): a linear map over the tokens (when their number differs) and
    one over the features."""

    def __init__(self, n_in: int, d_in: int, n_out: int, d_out: int):
        super().__init__()
        self.tokens = nn.Linear(n_in, n_out) if n_in != n_out else nn.Identity()
        self.features = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.features(self.tokens(x.transpose(1, 2)).transpose(1, 2))


def brain_adapter(n_in: int, d_in: int, n_out: int, d_out: int, kind: str = "auto", where: str = "") -> nn.Module:
    """The module from the fused feature (n_in tokens x d_in) to the transformer's text embeddings
    (n_out x d_out): none when they match (``auto``) or must match (``none``), else a LinearAdapter."""
    same = (n_in, d_in) == (n_out, d_out)
    if kind == "none" and not same:
        raise DecoderError(
            f"{where}: the encoder's fused brain feature is {n_in} tokens x {d_in} but the decoder's transformer "
            f"takes text embeddings of {n_out} tokens x {d_out} (max_text_seq_length, text_embed_dim); fix: set "
            "decoder.model.adapter: auto (a trainable linear adapter), or train the encoder with "
            f"encoder.model.n_tokens: {n_out} and cond_dim: {d_out}"
        )
    if kind == "linear" or not same:
        return LinearAdapter(n_in, d_in, n_out, d_out)
    return nn.Identity()


class Brain(nn.Module):
    """Encoder + adapter: a clip's brain windows -> the transformer's ``encoder_hidden_states``.

    The encoder's contrastive-only parameters (class-token heads, frame aggregator, temperature) do not
    shape the fused feature: they are frozen and not saved with the decoder."""

    def __init__(self, encoder: nn.Module, adapter: nn.Module):
        super().__init__()
        self.encoder, self.adapter = encoder, adapter
        for n, p in self.encoder.named_parameters():
            if n.startswith(_CONTRASTIVE_ONLY):
                p.requires_grad_(False)

    def forward(self, batch):
        return self.adapter(self.encoder(batch, fused=True)["fused"])

    @staticmethod
    def _saved(key: str) -> bool:
        return not key.removeprefix("encoder.").startswith(_CONTRASTIVE_ONLY)

    def state_to_save(self) -> dict:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if self._saved(k)}

    def load_saved(self, path) -> None:
        from safetensors.torch import load_file

        missing, unexpected = self.load_state_dict(load_file(str(path)), strict=False)
        if unexpected or any(self._saved(k) for k in missing):
            raise DecoderError(f"{path}: does not match the encoder and adapter that decoder.json describes (missing "
                               f"{missing[:3]}, unexpected {unexpected[:3]}); fix: retrain the decoder (rule decoder_train)")  # fmt: skip


# --- the trainable model ---------------------------------------------------------------------------


class NeuroLatentDecoder(nn.Module):
    """Brain path + LoRA-tuned CogVideoX transformer; ``forward(batch)`` returns the training loss."""

    def __init__(self, brain: Brain, transformer, scheduler, scaling_factor: float, noise_beta: float = 0.0):
        super().__init__()
        self.brain, self.transformer = brain, transformer
        self.scheduler = scheduler  # not a module: its tables follow the batch's device
        self.scaling_factor, self.noise_beta = float(scaling_factor), float(noise_beta)
        self._rope: dict = {}

    def rope(self, f: int, h: int, w: int, device):
        key = (f, h, w, str(device))
        if key not in self._rope:  # once per latent size and device
            self._rope[key] = rotary_embeddings(self.transformer.config, f, h, w, device=device)
        return self._rope[key]

    def forward(self, batch):
        mean, std = batch["latents_mean"].float(), batch["latents_std"].float()
        # a posterior sample, scaled, (B, C, F, H, W) -> (B, F, C, H, W) as the transformer takes it
        x0 = ((mean + std * torch.randn_like(std)) * self.scaling_factor).permute(0, 2, 1, 3, 4)
        b, f, _, h, w = x0.shape
        cond = self.brain(batch)
        noise = dependent_noise(x0.shape, self.noise_beta, device=x0.device, dtype=x0.dtype)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), device=x0.device)
        xt = self.scheduler.add_noise(x0, noise, t)
        dtype = self.transformer.dtype
        v = self.transformer(hidden_states=xt.to(dtype), encoder_hidden_states=cond.to(dtype), timestep=t,
                             image_rotary_emb=self.rope(f, h, w, x0.device), return_dict=False)[0]  # fmt: skip
        x0_hat = self.scheduler.get_velocity(v.float(), xt, t)  # sqrt(a) x_t - sqrt(1 - a) v
        a = self.scheduler.alphas_cumprod.to(x0.device)[t].float()
        weight = (1 / (1 - a)).view(b, 1, 1, 1, 1)
        loss = (weight * (x0_hat - x0) ** 2).reshape(b, -1).mean(1).mean()
        return loss, {"timestep": float(t.float().mean())}


def loss_fn(model, batch):
    """The Trainer's loss function (works on the model or its DDP wrapper)."""
    return model(batch)


def add_lora(transformer, cfg: DecoderConfig):
    """peft LoRA layers on ``cfg.lora_targets`` of every DiT block; trainable in float32."""
    from peft import LoraConfig

    transformer.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                       init_lora_weights=True, target_modules=list(cfg.lora_targets)))  # fmt: skip
    train = "lora" in cfg.train_parts
    for n, p in transformer.named_parameters():
        if "lora_" in n:
            p.requires_grad_(train)
            if train:
                p.data = p.data.float()  # optimiser state and updates in fp32 over a bf16 base
    return transformer


def build_decoder(cfg: DecoderConfig, encoder_dir, *, device="cpu", fmri_columns: int | None = None):
    """The trainable model: the encoder of ``encoder_dir`` (config.json + model.safetensors), the adapter
    when needed, the base transformer with LoRA, and the scheduler. Returns (model, info)."""
    from safetensors.torch import load_file

    from .cinesync import CineSyncEncoder

    encoder_dir = Path(encoder_dir)
    enc_cfg = _encoder_config(encoder_dir / "config.json")
    if fmri_columns is not None and "fmri" in enc_cfg.modalities and enc_cfg.fmri_shape[1] != fmri_columns:
        raise DecoderError(f"{encoder_dir / 'config.json'}: the encoder takes {enc_cfg.fmri_shape[1]} fMRI columns but "
                           f"the dataset gives {fmri_columns}; fix: use the same encoder.roi_sets for both stages "
                           "(and retrain the encoder)")  # fmt: skip
    encoder = CineSyncEncoder(enc_cfg)
    encoder.load_state_dict(load_file(str(encoder_dir / "model.safetensors")))
    base = load_base(cfg.base, dtype=cfg.dtype(device), device=device)
    tc = base["transformer"].config
    adapter = brain_adapter(enc_cfg.n_tokens, enc_cfg.cond_dim, tc.max_text_seq_length, tc.text_embed_dim, cfg.adapter,
                            where=f"{encoder_dir / 'config.json'} vs {cfg.base}/transformer/config.json")  # fmt: skip
    adapter.requires_grad_("adapter" in cfg.train_parts)
    if "encoder" not in cfg.train_parts:
        encoder.requires_grad_(False)
    brain = Brain(encoder, adapter)
    transformer = add_lora(base["transformer"], cfg)
    if cfg.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    scaling = _vae_scaling_factor(cfg.base)
    model = NeuroLatentDecoder(brain, transformer, base["scheduler"], scaling, cfg.noise_beta).to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # the signature of the configuration file (as load_decoder checks it), not of the loaded model's config,
    # which may hold defaults the file of an older diffusers does not
    info = {"encoder": enc_cfg.to_dict(), "base_signature": base_signature(vars(_transformer_config(cfg.base))),
            "scaling_factor": scaling, "text_shape": [tc.max_text_seq_length, tc.text_embed_dim],
            "trainable_parameters": int(trainable),
            "adapter": type(adapter).__name__}  # fmt: skip
    return model, info


def _encoder_config(path, key: str = "model"):
    """The CineSyncConfig in an encoder's config.json (key ``model``) or a decoder.json (key ``encoder``)."""
    from .cinesync import CineSyncConfig

    path = Path(path)
    if not path.exists():
        raise DecoderError(f"{path}: no encoder configuration; fix: train the encoder first (rule encoder_train)")
    cfg = json.loads(path.read_text())[key]
    return CineSyncConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})


def _transformer_config(base):
    """The base transformer's config.json as attributes (without loading its weights)."""
    from types import SimpleNamespace

    from diffusers import CogVideoXTransformer3DModel

    try:
        return SimpleNamespace(**CogVideoXTransformer3DModel.load_config(base, subfolder="transformer"))
    except OSError as e:
        raise DecoderError(f"{base}: no CogVideoX transformer/config.json; fix: point decoder.model.base at a "
                           f"CogVideoX pipeline folder ({e})") from e  # fmt: skip


def _vae_scaling_factor(base) -> float:
    """The VAE's scaling factor from ``vae/config.json`` (the VAE itself is not needed for training)."""
    from diffusers import AutoencoderKLCogVideoX

    try:
        return float(AutoencoderKLCogVideoX.load_config(base, subfolder="vae")["scaling_factor"])
    except OSError as e:
        raise DecoderError(f"{base}: no CogVideoX vae/config.json; fix: point decoder.model.base at a CogVideoX "
                           f"pipeline folder ({e})") from e  # fmt: skip


def check_latents(dataset, transformer_config=None) -> None:
    """Every clip of a ClipDataset has its VAE latents where the manifest says (features stage), of a size
    the transformer takes; else one DecoderError naming the file, the clip and the fix."""
    from safetensors import safe_open

    man = dataset.manifest
    if "latents_file" not in man:
        raise DecoderError(f"{dataset.root / 'manifest.parquet'}: the dataset has no latents; fix: enable the "
                           "features stage's vae and rebuild the dataset (rule data_build)")  # fmt: skip
    for file, rows in man.groupby("latents_file", sort=False):
        path = dataset.base / file
        if not path.exists():
            raise DecoderError(f"{path}: missing latents of {len(rows)} clips ({rows['clip'].iloc[0]}, ...); fix: "
                               f"run rule features_latents for episode {rows['episode'].iloc[0]}")  # fmt: skip
        with safe_open(str(path), framework="numpy") as f:
            clips = json.loads((f.metadata() or {}).get("clips", "[]"))
            shape = f.get_slice("mean").get_shape()
        for clip, row in zip(rows["clip"], rows["latents_row"], strict=True):
            if int(row) >= len(clips) or clips[int(row)] != clip or int(row) >= shape[0]:
                raise DecoderError(f"{path}: no latents for clip {clip} (row {int(row)}); fix: rerun rule "
                                   f"features_latents for episode {rows['episode'].iloc[0]} and then data_build")  # fmt: skip
        if transformer_config is not None:
            c, p = transformer_config, transformer_config.patch_size
            if shape[1] != c.in_channels or shape[3] % p or shape[4] % p:
                raise DecoderError(f"{path}: latents of shape {tuple(shape[1:])} (C, F, H, W) do not fit the decoder's "
                                   f"transformer ({c.in_channels} channels, patch {p}); fix: encode the latents with "
                                   "the VAE of decoder.model.base (features.vae) at a clip size the patch divides")  # fmt: skip


# --- training --------------------------------------------------------------------------------------


def train_decoder(*, variant: str, train_dir, encoder_dir, model: dict, train: dict, out_dir, device: str = "auto",
                  progress: bool = True, roi_sets=None, roi_columns=None) -> dict:  # fmt: skip
    """Rule ``decoder_train``'s task: fine-tune LoRA (+ encoder, adapter) on one subject's training split.

    Writes ``pytorch_lora_weights.safetensors``, ``brain.safetensors``, ``decoder.json`` and
    ``metrics.csv`` (the training curve) to ``out_dir``; resumes from ``out_dir/checkpoint.pt``."""
    from diffusers import CogVideoXPipeline
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    from ..data import ClipDataset
    from ..train import Trainer, TrainSettings
    from ..train.distributed import setup
    from .encoder import _device, _fingerprint, _roi_columns

    cfg = DecoderConfig(**model)
    state = setup()
    out_dir, dev = Path(out_dir), _device(device, state)
    enc_cfg = _encoder_config(Path(encoder_dir) / "config.json")
    columns = _roi_columns(roi_sets, roi_columns, train_dir) if "fmri" in enc_cfg.modalities else None
    ds = ClipDataset(train_dir, modalities=enc_cfg.modalities, targets=("latents",), fmri_columns=columns)
    n_columns = len(columns) if columns is not None else ds.info["fmri"]["Shape"][-1]
    check_latents(ds, _transformer_config(cfg.base))  # before loading any weights
    torch.manual_seed(int(train.get("seed", 0)))
    net, info = build_decoder(cfg, encoder_dir, device=dev, fmri_columns=n_columns)
    settings = TrainSettings(**{**train, "betas": tuple(train.get("betas", (0.9, 0.999)))})
    enc_file = Path(encoder_dir) / "model.safetensors"
    fingerprint = hashlib.sha256(f"{_fingerprint(train_dir)} {enc_file.stat().st_size} {enc_file.stat().st_mtime_ns} "
                                 f"{info['base_signature']} {variant}".encode()).hexdigest()  # fmt: skip
    trainer = Trainer(net, loss_fn, ds, settings, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=fingerprint)  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    tr = net.transformer
    # the LoRA configuration (rank, alpha, targets) travels with the weights: without it load_lora_weights
    # guesses alpha = rank and the outputs differ.  peft keeps target_modules as a set, whose order changes
    # from process to process: sorted, so that the same training writes the same file.
    lora_config = tr.peft_config["default"].to_dict()
    if isinstance(lora_config.get("target_modules"), (set, list, tuple)):
        lora_config["target_modules"] = sorted(lora_config["target_modules"])
    CogVideoXPipeline.save_lora_weights(
        out_dir, transformer_lora_layers=get_peft_model_state_dict(tr),
        transformer_lora_adapter_metadata=lora_config, safe_serialization=True,
    )  # fmt: skip
    save_file(net.brain.state_to_save(), str(out_dir / BRAIN_FILE))
    import pandas as pd

    curve = pd.read_csv(trainer.metrics_path)
    meta = {"variant": variant, "subject": ds.info.get("Subject"), "base": cfg.base, "decoder": asdict(cfg),
            "train": {**train}, "train_clips": len(ds), "modalities": list(enc_cfg.modalities),
            "fmri_columns": None if columns is None else [int(c) for c in columns],
            "roi_sets": list(roi_sets) if roi_sets else None, "final_loss": float(curve["loss"].iloc[-1]),
            **info}  # fmt: skip
    (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=1, default=list))
    trainer.checkpoint_path.unlink(missing_ok=True)
    return meta


# --- loading and reconstruction --------------------------------------------------------------------


def load_decoder(decoder_dir, *, device="cpu", base: str | None = None, dtype=None):
    """(pipeline, brain module, decoder.json) of a trained decoder: the base CogVideoX pipeline (from
    ``decoder.json``'s base, or ``base``) with the LoRA adapter loaded through ``load_lora_weights``."""
    from diffusers import CogVideoXPipeline

    from .cinesync import CineSyncEncoder

    decoder_dir = Path(decoder_dir)
    cfg_path = decoder_dir / CONFIG_FILE
    if not cfg_path.exists():
        raise DecoderError(f"{cfg_path}: no decoder here; fix: train it first (rule decoder_train)")
    meta = json.loads(cfg_path.read_text())
    base = base or meta["base"]
    dcfg = DecoderConfig(**{**meta["decoder"], "base": base})
    sig = base_signature(vars(_transformer_config(base)))
    if sig != meta["base_signature"]:
        raise DecoderError(f"{decoder_dir / LORA_FILE}: this adapter was trained for base model {meta['base']} "
                           f"(transformer signature {meta['base_signature']}), not for {base} (signature {sig}); fix: "
                           "set decoder.model.base to the model it was trained on, or retrain the decoder")  # fmt: skip
    parts = load_base(base, parts=("transformer", "vae", "scheduler"), dtype=dtype or dcfg.dtype(device), device=device)
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=parts["vae"], transformer=parts["transformer"],
                             scheduler=parts["scheduler"])  # fmt: skip
    pipe.load_lora_weights(str(decoder_dir), weight_name=LORA_FILE)
    enc = _encoder_config(cfg_path, key="encoder")
    tc = parts["transformer"].config
    adapter = brain_adapter(enc.n_tokens, enc.cond_dim, tc.max_text_seq_length, tc.text_embed_dim, dcfg.adapter,
                            where=str(cfg_path))  # fmt: skip
    brain = Brain(CineSyncEncoder(enc), adapter)
    brain.load_saved(decoder_dir / BRAIN_FILE)
    return pipe, brain.to(device).eval(), meta


def reconstruct(*, decoder_dir, test_dir, out_dir, settings: dict, figure=None, device: str = "auto",
                progress: bool = True) -> dict:  # fmt: skip
    """Rule ``decoder_reconstruct``'s task: a video for every clip of a test split.

    ``out_dir/<clip>.mp4`` at ``settings.fps`` and the ground truth's frame count and size, and
    ``out_dir/reconstructions.parquet`` (clip, episode, scene-cut flag, reconstruction, ground truth); the
    folder appears complete or not at all.  ``figure``: a PNG of every clip's ground truth beside its
    reconstruction (``figure_frames`` frames each)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ..atomic import atomic_dir
    from ..data import ClipDataset
    from ..stimuli import read_video, sample_frames, write_video
    from .encoder import _device

    rs = ReconstructSettings(**settings)
    out_dir, dev = Path(out_dir), _device(device)
    pipe, brain, meta = load_decoder(decoder_dir, device=dev)
    import diffusers

    pipe.scheduler = getattr(diffusers, rs.scheduler).from_config(pipe.scheduler.config)
    ds = ClipDataset(test_dir, modalities=tuple(meta["modalities"]), fmri_columns=meta["fmri_columns"])
    man = ds.manifest
    first = read_video(ds.base / man["video"].iloc[0])
    n_frames, height, width = first.shape[:3]
    sf, tf = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
    px = sf * pipe.transformer.config.patch_size  # pixels per transformer patch
    if height % px or width % px or (n_frames - 1) % tf:
        raise DecoderError(f"{ds.base / man['video'].iloc[0]}: clips of {n_frames} frames at {height} x {width} cannot be "
                           f"generated (frames must be 1 + {tf}k, sizes multiples of {px}); fix: set stimuli.frames / "
                           "height / width accordingly")  # fmt: skip
    c = pipe.transformer.config.in_channels
    shape = (1, (n_frames - 1) // tf + 1, c, height // sf, width // sf)
    rows, shown = [], []
    with atomic_dir(out_dir) as tmp:
        for b in tqdm(range(0, len(ds), rs.batch_size), desc="reconstruct", disable=not progress):
            idx = list(range(b, min(b + rs.batch_size, len(ds))))
            batch = torch.utils.data.default_collate([ds[i] for i in idx])
            with torch.no_grad():
                cond = brain({k: v.to(dev) if hasattr(v, "to") else v for k, v in batch.items()})
            cond = cond.to(pipe.transformer.dtype)
            # one generator per clip, seeded alike: every clip starts from the same initial noise and the
            # sampler's own noise (the DPM sampler is stochastic) is the same, so reconstructions differ by
            # their brain feature only and do not depend on the batching
            gens = [torch.Generator().manual_seed(rs.seed) for _ in idx]
            noise = torch.cat([dependent_noise(shape, rs.noise_beta, g) for g in gens]).to(dev, pipe.transformer.dtype)
            video = pipe(prompt_embeds=cond, negative_prompt_embeds=torch.zeros_like(cond), num_frames=n_frames,
                         height=height, width=width, num_inference_steps=rs.steps, guidance_scale=rs.guidance_scale,
                         latents=noise, generator=gens, output_type="np").frames  # fmt: skip
            for i, v in zip(idx, video, strict=True):
                clip = man["clip"].iloc[i]
                frames = (np.clip(v, 0, 1) * 255).round().astype(np.uint8)
                write_video(tmp / f"{clip}.mp4", frames, rs.fps)
                rows.append({"clip": clip, "episode": man["episode"].iloc[i], "has_cut": bool(man["has_cut"].iloc[i]),
                             "video": str(out_dir / f"{clip}.mp4"), "ground_truth": man["video"].iloc[i]})  # fmt: skip
                if figure is not None:  # only the frames the figure shows: a full test set does not fit twice
                    gt = sample_frames(read_video(ds.base / man["video"].iloc[i]), rs.figure_frames)
                    shown.append((clip, gt, sample_frames(frames, rs.figure_frames)))
        pd.DataFrame(rows).to_parquet(tmp / "reconstructions.parquet")
        if figure is not None:
            from ..report import plot_reconstructions

            plot_reconstructions(shown, figure, n_frames=rs.figure_frames,
                                 title=f"{meta['variant']} sub-{meta['subject']}: ground truth | reconstruction")  # fmt: skip
    return {"clips": len(rows), "frames": int(n_frames), "height": int(height), "width": int(width)}
