"""NeuroCine's reconstructions (rule ``neurocine_reconstruct``): every test clip of one subject decoded by its
trained phase 2 into the methods' contract (:mod:`cinebrain.methods.contract`).

The condition is the fMRI encoder's, averaged over every sliding window of the clip's lagged volumes; sampling
(:func:`.video.sample`) starts from the dependent prior noise drawn with the reconstruction seed — the same for
every clip, so a reconstruction depends on its clip only through its fMRI (the contract's requirement for the
shuffled-brain control) — and guides against the empty caption's condition. The ``frames`` generated frames are
held for their share of the ground truth's frames and resized to its size; the no-brain control decodes the
mean training fMRI window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def load_trained(model_dir, device="cpu"):
    """(UNet3D with the fine-tuned parameters, the phase-2 encoder, decoder.json) of a trained subject."""
    from cinebrain.integrity import load_safetensors

    from .train import DECODER_CONFIG, DECODER_DIR, ENCODER_FILE, UNET_FILE, build_encoder, load_video_unet

    d = Path(model_dir) / DECODER_DIR
    meta = json.loads((d / DECODER_CONFIG).read_text())
    unet = load_video_unet(meta["base"], meta["decoder"]["model"]["temporal_window"], device)
    trained = load_safetensors(d / UNET_FILE)
    params = dict(unet.named_parameters())
    wrong = [n for n, v in trained.items() if n not in params or params[n].shape != v.shape]
    if wrong:
        raise ValueError(f"{d / UNET_FILE}: parameters that {meta['base']}'s inflated UNet lacks or shapes differently "
                         f"({wrong[:3]}); fix: the base it was trained on")  # fmt: skip
    unet.load_state_dict(trained, strict=False)
    encoder = build_encoder(meta["encoder"])
    encoder.load_state_dict(load_safetensors(d / ENCODER_FILE))
    return unet.eval(), encoder.to(device).eval(), meta


def reconstruct(*, model_dir, test_dir, train_dir, out_dir, settings: dict | None = None, device: str = "auto",
                progress: bool = True) -> dict:  # fmt: skip
    """Every test clip into ``out_dir/<clip>.mp4``, ``no_brain.mp4`` and ``reconstructions.parquet``; the folder
    appears complete or not at all. ``settings``: the section ``methods.neurocine.decoder.reconstruct``."""
    from diffusers import DDIMScheduler
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...models.frame_latents import hold_frames, load_image_vae
    from ...models.sd_text import load_text_encoder, text_conditions
    from ...settings import as_dict, build
    from ...stimuli import read_video, write_video
    from ...train.distributed import torch_device
    from .settings import ReconstructSettings
    from .train import window_average
    from .video import sample

    dev, out_dir = torch_device(device), Path(out_dir)
    unet, encoder, meta = load_trained(model_dir, dev)
    rs, window = as_dict(build(ReconstructSettings, settings or {})), meta["encoder"]["model"]["window"]
    columns = meta["encoder"].get("fmri_columns")
    test = ClipDataset(test_dir, modalities=("fmri",), fmri_columns=columns)
    train = ClipDataset(train_dir, modalities=("fmri",), fmri_columns=columns)
    vae = load_image_vae(meta["base"], dev)
    scheduler = DDIMScheduler.from_pretrained(meta["base"], subfolder="scheduler")
    tok, text_encoder = load_text_encoder(meta["base"], dev)
    uncond = text_conditions(tok, text_encoder, [""], device=dev).to(dev)
    man = test.manifest
    gt = read_video(test.resolve(man["video"].iloc[0]))
    n_frames, size = len(gt), gt.shape[1:3]
    height, width = meta["size"] or size

    def fmri_of(ds):
        x = torch.from_numpy(np.asarray(ds.arrays["fmri"], np.float32))
        return x if columns is None else x[..., columns]

    _, cond = window_average(encoder, fmri_of(test).to(dev), window)
    _, no_brain = window_average(encoder, fmri_of(train).mean(0, keepdim=True).to(dev), window)
    beta = meta["decoder"]["model"]["noise_beta"]

    def decode(c):
        frames = sample(unet, vae, scheduler, c[None].to(dev), uncond, frames=meta["frames"], height=height, width=width,
                        steps=rs["steps"], guidance_scale=rs["guidance_scale"], beta=beta, seed=rs["seed"])  # fmt: skip
        return hold_frames(frames, n_frames, size)

    with atomic_dir(out_dir) as tmp:
        for i in tqdm(range(len(man)), desc="NeuroCine reconstructions", disable=not progress):
            write_video(tmp / f"{man['clip'].iloc[i]}.mp4", decode(cond[i]), rs["fps"])
        write_video(tmp / "no_brain.mp4", decode(no_brain[0]), rs["fps"])
        table = man[["clip", "episode", "has_cut"]].copy()
        table["video"] = [str(out_dir / f"{c}.mp4") for c in man["clip"]]
        table["ground_truth"] = [str(test.resolve(v)) for v in man["video"]]
        table["no_brain"] = str(out_dir / "no_brain.mp4")
        table.to_parquet(tmp / "reconstructions.parquet")
    return {"clips": len(man), "frames": n_frames, "size": list(size)}
