"""Brain Netflix's stage 3 (seed 004, section 4; rule ``brainflix_reconstruct``): every test clip of one subject
reconstructed by one variant into the methods' contract.

The generator is a text-to-video U-Net (``UNet3DConditionModel``; Zeroscope v2 in the real configs) loaded as
diffusers' ``VideoToVideoSDPipeline`` — deprecated since diffusers 0.33 (no fixes after 0.33.1) and still shipped
and working in the version we pin; our tests run it. The regressed latent z goes in as the "video" (a 4-channel
video is taken as latents, not encoded: diffusers passes it through), is re-noised with ``strength`` 0.8 and
denoised for ``strength x steps`` of 40 DDIM steps, conditioned on the caption BLIP decodes from the regressed b.
The variants (5.2): ``brainflix``/``pooled``/``loso`` use both; ``latent_only`` conditions on the empty caption;
``caption_only`` runs the same components as diffusers' ``TextToVideoSDPipeline`` from the seeded noise (no z).
Every clip uses the same seed, so a reconstruction depends on its clip only through its fMRI (the contract's
requirement for the shuffled-brain control); the no-brain control decodes the mean training embedding's z and b.

The generator makes ``frames`` frames at the latent's size; the written video holds each for its share of the
ground truth's frames at the ground truth's size (:func:`cinebrain.models.frame_latents.hold_frames`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...models.frame_latents import hold_frames


def load_generator(path: str, device="cpu"):
    """The text-to-video pipeline folder ``path`` as a ``VideoToVideoSDPipeline``; an error names what is wrong."""
    import warnings

    from diffusers import VideoToVideoSDPipeline

    try:
        with warnings.catch_warnings():  # the deprecation notice, said once in the README
            warnings.simplefilter("ignore", FutureWarning)
            pipe = VideoToVideoSDPipeline.from_pretrained(path)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a text-to-video pipeline with a UNet3DConditionModel ({e}); fix: point "
                         "methods.brainflix.generator at a Zeroscope / ModelScope folder") from e  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def check_latent(pipe, z) -> None:
    """Error unless ``z`` (F, C, h, w) is a latent the pipeline's U-Net takes."""
    c = pipe.unet.config.in_channels
    if z.ndim != 4 or z.shape[1] != c:
        raise ValueError(f"a regressed latent of shape {tuple(z.shape)}; the generator's U-Net takes (frames, {c}, h, w); "
                         "fix: regress the latents of methods.brainflix.generator's VAE (rule brainflix_targets)")  # fmt: skip


def text_to_video(pipe):
    """The same components as diffusers' ``TextToVideoSDPipeline`` (the caption_only ablation)."""
    import warnings

    from diffusers import TextToVideoSDPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        t2v = TextToVideoSDPipeline(**pipe.components)
    t2v.set_progress_bar_config(disable=True)
    return t2v


def generate(pipe, z, caption: str, variant: str, rs) -> np.ndarray:
    """uint8 (F, H, W, 3) frames of one clip from its regressed latent z (F, C, h, w) and decoded caption; ``pipe``
    the video-to-video pipeline, or for ``caption_only`` its :func:`text_to_video` (z then gives only the shape)."""
    check_latent(pipe, z)
    g = torch.Generator(pipe.device).manual_seed(rs["seed"])
    common = {"num_inference_steps": rs["steps"], "guidance_scale": rs["guidance_scale"], "generator": g,
              "output_type": "np"}  # fmt: skip
    if variant == "caption_only":
        f, _, h, w = z.shape
        scale = pipe.vae_scale_factor
        out = pipe(prompt=caption, num_frames=f, height=h * scale, width=w * scale, **common)
    else:
        prompt = "" if variant == "latent_only" else caption
        out = pipe(prompt=prompt, video=z[None].to(pipe.device, pipe.unet.dtype), strength=rs["strength"], **common)
    frames = np.asarray(out.frames)[0]
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def read_predictions(path, clips) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, pred = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    if json.loads(meta["clips"]) != list(map(str, clips)):
        raise ValueError(f"{path}: predictions of other clips than the test split's; fix: rerun rule brainflix_predict")
    return pred


def reconstruct(*, predictions, test_dir, generator: str, blip: str, variant: str, out_dir, settings: dict | None = None,
                device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Every test clip into ``out_dir/<clip>.mp4``, ``no_brain.mp4`` and ``reconstructions.parquet`` (with each
    clip's decoded caption); the folder appears complete or not at all. ``settings``: the method's section."""
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...settings import as_dict, build
    from ...stimuli import read_video, write_video
    from ...train.distributed import torch_device
    from .blip import decode_captions, load_blip
    from .settings import VARIANTS, Settings

    if variant not in VARIANTS:
        raise ValueError(f"variant '{variant}' is not one of {VARIANTS}")
    s = build(Settings, settings or {})
    rs, cs = as_dict(s.reconstruct), as_dict(s.caption)
    dev, out_dir = torch_device(device), Path(out_dir)
    test = ClipDataset(test_dir, modalities=())
    man = test.manifest
    pred = read_predictions(predictions, man["clip"])
    model, processor = load_blip(blip, dev)
    captions = decode_captions(model, processor.tokenizer, torch.cat([pred["b"], pred["no_brain_b"]]), **cs)
    del model
    pipe = load_generator(generator, dev)
    if variant == "caption_only":
        pipe = text_to_video(pipe)
    gt = read_video(test.resolve(man["video"].iloc[0]))
    n_frames, size = len(gt), gt.shape[1:3]

    def decode(z, caption):
        return hold_frames(generate(pipe, z, caption, variant, rs), n_frames, size)

    with atomic_dir(out_dir) as tmp:
        for i in tqdm(range(len(man)), desc=f"Brain Netflix {variant}", disable=not progress):
            write_video(tmp / f"{man['clip'].iloc[i]}.mp4", decode(pred["z"][i], captions[i]), rs["fps"])
        write_video(tmp / "no_brain.mp4", decode(pred["no_brain_z"][0], captions[-1]), rs["fps"])
        table = man[["clip", "episode", "has_cut"]].copy()
        table["video"] = [str(out_dir / f"{c}.mp4") for c in man["clip"]]
        table["ground_truth"] = [str(test.resolve(v)) for v in man["video"]]
        table["no_brain"] = str(out_dir / "no_brain.mp4")
        table["caption"] = captions[:-1]
        table.to_parquet(tmp / "reconstructions.parquet")
    return {"clips": len(man), "variant": variant, "frames": n_frames, "size": list(size), "captions": captions[:3]}
