"""Mind-Animator's fMRI-to-feature decoders ("Animate Your Thoughts", seed 002, section 3.2, appendix D.2).

- :class:`SemanticDecoder`: a three-layer MLP from the fMRI window to CLIP space (aligned with the clip's
  video and caption embeddings by the tri-modal contrastive loss, :func:`semantic_loss`), then a two-layer
  MLP to Stable Diffusion's text condition (tokens x width of its text encoder).
- :class:`StructureDecoder`: a two-layer MLP from the fMRI window to the first frame's VAE latent (MSE).
- :class:`ConsistencyMotionGenerator` (CMG): an L-block transformer over the frame tokens of the clip's VAE
  latents (patches embedded per frame). Each block's temporal module is self-attention across frames under
  the sparse causal mask (:func:`sparse_causal_mask`); its spatial module is cross-attention from the frame
  tokens to the embedded fMRI volumes (self-attention over the frame's own tokens when ``fmri_guidance`` is
  off: the paper's Fig. 7 ablation); residual + LayerNorm, then an FFN. Token i predicts frame i + 1
  (next-frame-token prediction, MSE: eq. 9); at inference the first frame is the structure decoder's and
  the rest are generated one at a time.
- :class:`FrameMLPs`: the "w/o Motion" ablation (Tab. 6): one two-layer MLP per frame from the fMRI.

The fMRI input is the clip's window of lagged volumes ``(T, V)``; the MLPs take it flattened.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of ``sizes`` with GELU (and dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


class SemanticDecoder(nn.Module):
    """fMRI window (B, T, V) -> CLIP embedding (B, D) and text condition (B, L, W)."""

    def __init__(self, fmri_shape, embed_dim: int, cond_shape, hidden: int = 4096, dropout: float = 0.0,
                 temperature: float = 0.07):  # fmt: skip
        super().__init__()
        self.fmri_shape, self.cond_shape = tuple(fmri_shape), tuple(cond_shape)
        self.encoder = mlp([math.prod(self.fmri_shape), hidden, hidden, embed_dim], dropout)
        self.projector = mlp([embed_dim, hidden, math.prod(self.cond_shape)], dropout)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def embed(self, fmri):
        return self.encoder(fmri.flatten(1))

    def forward(self, fmri):
        f = self.embed(fmri)
        return f, self.projector(f).view(len(f), *self.cond_shape)


class StructureDecoder(nn.Module):
    """fMRI window (B, T, V) -> the first frame's latent (B, C, h, w)."""

    def __init__(self, fmri_shape, latent_shape, hidden: int = 4096, dropout: float = 0.0):
        super().__init__()
        self.fmri_shape, self.latent_shape = tuple(fmri_shape), tuple(latent_shape)
        self.net = mlp([math.prod(self.fmri_shape), hidden, math.prod(self.latent_shape)], dropout)

    def forward(self, fmri):
        return self.net(fmri.flatten(1)).view(len(fmri), *self.latent_shape)


class FrameMLPs(nn.Module):
    """The "w/o Motion" ablation: fMRI window (B, T, V) -> every frame's latent (B, F, C, h, w), one MLP per frame."""

    def __init__(self, fmri_shape, latent_shape, frames: int, hidden: int = 4096, dropout: float = 0.0):
        super().__init__()
        self.latent_shape = tuple(latent_shape)
        self.nets = nn.ModuleList(mlp([math.prod(fmri_shape), hidden, math.prod(latent_shape)], dropout)
                                  for _ in range(frames))  # fmt: skip

    def forward(self, fmri):
        x = fmri.flatten(1)
        return torch.stack([n(x).view(len(x), *self.latent_shape) for n in self.nets], 1)


