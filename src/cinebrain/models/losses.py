"""Contrastive losses between brain embeddings and frozen stimulus embeddings.

``clip_loss``: CLIP's symmetric InfoNCE over a batch (the matching pair is the positive, every other
clip of the batch a negative), with a learnable temperature.  ``siglip_loss``: SigLIP's pairwise
sigmoid loss with a learnable temperature and bias (Zhai et al. 2023), which the released CineBrain code
uses with SigLIP-2 targets.  Both take L2-normalised embeddings of shape (B, D).  ``info_nce``: the
symmetric InfoNCE with a fixed temperature (CineNeuron, seed 001, eq. 1-2: 0.07).

``category_loss``: CineNeuron's multi-label category loss (section 3.1), binary cross-entropy plus the
sigmoid focal loss of Lin et al. (2017) — torchvision's ``sigmoid_focal_loss``, so the formula is the
detection libraries' own.
"""

from __future__ import annotations


def clip_loss(a, b, logit_scale):
    import torch
    import torch.nn.functional as F

    logits = logit_scale.exp().clamp(max=100) * a @ b.t()
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def siglip_loss(a, b, logit_scale, logit_bias):
    import torch
    import torch.nn.functional as F

    logits = logit_scale.exp() * a @ b.t() + logit_bias
    labels = 2 * torch.eye(len(a), device=a.device) - 1  # +1 on the diagonal, -1 elsewhere
    return -F.logsigmoid(labels * logits).sum() / len(a)


def info_nce(a, b, temperature: float):
    """Symmetric InfoNCE of L2-normalised (B, D) embeddings at a fixed ``temperature``: row i of ``a``
    matches row i of ``b``; the mean of the a->b and b->a cross-entropies. At chance it is log(B)."""
    import math

    import torch

    return clip_loss(a, b, torch.tensor(math.log(1.0 / temperature), device=a.device))


def category_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """BCE + sigmoid focal loss, each the mean over clips and classes, of multi-label ``logits`` (B, C)
    against multi-hot ``targets`` (B, C)."""
    import torch.nn.functional as F
    from torchvision.ops import sigmoid_focal_loss

    targets = targets.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    return bce + sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="mean")
