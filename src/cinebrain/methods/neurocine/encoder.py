"""NeuroCine's phase 1: the fMRI encoder and its contrastive objective (seed 003, sections 3.1.1-3.1.3, 4.3).

:class:`FmriEncoder` is a ViT over voxel patches: each volume of the window is cut into ``patch``-voxel
patches (the last one zero-padded), each patch embedded, with learned positions per volume and per patch,
through ``depth`` pre-norm transformer layers (torch's ``TransformerEncoderLayer``). Its mean token is
projected to CLIP space (``embed``); a head maps the tokens to Stable Diffusion's condition (tokens x width:
a linear map over the tokens, then one over the features — 4.3's "projection head ... into 77 x 768").

:func:`phase1_loss` is eq. 2-3: ``mu_spa InfoNCE(E(v), E(v_spa)) + mu_tem InfoNCE(E(v), E(v_tem)) +
InfoNCE(E(v), e_txt) + InfoNCE(E(v), e_img)``, the views made by :mod:`cinebrain.models.augment`'s spatial
masking and temporal interpolation (our copy of eq. 2 pairs L_spa with the temporal view and L_tem with the
spatial one — a transposition, we read each loss as its own view's). :func:`sliding_windows` cuts the clip's
lagged volumes into windows of ``window`` volumes (3.1.1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sliding_windows(fmri, window: int | None):
    """(B, T, V) -> (B, S, w, V): every window of ``window`` consecutive volumes (S = T - w + 1); the whole
    clip's volumes when ``window`` is None."""
    t = fmri.shape[1]
    w = t if window is None else int(window)
    if w > t:
        raise ValueError(f"an encoder window of {w} volumes; the clips have {t}; fix: methods.neurocine.encoder.model."
                         f"window at most {t}")  # fmt: skip
    return fmri.unfold(1, w, 1).permute(0, 1, 3, 2)


class FmriEncoder(nn.Module):
    """fMRI window (B, w, V) -> tokens (B, w * P, width), CLIP embedding (B, D) and SD condition (B, L, W)."""

    def __init__(self, window: int, n_voxels: int, embed_dim: int, cond_shape, *, patch: int = 16, width: int = 1024,
                 depth: int = 24, heads: int = 16, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 temperature: float = 0.07):  # fmt: skip
        super().__init__()
        self.window, self.n_voxels, self.patch = int(window), int(n_voxels), int(patch)
        self.n_patches = math.ceil(n_voxels / patch)
        self.cond_shape = tuple(cond_shape)
        self.patch_embed = nn.Linear(patch, width)
        self.volume_pos = nn.Parameter(torch.randn(self.window, 1, width) * 0.02)
        self.patch_pos = nn.Parameter(torch.randn(1, self.n_patches, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, int(width * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.to_clip = nn.Linear(width, embed_dim)
        self.cond_tokens = nn.Linear(self.window * self.n_patches, self.cond_shape[0])
        self.cond_features = nn.Linear(width, self.cond_shape[1])
        self.temperature = float(temperature)

    def tokens(self, fmri):
        b, w, v = fmri.shape
        if w != self.window or v != self.n_voxels:
            raise ValueError(f"fMRI windows of {w} x {v}; the encoder was built for {self.window} volumes of "
                             f"{self.n_voxels} columns")  # fmt: skip
        x = F.pad(fmri, (0, self.n_patches * self.patch - v)).view(b, w, self.n_patches, self.patch)
        x = self.patch_embed(x) + self.volume_pos + self.patch_pos
        return self.norm(self.blocks(x.reshape(b, w * self.n_patches, -1)))

    def forward(self, fmri):
        """(CLIP embedding (B, D), SD condition (B, L, W)) of fMRI windows (B, w, V)."""
        t = self.tokens(fmri)
        cond = self.cond_features(self.cond_tokens(t.transpose(1, 2)).transpose(1, 2))
        return self.to_clip(t.mean(1)), cond

    def embed(self, fmri):
        return self(fmri)[0]


def info_nce(a, b, temperature: float):
    """Symmetric InfoNCE of paired rows (cosine similarity / temperature): the paper's L_CE."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def phase1_loss(encoder, fmri, text, image, *, augment, generator=None):
    """Eq. 2-3 on one batch of windows (B, w, V) with the clips' CLIP text and image embeddings (B, D);
    ``augment``: :class:`.settings.EncoderAugment`. Returns (loss, {term: value})."""
    from ...models.augment import spatial_mask, temporal_interpolation

    tau = encoder.temperature
    e = encoder.embed(fmri)
    logs = {}
    loss = info_nce(e, text, tau) + info_nce(e, image, tau)
    logs["embedding"] = loss.detach()
    if augment.mu_spa:
        l_spa = info_nce(e, encoder.embed(spatial_mask(fmri, augment.spatial_mask, generator)), tau)
        loss = loss + augment.mu_spa * l_spa
        logs["spatial"] = l_spa.detach()
    if augment.mu_tem:
        l_tem = info_nce(e, encoder.embed(temporal_interpolation(fmri, augment.temporal_interpolation, generator)), tau)
        loss = loss + augment.mu_tem * l_tem
        logs["temporal"] = l_tem.detach()
    return loss, logs
