"""CineNeuron's video decoder: Wan2.1 with LoRA, conditioned on the Mixture-of-Memories' fused embedding
("Bridging Brain and Semantics", seed 001, section 3.2, eq. 9-10; section 4.1: Wan2.1-T2V-1.3B, LoRA
rank 16 with scaling 16).

- **The objective** (:func:`flow_matching_loss`): Wan is a rectified-flow model — the clean latents ``x0``
  and noise ``eps`` mixed as ``x_t = (1 - sigma) x0 + sigma eps``, the transformer (at timestep
  ``1000 sigma``) predicts the velocity ``eps - x0``; squared error averaged per clip, then over the batch.
  ``sigma`` is drawn uniformly and shifted as Wan's sampler shifts it (``flow_shift``: ``s u / (1 + (s - 1)
  u)``), so training sees the noise levels sampling visits.
- **The trainable model** (:class:`NeuronDecoder`): the Brain Model (from stage 1), the Mixture-of-Memories
  over the training clips' memory pool, and the Wan transformer with LoRA on its attention projections;
  they train jointly, as the paper's stage 2 does. Its loss (eq. 10, whose form our copy of the paper lost):
  the flow-matching loss plus ``stage1_weight`` x stage 1's loss, so the global token keeps its semantic
  alignment while the decoder learns (0: the diffusion loss only).
- The latents are read from the features stage (``features.wan_vae``), never re-encoded:
  :func:`check_wan_latents` refuses latents of another VAE.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: The attention projections of every Wan block (self- and cross-attention) that get LoRA.
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class DecoderError(ValueError):
    """A decoder that cannot be built from what it was given (its latents, its base model)."""


def shifted_sigmas(u, shift: float):
    """Wan's flow shift of noise levels ``u`` in [0, 1]: ``shift u / (1 + (shift - 1) u)`` (1: unchanged)."""
    return shift * u / (1 + (shift - 1) * u)


def flow_matching_loss(transformer, x0, cond, noise, sigma):
    """The rectified-flow loss of ``transformer`` (a WanTransformer3DModel) on clean latents ``x0``
    (B, C, F, H, W) with ``noise`` at noise levels ``sigma`` (B,), conditioned on ``cond`` (B, L, D)."""
    b = x0.shape[0]
    s = sigma.view(b, 1, 1, 1, 1).to(x0.dtype)
    xt = (1 - s) * x0 + s * noise
    dtype = transformer.dtype
    v = transformer(hidden_states=xt.to(dtype), timestep=sigma * 1000, encoder_hidden_states=cond.to(dtype),
                    return_dict=False)[0]  # fmt: skip
    return ((v.float() - (noise - x0)) ** 2).reshape(b, -1).mean(1).mean()


class NeuronDecoder(nn.Module):
    """Brain Model + Mixture-of-Memories + LoRA-tuned Wan transformer; ``forward(batch)`` returns the loss.

    ``pool``: the memory pool (its tensors are moved with the module's buffers' device on the first call);
    ``pool_rows``: the pool index of every training-set row (-1: not in the pool), so that a clip never
    retrieves itself in training; ``shift``, ``scale``: the latents' normalisation
    (:func:`cinebrain.features.latent_normalisation`)."""

    def __init__(self, brain, memory, transformer, pool, *, shift, scale, flow_shift: float = 3.0,
                 stage1_weight: float = 1.0, pool_rows=None):  # fmt: skip
        super().__init__()
        self.brain, self.memory, self.transformer, self.pool = brain, memory, transformer, pool
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32).reshape(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(1, -1, 1, 1, 1), persistent=False)
        self.flow_shift, self.stage1_weight = float(flow_shift), float(stage1_weight)
        rows = torch.as_tensor(pool_rows if pool_rows is not None else [], dtype=torch.long)
        self.register_buffer("pool_rows", rows, persistent=False)

    def _pool_on(self, device):
        if self.pool.text.device != device:
            for key in ("text", "image", "action", "condition"):
                setattr(self.pool, key, getattr(self.pool, key).to(device))
        return self.pool

    def condition(self, fmri, exclude=None) -> dict:
        """The Brain Model's outputs and the fused condition (and what was retrieved) for ``fmri``."""
        out = self.brain(fmri)
        return out | self.memory(out, self._pool_on(fmri.device), exclude)

    def forward(self, batch):
        mean, std = batch["latents_mean"].float(), batch["latents_std"].float()
        x0 = (mean + std * torch.randn_like(std) - self.shift) * self.scale
        exclude = self.pool_rows[batch["index"].to(self.pool_rows.device)] if len(self.pool_rows) else None
        out = self.condition(batch["fmri"], exclude)
        b = x0.shape[0]
        sigma = shifted_sigmas(torch.rand(b, device=x0.device), self.flow_shift)
        loss = flow_matching_loss(self.transformer, x0, out["condition"], torch.randn_like(x0), sigma)
        logs = {"diffusion": loss.detach(), "sigma": sigma.detach().mean()}
        if self.stage1_weight > 0:
            stage1, terms = self.brain.objectives(out, batch)
            loss = loss + self.stage1_weight * stage1
            logs |= {f"stage1_{k}": float(v) for k, v in terms.items()}
        w = out["weights"].detach().mean(0)
        logs |= {"router_text": float(w[0]), "router_image": float(w[1]), "router_action": float(w[2])}
        return loss, logs


def loss_fn(model, batch):
    """The Trainer's loss function (the Trainer runs it inside DDP's forward under torch.distributed)."""
    return model(batch)