def clip_loss(a, b, logit_scale):
    """Bidirectional InfoNCE of paired rows of ``a`` and ``b`` (cosine similarity x exp(logit_scale))."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T * logit_scale.exp().clamp(max=100)
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def semantic_loss(f, cond, video, text, text_cond, *, logit_scale, lambda1: float, lambda2: float, alpha: float):
    """Mind-Animator's semantic objective (eq. 1-5, our reading of our equation-less copy):
    ``lambda1 * InfoNCE(f, video) + (1 - lambda1) * InfoNCE(f, text)`` (the tri-modal loss, eq. 2),
    ``+ alpha * mean(1 - cos(f, text))`` (eq. 3: fMRI and text embeddings brought together),
    ``+ lambda2 * MSE(cond, text_cond)`` (eq. 4: the projection to the text condition).
    Returns (loss, {term: value})."""
    tri = lambda1 * clip_loss(f, video, logit_scale) + (1 - lambda1) * clip_loss(f, text, logit_scale)
    close = (1 - F.cosine_similarity(f, text, dim=-1)).mean()
    proj = F.mse_loss(cond, text_cond)
    loss = tri + alpha * close + lambda2 * proj
    return loss, {"tri_modal": tri.detach(), "fmri_text": close.detach(), "projection": proj.detach()}


#: How the random part of the sparse causal mask reads ``mask_ratio`` (see :func:`sparse_causal_mask`).
MASK_STYLES = ("released", "share")


def sparse_causal_mask(batch: int, frames: int, ratio: float = 0.0, generator=None, device=None, style: str = "released"):
    """(batch, frames, frames) boolean mask, True where frame i may attend to frame j.

    The fixed part: no frame sees a later one (j <= i). The random part (training only: ``ratio`` > 0):

    - ``released`` (Mind-Animator's released ``subsequent_mask`` in models/CMG_model_with_more_patchsize.py, read
      beside this): in the rows of frames i >= 2, every visible entry but the first frame's (the diagonal
      included) is hidden with probability ``1 - ratio`` — the ratio is what stays visible — one mask for the
      whole batch; the first frame is always visible, so no row is empty;
    - ``share`` (our reading of the paper's text, "mask ratio 0.6"): of the i earlier frames visible to frame i,
      ``floor(ratio * i)`` drawn per clip are hidden; a frame always sees itself."""
    if style not in MASK_STYLES:
        raise ValueError(f"mask style '{style}' is not one of {MASK_STYLES}")
    causal = torch.ones(frames, frames, dtype=torch.bool).tril()
    mask = causal.expand(batch, frames, frames).clone()
    if ratio > 0 and style == "share":
        for i in range(1, frames):
            k = int(ratio * i)
            if k:
                hide = torch.rand(batch, i, generator=generator).argsort(1)[:, :k]
                mask[:, i, :i].scatter_(1, hide, False)
    elif ratio > 0:
        hidden = torch.rand(frames, frames, generator=generator) < 1 - ratio
        hidden[:2] = False
        hidden[:, 0] = False
        mask &= ~hidden
    return mask.to(device) if device is not None else mask


def patchify(z, p: int):
    """(B, F, C, h, w) -> (B, F, P, C*p*p) with P = (h/p)(w/p) patches in row-major order."""
    b, f, c, h, w = z.shape
    if h % p or w % p:
        raise ValueError(f"the motion generator's patch size {p} does not divide the latent frames ({h} x {w}); fix: "
                         "set methods.mindanimator.motion.model.patch to a divisor of both (or change size)")  # fmt: skip
    z = z.reshape(b, f, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4, 6)
    return z.reshape(b, f, (h // p) * (w // p), c * p * p)


def unpatchify(tokens, p: int, shape):
    """Inverse of :func:`patchify`: (B, F, P, C*p*p) -> (B, F, C, h, w) for latent ``shape`` (C, h, w)."""
    c, h, w = shape
    b, f = tokens.shape[:2]
    z = tokens.reshape(b, f, h // p, w // p, c, p, p).permute(0, 1, 4, 2, 5, 3, 6)
    return z.reshape(b, f, c, h, w)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))
        self.to_out = nn.Linear(width, width)

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        b, n, d = x.shape
        q, k, v = (t.view(b, -1, self.heads, d // self.heads).transpose(1, 2)
                   for t in (self.to_q(x), self.to_k(context), self.to_v(context)))  # fmt: skip
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class CMGBlock(nn.Module):
    """Temporal module (sparse causal self-attention over frames, per patch position), spatial module
    (cross-attention to the fMRI tokens, or self-attention within the frame), FFN; post-norm residuals."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, fmri_guidance: bool):
        super().__init__()
        self.fmri_guidance = fmri_guidance
        self.temporal, self.spatial = _Attention(width, heads, dropout), _Attention(width, heads, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, int(width * mlp_ratio)), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(int(width * mlp_ratio), width))  # fmt: skip

    def forward(self, x, fmri_tokens, mask):
        b, f, p, d = x.shape
        t = x.permute(0, 2, 1, 3).reshape(b * p, f, d)  # attention across frames at each patch position
        m = mask[:, None].expand(b, p, f, f).reshape(b * p, 1, f, f)
        t = self.norm1(t + self.temporal(t, mask=m))
        x = t.view(b, p, f, d).permute(0, 2, 1, 3)
        if self.fmri_guidance:
            s = x.reshape(b, f * p, d)
            s = self.norm2(s + self.spatial(s, context=fmri_tokens)).view(b, f, p, d)
        else:  # Fig. 7: self-attention among the frame's own tokens instead of the fMRI
            s = x.reshape(b * f, p, d)
            s = self.norm2(s + self.spatial(s)).view(b, f, p, d)
        return self.norm3(s + self.ffn(s))


