"""fMRI window augmentations available to every method's fMRI encoder (``fmri_augment`` in a method's section).

Each acts on a batch of fMRI windows ``(B, T, V)`` (T lagged volumes of V columns) during training only,
drawing from a ``torch.Generator`` (or torch's global one, which the training loop seeds and checkpoints):

- :func:`spatial_mask` (NeuroCine, seed 003, section 3.1.2): a fraction ``gamma_spa`` of the columns set to
  zero, the same columns in every volume of a window, drawn anew for every window of the batch;
- :func:`temporal_interpolation` (NeuroCine 3.1.2, eq. 1): each volume replaced, with probability
  ``gamma_tem``, by the other volumes of its window weighted by ``1 - |i - j| / T`` (the nearer, the
  heavier); the weights are normalised to sum to one so that the replacement keeps the volume's scale — our
  copy of eq. 1 shows no normalisation, which would scale a 5-volume window's replacement by 2.4;
- :func:`voxel_dropout` (Mind-Animator, seed 002, appendix C.1: "randomly select 20% of the voxels during
  each iteration, zero out 50% of their values"): a fraction ``voxels`` of the columns is drawn per window,
  and a fraction ``values`` of those columns' entries (over the window's volumes) is set to zero.

:class:`FmriAugmentSettings` is the typed section; :func:`augment` applies the configured ones in the order
above, and :func:`augmenting` wraps a method's training loss with them (every method's section has an
``fmri_augment`` key: CineSync's encoder, CineNeuron's Brain Model, Mind-Animator's decoders). Hand-written: no library implements these fMRI-specific transforms (torchvision's RandomErasing works
on image rectangles; nilearn has no augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import setting


@dataclass(frozen=True)
class FmriAugmentSettings:
    """Training-time augmentations of the fMRI windows (all off by default)."""

    spatial_mask: float = setting(0.0, "NeuroCine's spatial masking: share of columns zeroed per window, the same in "
                                  "every volume (gamma_spa; 0: off)", minimum=0, maximum=1)  # fmt: skip
    temporal_interpolation: float = setting(0.0, "NeuroCine's temporal interpolation: probability that a volume is "
                                            "replaced by its window's distance-weighted mean (gamma_tem; 0: off)",
                                            minimum=0, maximum=1)  # fmt: skip
    voxel_dropout: float = setting(0.0, "Mind-Animator's voxel dropout: share of columns drawn per window (the "
                                   "paper: 0.2; 0: off)", minimum=0, maximum=1)  # fmt: skip
    voxel_dropout_values: float = setting(0.5, "share of a drawn column's entries zeroed (the paper: 0.5)",
                                          minimum=0, maximum=1)  # fmt: skip

    @property
    def active(self) -> bool:
        return bool(self.spatial_mask or self.temporal_interpolation or self.voxel_dropout)


def _check(x):
    if x.ndim != 3:
        raise ValueError(f"fMRI augmentation takes windows (batch, volumes, columns); got shape {tuple(x.shape)}")


def spatial_mask(x, gamma: float, generator=None):
    """``x`` (B, T, V) with round(gamma * V) columns of each window set to zero in all its volumes."""
    import torch

    _check(x)
    b, _, v = x.shape
    k = int(round(gamma * v))
    if k == 0:
        return x
    order = torch.rand(b, v, generator=generator).argsort(dim=1)
    keep = torch.ones(b, v, dtype=x.dtype)
    keep.scatter_(1, order[:, :k], 0.0)
    return x * keep.to(x.device)[:, None, :]


def interpolation_weights(t: int):
    """(T, T) matrix whose row i gives volume i's replacement: ``1 - |i - j| / T`` for j != i, 0 for j = i,
    normalised to sum to one (NeuroCine eq. 1)."""
    import torch

    idx = torch.arange(t, dtype=torch.float32)
    w = 1.0 - (idx[:, None] - idx[None, :]).abs() / t
    w.fill_diagonal_(0.0)
    return w / w.sum(1, keepdim=True)


def temporal_interpolation(x, gamma: float, generator=None):
    """``x`` (B, T, V) with each volume replaced, with probability gamma, by :func:`interpolation_weights`'
    mix of the other volumes of its window (windows of one volume are returned as they are)."""
    import torch

    _check(x)
    b, t, _ = x.shape
    if gamma == 0 or t < 2:
        return x
    mixed = torch.einsum("ij,bjv->biv", interpolation_weights(t).to(x), x)
    pick = (torch.rand(b, t, generator=generator) < gamma).to(x.device)[..., None]
    return torch.where(pick, mixed, x)


def voxel_dropout(x, voxels: float, values: float = 0.5, generator=None):
    """``x`` (B, T, V) with round(voxels * V) columns drawn per window and round(values * T) of each drawn
    column's T entries set to zero."""
    import torch

    _check(x)
    b, t, v = x.shape
    k, m = int(round(voxels * v)), int(round(values * t))
    if k == 0 or m == 0:
        return x
    cols = torch.rand(b, v, generator=generator).argsort(dim=1)[:, :k]  # (B, k)
    rows = torch.rand(b, k, t, generator=generator).argsort(dim=2)[:, :, :m]  # (B, k, m)
    keep = torch.ones(b, v, t, dtype=x.dtype)
    sel = torch.zeros(b, k, t, dtype=x.dtype).scatter_(2, rows, 1.0)  # 1 where zeroed
    keep.scatter_(1, cols[..., None].expand(b, k, t), 1.0 - sel)
    return x * keep.transpose(1, 2).to(x.device)


def augmenting(loss_fn, settings):
    """``loss_fn(model, batch)`` whose training batches' ``fmri`` windows are augmented first (``settings``: an
    :class:`FmriAugmentSettings` or its dict; nothing changes when none is active or the model is in eval mode)."""
    from ..settings import build

    settings = settings if isinstance(settings, FmriAugmentSettings) else build(FmriAugmentSettings, settings or {})
    if not settings.active:
        return loss_fn

    def augmented(model, batch):
        if model.training and "fmri" in batch:
            batch = {**batch, "fmri": augment(batch["fmri"].float(), settings)}
        return loss_fn(model, batch)

    return augmented


def augment(x, settings: FmriAugmentSettings, generator=None):
    """The configured augmentations of ``settings`` applied to a training batch ``x`` (B, T, V)."""
    if settings.spatial_mask:
        x = spatial_mask(x, settings.spatial_mask, generator)
    if settings.temporal_interpolation:
        x = temporal_interpolation(x, settings.temporal_interpolation, generator)
    if settings.voxel_dropout:
        x = voxel_dropout(x, settings.voxel_dropout, settings.voxel_dropout_values, generator)
    return x
