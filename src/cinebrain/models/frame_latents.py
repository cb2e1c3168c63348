"""Per-frame image-VAE latents of every clip of a split: the targets of the methods built on a text-to-image
Stable Diffusion (Mind-Animator's structure and motion decoders, NeuroCine's video diffusion).

:func:`encode_latents` takes ``frames`` frames evenly spaced over each clip (resized to ``size`` when set)
through the VAE of an SD pipeline folder (``<base>/vae``, diffusers ``AutoencoderKL``), keeping the scaled
posterior means ``(N, frames, C, h, w)`` with the clips' names and the frame indices; :func:`read_latents`
reads them back for a dataset's clips, refusing other clips or another frame count.
"""

from __future__ import annotations

import json

import numpy as np

LATENTS_KEY = "latents"


def frame_indices(n: int, frames: int) -> np.ndarray:
    """``frames`` indices evenly spaced over a clip of ``n`` frames, first and last included."""
    return np.linspace(0, n - 1, frames).round().astype(int)


def load_image_vae(base: str, device="cpu"):
    """The ``AutoencoderKL`` of the SD pipeline folder (or hub id) ``base``."""
    from diffusers import AutoencoderKL

    try:
        return AutoencoderKL.from_pretrained(base, subfolder="vae").to(device).eval()
    except (OSError, ValueError) as e:
        raise ValueError(f"{base}: no Stable Diffusion VAE in vae/ ({e}); fix: point the method's base at an SD "
                         "pipeline folder") from e  # fmt: skip


def resize_frames(frames: np.ndarray, size) -> np.ndarray:
    """uint8 (F, H, W, 3) resized to ``size`` (H', W') (bilinear, antialiased); as they are when None or equal."""
    import torch

    if size is None or tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def hold_frames(frames: np.ndarray, n: int, size=None) -> np.ndarray:
    """uint8 (F, h, w, 3) -> (n, H, W, 3): frame k of the output is frame floor(k F / n) (each generated frame
    held for its share of the clip), resized to ``size`` (H, W) when given: a reconstruction of ``F`` frames
    written at the ground truth's frame count and size."""
    idx = np.minimum((np.arange(n) * len(frames)) // n, len(frames) - 1)
    return resize_frames(frames[idx], size)


def encode_frames(vae, frames: np.ndarray, device="cpu", batch_size: int = 16):
    """uint8 (F, H, W, 3) frames -> the VAE's scaled posterior means (F, C, h, w)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    out = []
    with torch.no_grad():
        for b in range(0, len(x), batch_size):
            out.append(vae.encode(x[b : b + batch_size].to(device, vae.dtype)).latent_dist.mean.float().cpu())
    return torch.cat(out) * vae.config.scaling_factor


def encode_latents(*, split_dir, base: str, frames: int, size=None, out, device: str = "cpu", progress: bool = False) -> dict:
    """The latents of every clip of the clip-dataset split ``split_dir`` into ``out`` (safetensors)."""
    import torch
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from ..atomic import atomic_files
    from ..data import ClipDataset
    from ..stimuli import read_video
    from ..train.distributed import torch_device

    dev = torch_device(device)
    ds = ClipDataset(split_dir, modalities=())
    vae = load_image_vae(base, dev)
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    rows, idx = [], None
    for v in tqdm(ds.manifest["video"], desc="frame latents", disable=not progress):
        video = read_video(ds.resolve(v))
        idx = frame_indices(len(video), frames)
        picked = resize_frames(video[idx], size)
        if picked.shape[1] % scale or picked.shape[2] % scale:
            raise ValueError(f"{split_dir}: frames of {picked.shape[1]} x {picked.shape[2]} pixels; the VAE needs multiples "
                             f"of {scale}; fix: set the method's size")  # fmt: skip
        rows.append(encode_frames(vae, picked, dev))
    latents = torch.stack(rows)
    meta = {"clips": json.dumps(ds.manifest["clip"].astype(str).tolist()), "base": str(base),
            "frames": json.dumps(idx.tolist()), "scaling_factor": str(vae.config.scaling_factor)}  # fmt: skip
    with atomic_files(out) as tmp:
        save_file({LATENTS_KEY: latents.contiguous()}, str(tmp), metadata=meta)
    return {"clips": len(ds), "shape": list(latents.shape[1:])}


def read_latents(path, clips, frames: int):
    """The latents of ``path`` for ``clips`` (in that order); an error names a mismatch."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, latents = f.metadata(), f.get_tensor(LATENTS_KEY)
    have = json.loads(meta["clips"])
    if list(map(str, clips)) != have:
        raise ValueError(f"{path}: latents of other clips than the dataset's ({len(have)} vs {len(clips)}); fix: rerun "
                         "the method's latents rule for this split")  # fmt: skip
    if latents.shape[1] != frames:
        raise ValueError(f"{path}: clips of {latents.shape[1]} latent frames; the model expects {frames}; fix: rebuild "
                         "the latents with the method's frames (its latents rule)")  # fmt: skip
    return latents


class WithLatents:
    """A ClipDataset whose items carry the clip's frame latents (F, C, h, w) under ``latents`` (a torch Dataset)."""

    def __init__(self, dataset, latents):
        self.dataset, self.latents = dataset, latents

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return {**self.dataset[i], "latents": self.latents[i]}