class ConsistencyMotionGenerator(nn.Module):
    """Frame latents (B, F, C, h, w) + fMRI window (B, T, V) -> the next frame's latent at every position."""

    def __init__(self, fmri_shape, latent_shape, frames: int, *, patch: int, width: int, depth: int, heads: int,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, mask_ratio: float = 0.6, fmri_guidance: bool = True,
                 mask_style: str = "released"):  # fmt: skip
        super().__init__()
        c, h, w = latent_shape
        if h % patch or w % patch:
            patchify(torch.zeros(1, 1, c, h, w), patch)  # raises the explained error
        self.latent_shape, self.frames, self.patch = tuple(latent_shape), frames, patch
        self.mask_ratio, self.mask_style, self.fmri_guidance = mask_ratio, mask_style, fmri_guidance
        n_patches = (h // patch) * (w // patch)
        self.embed = nn.Linear(c * patch * patch, width)
        self.frame_pos = nn.Parameter(torch.randn(frames, 1, width) * 0.02)
        self.patch_pos = nn.Parameter(torch.randn(1, n_patches, width) * 0.02)
        self.fmri_embed = nn.Linear(fmri_shape[-1], width)
        self.fmri_pos = nn.Parameter(torch.randn(fmri_shape[0], width) * 0.02)
        self.blocks = nn.ModuleList(CMGBlock(width, heads, mlp_ratio, dropout, fmri_guidance) for _ in range(depth))
        self.head = nn.Linear(width, c * patch * patch)

    def forward(self, latents, fmri, mask=None):
        """Prediction of frame i + 1 from frames <= i (B, F', C, h, w) for F' = latents' frames <= self.frames.
        ``mask``: (B, F', F') allowed-attention (default: the sparse causal mask, random part in training)."""
        b, f = latents.shape[:2]
        if f > self.frames:
            raise ValueError(f"the motion generator was built for {self.frames} frames; got {f}")
        if mask is None:
            ratio = self.mask_ratio if self.training else 0.0
            mask = sparse_causal_mask(b, f, ratio, device=latents.device, style=self.mask_style)
        x = self.embed(patchify(latents, self.patch)) + self.frame_pos[:f] + self.patch_pos
        ctx = self.fmri_embed(fmri) + self.fmri_pos
        for blk in self.blocks:
            x = blk(x, ctx, mask)
        return unpatchify(self.head(x), self.patch, self.latent_shape)

    def loss(self, latents, fmri):
        """Eq. 9: MSE of the predicted next frames against the clip's frames 1 ... F-1 (teacher forcing)."""
        if latents.shape[1] != self.frames:
            raise ValueError(f"a clip of {latents.shape[1]} latent frames; the motion generator expects {self.frames}: "
                             "fix: rebuild the latents with methods.mindanimator.frames frames")  # fmt: skip
        pred = self(latents[:, :-1], fmri)
        return F.mse_loss(pred, latents[:, 1:])

    @torch.no_grad()
    def generate(self, first, fmri):
        """Every frame (B, F, C, h, w) from the first (B, C, h, w), one at a time, no random mask."""
        seq = first[:, None]
        for _ in range(self.frames - 1):
            mask = sparse_causal_mask(len(seq), seq.shape[1], 0.0, device=seq.device)
            seq = torch.cat([seq, self(seq, fmri, mask)[:, -1:]], 1)
        return seq
