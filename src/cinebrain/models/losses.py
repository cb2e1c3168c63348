"""Contrastive losses between brain embeddings and frozen stimulus embeddings.

``clip_loss``: CLIP's symmetric InfoNCE over a batch (the matching pair is the positive, every other
clip of the batch a negative), with a learnable temperature.  ``siglip_loss``: SigLIP's pairwise
sigmoid loss with a learnable temperature and bias (Zhai et al. 2023), which the released CineBrain code
uses with SigLIP-2 targets.  Both take L2-normalised embeddings of shape (B, D).
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
