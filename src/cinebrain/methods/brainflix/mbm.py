"""Brain Netflix's stage 1 model (seed 004, section 4): masked brain modelling (MBM) over patches of the fMRI
vector, then CLIP-style alignment of its embedding to the caption embedding.

:class:`MaskedBrainModel` cuts an fMRI vector (B, V) into ``ceil(V / patch)`` patches (the last one zero-padded),
embeds each with learned positions and, as a masked autoencoder does (He et al. 2022, after MinD-Vis), keeps a
random ``1 - mask_ratio`` of them for the ``depth``-layer encoder; a lighter decoder gets the encoded patches
back in place with a learned mask token everywhere else and predicts every patch's voxels. The MBM loss is the
MSE over the *masked* patches' real voxels only (:func:`masked_patch_loss`). The fMRI embedding ``f`` is the
mean of the encoder's tokens of the whole, unmasked vector (:meth:`MaskedBrainModel.embed`); the alignment
projects it to the caption space and takes the paper's contrastive loss (:meth:`MaskedBrainModel.contrastive`).

``subject_layer='affine'``: a per-subject scale and shift per voxel before the patches (identity at the start);
an unseen subject (index -1) gets the mean of the trained subjects'. The transformer layers are torch's
``TransformerEncoderLayer`` (pre-norm), as NeuroCine's fMRI encoder uses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def masked_patch_loss(pred, target, mask, valid=None):
    """Mean squared error over the masked patches' voxels: ``pred``, ``target`` (B, P, patch), ``mask`` (B, P)
    1 where a patch was masked, ``valid`` (P, patch) 1 for real voxels (0 for the last patch's padding).
    Unmasked patches and padding do not enter the loss."""
    w = mask[..., None].float()
    if valid is not None:
        w = w * valid[None].to(w)
    return ((pred - target) ** 2 * w).sum() / w.sum().clamp_min(1.0)


def _blocks(width: int, depth: int, heads: int, mlp_ratio: float):
    layer = nn.TransformerEncoderLayer(width, heads, int(width * mlp_ratio), 0.0, activation="gelu", batch_first=True,
                                       norm_first=True)  # fmt: skip
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class MaskedBrainModel(nn.Module):
    """fMRI vector (B, V) -> MBM loss, embedding (B, width), caption-space projection (B, embed_dim)."""

    def __init__(self, n_voxels: int, embed_dim: int, *, patch: int = 16, width: int = 1024, depth: int = 24,
                 heads: int = 16, decoder_width: int = 512, decoder_depth: int = 8, decoder_heads: int = 16,
                 mlp_ratio: float = 4.0, mask_ratio: float = 0.75, temperature: float = 0.9, subjects: int = 0):  # fmt: skip
        super().__init__()
        self.n_voxels, self.patch, self.mask_ratio, self.temperature = int(n_voxels), int(patch), float(mask_ratio), float(temperature)
        self.n_patches = math.ceil(n_voxels / patch)
        valid = torch.zeros(self.n_patches * patch)
        valid[:n_voxels] = 1
        self.register_buffer("valid", valid.view(self.n_patches, patch), persistent=False)
        self.subjects = int(subjects)
        if self.subjects:
            self.scale = nn.Parameter(torch.ones(self.subjects, n_voxels))
            self.shift = nn.Parameter(torch.zeros(self.subjects, n_voxels))
        self.patch_embed = nn.Linear(patch, width)
        self.pos = nn.Parameter(torch.randn(1, self.n_patches, width) * 0.02)
        self.encoder = _blocks(width, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(width)
        self.to_decoder = nn.Linear(width, decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_width))
        self.decoder_pos = nn.Parameter(torch.randn(1, self.n_patches, decoder_width) * 0.02)
        self.decoder = _blocks(decoder_width, decoder_depth, decoder_heads, mlp_ratio)
        self.decoder_norm = nn.LayerNorm(decoder_width)
        self.to_voxels = nn.Linear(decoder_width, patch)
        self.to_caption = nn.Linear(width, embed_dim)

    def patchify(self, fmri):
        b, v = fmri.shape
        if v != self.n_voxels:
            raise ValueError(f"fMRI vectors of {v} columns; this model takes {self.n_voxels}; fix: the same ROI sets "
                             "and fMRI stage as the model was trained with")  # fmt: skip
        return F.pad(fmri, (0, self.n_patches * self.patch - v)).view(b, self.n_patches, self.patch)

    def adapt(self, fmri, subject=None):
        """The per-subject affine layer (when there is one); ``subject`` (B,) indices, -1 for an unseen subject."""
        if not self.subjects:
            return fmri
        if subject is None:
            subject = torch.full((len(fmri),), -1, dtype=torch.long, device=fmri.device)
        seen = (subject >= 0)[:, None]
        idx = subject.clamp_min(0)
        scale = torch.where(seen, self.scale[idx], self.scale.mean(0, keepdim=True))
        shift = torch.where(seen, self.shift[idx], self.shift.mean(0, keepdim=True))
        return fmri * scale + shift

    def random_mask(self, batch: int, device) -> torch.Tensor:
        """(B, P) 1 for the ``mask_ratio`` share of patches drawn masked (torch's generator), 0 for the kept."""
        n_keep = max(1, int(round(self.n_patches * (1 - self.mask_ratio))))
        order = torch.rand(batch, self.n_patches, device=device).argsort(1)
        mask = torch.ones(batch, self.n_patches, device=device)
        mask.scatter_(1, order[:, :n_keep], 0.0)
        return mask

    def encode(self, fmri, subject=None, mask=None):
        """Tokens of the kept patches (B, kept, width); every patch when ``mask`` is None."""
        x = self.patch_embed(self.patchify(self.adapt(fmri, subject))) + self.pos
        if mask is not None:
            keep = (mask == 0).nonzero(as_tuple=False)  # rows sorted by batch, the same count in every row
            x = x[keep[:, 0], keep[:, 1]].view(len(fmri), -1, x.shape[-1])
        return self.norm(self.encoder(x))

    def mbm_loss(self, fmri, subject=None, mask=None):
        """The masked-patch loss of a batch, with a fresh random mask unless one is given."""
        mask = self.random_mask(len(fmri), fmri.device) if mask is None else mask
        tokens = self.to_decoder(self.encode(fmri, subject, mask))
        full = self.mask_token.expand(len(fmri), self.n_patches, -1).clone()
        full[mask == 0] = tokens.reshape(-1, tokens.shape[-1]).to(full.dtype)
        pred = self.to_voxels(self.decoder_norm(self.decoder(full + self.decoder_pos)))
        # the target is the raw vector (the subject layer, when there is one, is part of the model)
        return masked_patch_loss(pred, self.patchify(fmri), mask, self.valid)

    def embed(self, fmri, subject=None):
        """The fMRI embedding f (B, width): the mean of the encoder's tokens of the unmasked vector."""
        return self.encode(fmri, subject).mean(1)

    def contrastive(self, fmri, caption, subject=None):
        """The paper's loss (section 4): -mean_i log softmax_j(cos(f_i, c_j) / tau)[i], fMRI to caption."""
        f = F.normalize(self.to_caption(self.embed(fmri, subject)), dim=-1)
        c = F.normalize(caption.to(f), dim=-1)
        logits = f @ c.T / self.temperature
        return F.cross_entropy(logits, torch.arange(len(f), device=f.device))


def build(shapes: dict, model: dict, temperature: float) -> MaskedBrainModel:
    """A :class:`MaskedBrainModel` from a stage-1 config's ``shapes`` and ``model`` sections."""
    return MaskedBrainModel(shapes["voxels"], shapes["embed_dim"], patch=model["patch"], width=model["width"],
                            depth=model["depth"], heads=model["heads"], decoder_width=model["decoder_width"],
                            decoder_depth=model["decoder_depth"], decoder_heads=model["decoder_heads"],
                            mlp_ratio=model["mlp_ratio"], mask_ratio=model["mask_ratio"], temperature=temperature,
                            subjects=len(shapes["subjects"]) if model["subject_layer"] == "affine" else 0)  # fmt: skip
