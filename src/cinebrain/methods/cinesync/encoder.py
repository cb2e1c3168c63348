"""CineSync's Multi-Modal Fusion Encoder (CineBrain, seed 000, section 4.1).

Two ViT-style transformers, one per modality, each with a class token:

- fMRI: the (5, V) window is cut into ``n_tokens`` (226) spatial tokens, each the 5 volumes of a run of
  ``ceil(V / 226)`` consecutive ROI columns (zero-padded at the end), linearly embedded;
- EEG: the (64, T) window (T = 4,000 samples) is standardised per channel and cut into ``n_tokens``
  time patches of ``ceil(T / 226)`` samples of all channels, linearly embedded.

A fusion MLP maps the concatenated token sequences (position by position) to the fused brain feature
``(n_tokens, cond_dim)`` that the decoder takes in place of its text embeddings (CogVideoX-5B:
226 x 4096).  The class tokens are projected to the space of the frozen targets and aligned, with the
CLIP (InfoNCE) or SigLIP loss, to the clip's video embedding — its frame embeddings aggregated by a
trainable attention-pooling module — and to a caption's text embedding; optionally the EEG and fMRI
class embeddings are aligned with each other.  Variants: ``cinesync`` (both modalities),
``cinesync_fmri`` and ``cinesync_eeg`` (the paper's ablations).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...models.losses import clip_loss, siglip_loss
from .settings import VARIANTS, CineSyncConfig

__all__ = ["VARIANTS", "CineSyncConfig", "CineSyncEncoder", "loss_fn"]

class PatchTokens(nn.Module):
    """(B, C, L) -> (B, n_tokens, width): L cut into n_tokens patches of ceil(L / n_tokens), C x patch values each."""

    def __init__(self, channels: int, length: int, n_tokens: int, width: int):
        super().__init__()
        self.n_tokens, self.patch = n_tokens, math.ceil(length / n_tokens)
        self.pad = self.patch * n_tokens - length
        self.embed = nn.Linear(channels * self.patch, width)

    def forward(self, x):
        x = nn.functional.pad(x, (0, self.pad))
        b, c, _ = x.shape
        x = x.reshape(b, c, self.n_tokens, self.patch).permute(0, 2, 1, 3).reshape(b, self.n_tokens, c * self.patch)
        return self.embed(x)


class ViT(nn.Module):
    """Class token + learned positions + pre-norm transformer encoder."""

    def __init__(self, channels: int, length: int, cfg: CineSyncConfig):
        super().__init__()
        self.tokens = PatchTokens(channels, length, cfg.n_tokens, cfg.width)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos = nn.Parameter(torch.randn(1, cfg.n_tokens + 1, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, int(cfg.width * cfg.mlp_ratio), cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, x):
        t = self.tokens(x)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1) + self.pos
        return self.norm(self.encoder(t))  # (B, 1 + n_tokens, width); [:, 0] is the class token


class FrameAggregator(nn.Module):
    """Trainable attention pooling of per-frame embeddings (B, F, D) into one video embedding (B, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, frames):
        w = self.score(frames).softmax(dim=1)
        pooled = (w * frames).sum(1)
        return pooled + self.out(pooled)  # starts as attention pooling of the frozen embeddings


class CineSyncEncoder(nn.Module):
    def __init__(self, cfg: CineSyncConfig):
        super().__init__()
        self.cfg = cfg
        mods = cfg.modalities
        self.backbones = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        for m in mods:
            c, length = cfg.fmri_shape if m == "fmri" else cfg.eeg_shape
            self.backbones[m] = ViT(c, length, cfg)
            self.heads[m] = nn.Linear(cfg.width, cfg.embed_dim)
        self.fusion = nn.Sequential(nn.LayerNorm(len(mods) * cfg.width), nn.Linear(len(mods) * cfg.width, cfg.cond_dim),
                                    nn.GELU(), nn.Linear(cfg.cond_dim, cfg.cond_dim))  # fmt: skip
        self.aggregate = FrameAggregator(cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0 if cfg.loss == "siglip" else 1 / 0.07)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0)) if cfg.loss == "siglip" else None

    @staticmethod
    def _eeg_input(x):
        # One scale per clip, not per channel: per-channel standardisation would erase the relative
        # amplitudes across the scalp (the topography of a response) and each channel's slow potential.
        return x / (x.flatten(1).std(-1)[:, None, None] + 1e-12)

    def forward(self, batch: dict, fused: bool = True) -> dict:
        """``batch``: fmri (B, 5, V) and/or eeg (B, 64, T) -> normalised class embeddings and (``fused``) the
        fused brain feature; the contrastive stage does not use the latter, so its loss skips it."""
        F = nn.functional
        out, seqs, zs = {}, [], []
        for m in self.cfg.modalities:
            x = batch[m].float()
            tok = self.backbones[m](self._eeg_input(x) if m == "eeg" else x)
            seqs.append(tok[:, 1:])
            z = F.normalize(self.heads[m](tok[:, 0]), dim=-1)
            out[f"z_{m}"] = z
            zs.append(z)
        # The brain embedding: the mean of the modalities' aligned embeddings, so that each contributes
        # what it knows (on the demo data a joint head on the concatenated class tokens did worse).
        out["z"] = F.normalize(torch.stack(zs).mean(0), dim=-1)
        if fused:
            out["fused"] = self.fusion(torch.cat(seqs, -1))  # (B, n_tokens, cond_dim)
        return out

    def video_embedding(self, frames):
        return nn.functional.normalize(self.aggregate(frames.float()), dim=-1)

    def pair_loss(self, a, b):
        if self.cfg.loss == "siglip":
            return siglip_loss(a, b, self.logit_scale, self.logit_bias)
        return clip_loss(a, b, self.logit_scale)

    def loss(self, batch: dict) -> tuple:
        """Contrastive loss of every modality's class embedding against video and text (+ EEG-fMRI)."""
        F = nn.functional
        out = self(batch, fused=False)
        targets = {}
        if "video" in self.cfg.targets:
            targets["video"] = self.video_embedding(batch["frames"])
        if "text" in self.cfg.targets:
            targets["text"] = F.normalize(batch["text"].float(), dim=-1)
        logs, total = {}, 0.0
        for m in self.cfg.modalities:
            for name, target in targets.items():
                pair = self.pair_loss(out[f"z_{m}"], target)
                logs[f"{m}_{name}"] = pair.detach()
                total = total + pair
        if self.cfg.align_modalities and len(self.cfg.modalities) == 2:
            la = self.pair_loss(out["z_fmri"], out["z_eeg"])
            logs["fmri_eeg"] = la.detach()
            total = total + self.cfg.align_modalities * la
        return total, logs


def loss_fn(model, batch):
    """The Trainer's loss function (the Trainer runs it inside DDP's forward under torch.distributed)."""
    return model.loss(batch)
