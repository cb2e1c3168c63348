"""Mind-Animator's reconstructions (rule ``mindanimator_reconstruct``): every test clip of one subject decoded
by one variant into the methods' contract (:mod:`cinebrain.methods.contract`).

The full model: the semantic decoder's text condition, the structure decoder's first frame and the motion
generator's next frames, through the inflated Stable Diffusion (:func:`.generator.generate`). The ablations
(Tab. 6, Fig. 7): ``no_semantic`` and ``no_structure`` replace that decoder's output by Gaussian noise (the
condition's with the training conditions' mean and standard deviation; the first frame's with the training
latents'), ``no_motion`` takes every frame from the per-frame MLPs, ``no_fmri_guidance`` from the motion
generator trained without the fMRI cross-attention. The noise is drawn with the reconstruction seed, the
same for every clip, so a reconstruction depends on its clip only through the clip's fMRI (the contract's
requirement for the shuffled-brain control). The no-brain control decodes the mean training fMRI window.

The generator makes ``frames`` frames (8, the paper's); the written video holds each for its share of the
ground truth's frames and is resized to the ground truth's size, so that the benchmark compares like with like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...models.frame_latents import hold_frames
from .settings import VARIANTS


def decode_features(mods, fmri, variant: str, noise: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(text condition (B, L, W), frame latents (B, F, C, h, w)) of fMRI windows (B, T, V) by ``variant``;
    ``noise``: {"cond": (1, L, W), "first": (1, C, h, w)} of the ablations."""
    if variant not in VARIANTS:
        raise ValueError(f"variant '{variant}' is not one of {VARIANTS}")
    with torch.no_grad():
        _, cond = mods["semantic"](fmri)
        if variant == "no_semantic":
            cond = noise["cond"].expand_as(cond)
        if variant == "no_motion":
            return cond, mods["frame_mlps"](fmri)
        first = noise["first"].expand(len(fmri), -1, -1, -1) if variant == "no_structure" else mods["structure"](fmri)
        motion = mods["motion_unguided" if variant == "no_fmri_guidance" else "motion"]
        return cond, motion.generate(first, fmri)


def ablation_noise(cfg: dict, train_latents: torch.Tensor, train_cond_stats: tuple, seed: int) -> dict:
    """The ablations' Gaussian noise, drawn once with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    mean, std = train_cond_stats
    cond = mean + std * torch.randn(1, *cfg["shapes"]["cond"], generator=g)
    z = train_latents[:, 0].float()
    first = z.mean() + z.std() * torch.randn(1, *cfg["shapes"]["latent"], generator=g)
    return {"cond": cond, "first": first}


def reconstruct(*, model_dir, variant: str, test_dir, train_dir, latents_train, out_dir, settings: dict | None = None,
                device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Every test clip into ``out_dir/<clip>.mp4``, ``no_brain.mp4`` and ``reconstructions.parquet``; the folder
    appears complete or not at all. ``settings``: the section ``methods.mindanimator.reconstruct``."""
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...models.frame_latents import read_latents
    from ...settings import as_dict, build
    from ...stimuli import read_video, write_video
    from ...train.distributed import torch_device
    from .generator import generate, load_generator
    from .settings import ReconstructSettings
    from .train import load_trained

    dev, out_dir = torch_device(device), Path(out_dir)
    mods, cfg = load_trained(model_dir, dev)
    need = {"no_motion": "frame_mlps", "no_fmri_guidance": "motion_unguided"}.get(variant)
    if need and need not in mods:
        raise ValueError(f"{model_dir}: trained without the '{variant}' ablation's model; fix: list {variant} in "
                         "methods.mindanimator.variants and retrain (rule mindanimator_train)")  # fmt: skip
    rs = as_dict(build(ReconstructSettings, settings or {}))
    columns = cfg.get("fmri_columns")
    test = ClipDataset(test_dir, modalities=("fmri",), fmri_columns=columns)
    train = ClipDataset(train_dir, modalities=("fmri",), fmri_columns=columns)
    z_train = read_latents(latents_train, train.manifest["clip"], cfg["shapes"]["frames"])
    pipe = load_generator(cfg["base"], cfg["shapes"]["frames"], dev)
    fmri_train = torch.from_numpy(np.asarray(train.arrays["fmri"], np.float32))
    if columns is not None:
        fmri_train = fmri_train[..., columns]
    with torch.no_grad():
        conds = torch.cat([mods["semantic"](fmri_train[b : b + 64].to(dev))[1].cpu() for b in range(0, len(fmri_train), 64)])
    noise = ablation_noise(cfg, z_train, (conds.mean(), conds.std()), rs["seed"])
    noise = {k: v.to(dev) for k, v in noise.items()}
    man = test.manifest
    gt = read_video(test.resolve(man["video"].iloc[0]))
    n_frames, size = len(gt), gt.shape[1:3]

    def decode(fmri):
        cond, latents = decode_features(mods, fmri.to(dev), variant, noise)
        torch.manual_seed(rs["seed"])  # the sampler's draws (none with DDIM's eta 0), the same for every clip
        frames = generate(pipe, cond[:1], latents[0], steps=rs["steps"], inversion_steps=rs["inversion_steps"],
                          smoothing_timestep=rs["smoothing_timestep"], seed=rs["seed"],
                          guidance_scale=rs["guidance_scale"])  # fmt: skip
        return hold_frames(frames, n_frames, size)

    with atomic_dir(out_dir) as tmp:
        for i in tqdm(range(len(man)), desc=f"Mind-Animator {variant}", disable=not progress):
            write_video(tmp / f"{man['clip'].iloc[i]}.mp4", decode(test[i]["fmri"][None].float()), rs["fps"])
        write_video(tmp / "no_brain.mp4", decode(fmri_train.mean(0, keepdim=True)), rs["fps"])
        table = man[["clip", "episode", "has_cut"]].copy()
        table["video"] = [str(out_dir / f"{c}.mp4") for c in man["clip"]]
        table["ground_truth"] = [str(test.resolve(v)) for v in man["video"]]
        table["no_brain"] = str(out_dir / "no_brain.mp4")
        table.to_parquet(tmp / "reconstructions.parquet")
    return {"clips": len(man), "variant": variant, "frames": n_frames, "size": list(size)}