def check_wan_latents(manifest, dataset_root, transformer_config, base: str | None = None, kind: str = "wan_latents"):
    """One clear error when a dataset's latents are not the Wan VAE's the decoder was built for: another
    VAE's (CogVideoX's), another channel count, or another model than ``base``'s VAE."""
    import os

    from ...features import read_features

    col = f"{kind}_file"
    if col not in manifest:
        raise DecoderError(f"{dataset_root}: no Wan latents ('{col}' not in the manifest); fix: set features.wan_vae.model "
                           "to the decoder's base pipeline and rebuild the dataset")  # fmt: skip
    for file in manifest[col].unique():
        path = Path(os.path.normpath(os.path.join(dataset_root, file)))
        tensors, meta = read_features(path)
        if meta.get("vae_class") != "AutoencoderKLWan":
            raise DecoderError(f"{path}: latents of a {meta.get('vae_class', 'AutoencoderKLCogVideoX')}, not of Wan's VAE; "
                               "fix: set features.wan_vae.model to the Wan pipeline and rebuild the dataset")  # fmt: skip
        channels = tensors["mean"].shape[1]
        if channels != transformer_config.in_channels:
            raise DecoderError(f"{path}: {channels}-channel latents, the Wan transformer takes "
                               f"{transformer_config.in_channels}; fix: the latents of the decoder's own VAE")  # fmt: skip
        if base is not None and os.path.normpath(str(meta.get("model"))) != os.path.normpath(str(base)):
            raise DecoderError(f"{path}: latents of {meta.get('model')}'s VAE, the decoder's base is {base}; fix: set "
                               f"features.wan_vae.model: {base} and rebuild the dataset")  # fmt: skip


def add_lora(transformer, *, rank: int = 16, alpha: float = 16.0, targets=LORA_TARGETS, dropout: float = 0.0):
    """peft LoRA on the attention projections of every Wan block (section 4.1: rank 16, scaling 16)."""
    from ...models.lora import add_lora as _add

    transformer.requires_grad_(False)
    return _add(transformer, rank=rank, alpha=alpha, targets=targets, dropout=dropout)


def save_lora(transformer, out_dir) -> Path:
    """The LoRA layers in diffusers' format (``pytorch_lora_weights.safetensors``, with their configuration),
    loadable with ``WanPipeline.load_lora_weights``."""
    from diffusers import WanPipeline
    from peft.utils import get_peft_model_state_dict

    from ...models.lora import lora_metadata

    out_dir = Path(out_dir)
    WanPipeline.save_lora_weights(out_dir, transformer_lora_layers=get_peft_model_state_dict(transformer),
                                  transformer_lora_adapter_metadata=lora_metadata(transformer))  # fmt: skip
    return out_dir / "pytorch_lora_weights.safetensors"


def load_wan(base: str, device="cpu", dtype=None):
    """A Wan text-to-video pipeline without its text encoder (the fused embedding replaces UMT5's)."""
    from diffusers import WanPipeline

    try:
        pipe = WanPipeline.from_pretrained(base, text_encoder=None, tokenizer=None, transformer_2=None,
                                           **({"torch_dtype": dtype} if dtype is not None else {}))  # fmt: skip
    except (OSError, ValueError) as e:
        raise DecoderError(f"{base}: not a Wan pipeline folder ({e}); fix: point the decoder's base at one "
                           "(e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers)") from e  # fmt: skip
    return pipe.to(device)


def caption_conditions(base: str, captions: list[str], tokens: int, *, device="cpu", batch_size: int = 16):
    """(N, tokens, text_dim) float16 CPU tensor: ``captions`` as the Wan pipeline ``base`` conditions on them
    (``encode_prompt`` through its own UMT5 encoder; Wan keeps each caption's tokens and zeroes the rest up
    to ``tokens``, 512 in Wan2.1) — the memory pool's text condition."""
    from diffusers import WanPipeline

    fix = "fix: the decoder's base must be a Wan pipeline folder with text_encoder/ and tokenizer/"
    try:
        pipe = WanPipeline.from_pretrained(base, transformer=None, vae=None, transformer_2=None)
    except (OSError, ValueError) as e:
        raise DecoderError(f"{base}: cannot load its text encoder ({e}); {fix}") from e
    if pipe.text_encoder is None or pipe.tokenizer is None:
        raise DecoderError(f"{base}: the pipeline has no text encoder; {fix}")
    pipe.text_encoder.to(device)
    out = []
    with torch.no_grad():
        for b in range(0, len(captions), batch_size):
            emb = pipe.encode_prompt(list(captions[b : b + batch_size]), do_classifier_free_guidance=False,
                                     max_sequence_length=tokens, device=device)[0]  # fmt: skip
            out.append(emb.to("cpu", torch.float16))
    return torch.cat(out)


def wan_transformer_config(base: str):
    """The Wan transformer's configuration of the pipeline ``base`` (attributes), read without its weights."""
    from types import SimpleNamespace

    from diffusers import WanTransformer3DModel

    try:
        return SimpleNamespace(**WanTransformer3DModel.load_config(base, subfolder="transformer"))
    except (OSError, ValueError) as e:
        raise DecoderError(f"{base}: no Wan transformer ({e}); fix: point the decoder's base at a Wan pipeline folder") from e


def decoder_info(base, transformer) -> dict:
    """What decoder.json records of the base model, so that an adapter is never applied to another one."""
    cfg = dict(transformer.config)
    keep = ("num_attention_heads", "attention_head_dim", "num_layers", "text_dim", "in_channels", "patch_size")
    return {"base": str(base), "transformer": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()
                                                if k in keep}}  # fmt: skip


__all__ = ["DecoderError", "LORA_TARGETS", "NeuronDecoder", "add_lora", "caption_conditions", "check_wan_latents",
           "decoder_info", "flow_matching_loss", "load_wan", "loss_fn", "save_lora", "shifted_sigmas",
           "wan_transformer_config"]  # fmt: skip
