"""NeuroCine's dependent prior noise (seed 003, section 3.2.2, eq. 7), shared by every video decoder that
offers it (CineSync's ``noise_beta``, NeuroCine's)."""

from __future__ import annotations

import math


def dependent_noise(shape, beta: float, generator=None, device="cpu", dtype=None, frame_dim: int = 1):
    """Gaussian noise whose frames (axis ``frame_dim``: 1 for (B, F, C, H, W) as CogVideoX lays latents out,
    2 for (B, C, F, H, W) as diffusers' UNet3D does) share a component with ratio ``beta``:
    ``sqrt(beta) eps_shared + sqrt(1 - beta) eps_frame`` (eq. 7); ``beta`` 0 is independent noise. Every
    entry stays N(0, 1), and two frames of a clip correlate by ``beta``."""
    import torch

    eps = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if beta <= 0:
        return eps
    shared_shape = list(shape)
    shared_shape[frame_dim] = 1
    shared = torch.randn(shared_shape, generator=generator, device=device, dtype=dtype)
    return math.sqrt(beta) * shared + math.sqrt(1 - beta) * eps
