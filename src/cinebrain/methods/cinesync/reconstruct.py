"""Loading a trained CineSync decoder and reconstructing the test clips (rule ``cinesync_reconstruct``).

Reconstruction runs ``CogVideoXPipeline`` with the brain feature as ``prompt_embeds`` and a zeroed brain
feature as the unconditional input of classifier-free guidance (as CineBrain's released code does), from
initial noise drawn per clip from the configured seed — optionally NeuroCine's dependent prior noise
(seed 003, eq. 7).  The output folder follows the methods' contract (:mod:`cinebrain.methods.contract`):
``<clip>.mp4`` and ``reconstructions.parquet``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .decoder import (
    BRAIN_FILE,
    CONFIG_FILE,
    LORA_FILE,
    Brain,
    DecoderError,
    base_signature,
    brain_adapter,
    dependent_noise,
    encoder_config,
    load_base,
    transformer_config,
)
from .settings import DecoderConfig


def load_decoder(decoder_dir, *, device="cpu", base: str | None = None, dtype=None):
    """(pipeline, brain module, decoder.json) of a trained decoder: the base CogVideoX pipeline (from
    ``decoder.json``'s base, or ``base``) with the LoRA adapter loaded through ``load_lora_weights``."""
    from diffusers import CogVideoXPipeline

    from .encoder import CineSyncEncoder

    decoder_dir = Path(decoder_dir)
    cfg_path = decoder_dir / CONFIG_FILE
    if not cfg_path.exists():
        raise DecoderError(f"{cfg_path}: no decoder here; fix: train it first (rule cinesync_decoder)")
    meta = json.loads(cfg_path.read_text())
    base = base or meta["base"]
    dcfg = DecoderConfig(**{**meta["decoder"], "base": base})
    sig = base_signature(vars(transformer_config(base)))
    if sig != meta["base_signature"]:
        raise DecoderError(f"{decoder_dir / LORA_FILE}: this adapter was trained for base model {meta['base']} "
                           f"(transformer signature {meta['base_signature']}), not for {base} (signature {sig}); fix: "
                           "set methods.cinesync.decoder.model.base to the model it was trained on, or retrain the decoder")  # fmt: skip
    parts = load_base(base, parts=("transformer", "vae", "scheduler"), dtype=dtype or dcfg.dtype(device), device=device)
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=parts["vae"], transformer=parts["transformer"],
                             scheduler=parts["scheduler"])  # fmt: skip
    pipe.load_lora_weights(str(decoder_dir), weight_name=LORA_FILE)
    enc = encoder_config(cfg_path, key="encoder")
    tc = parts["transformer"].config
    adapter = brain_adapter(enc.n_tokens, enc.cond_dim, tc.max_text_seq_length, tc.text_embed_dim, dcfg.adapter,
                            where=str(cfg_path))  # fmt: skip
    brain = Brain(CineSyncEncoder(enc), adapter)
    brain.load_saved(decoder_dir / BRAIN_FILE)
    return pipe, brain.to(device).eval(), meta


def reconstruct(*, decoder_dir, test_dir, out_dir, settings: dict, figure=None, device: str = "auto",
                progress: bool = True) -> dict:  # fmt: skip
    """Rule ``cinesync_reconstruct``'s task: a video for every clip of a test split.

    ``out_dir/<clip>.mp4`` at ``settings.fps`` and the ground truth's frame count and size, and
    ``out_dir/reconstructions.parquet`` (clip, episode, scene-cut flag, reconstruction, ground truth); the
    folder appears complete or not at all.  ``figure``: a PNG of every clip's ground truth beside its
    reconstruction (``figure_frames`` frames each)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...settings import build
    from ...stimuli import read_video, sample_frames, write_video
    from ...train.distributed import torch_device
    from .settings import ReconstructSettings

    rs = build(ReconstructSettings, settings)
    out_dir, dev = Path(out_dir), torch_device(device)
    pipe, brain, meta = load_decoder(decoder_dir, device=dev)
    import diffusers

    pipe.scheduler = getattr(diffusers, rs.scheduler).from_config(pipe.scheduler.config)
    ds = ClipDataset(test_dir, modalities=tuple(meta["modalities"]), fmri_columns=meta["fmri_columns"])
    man = ds.manifest
    first = read_video(ds.resolve(man["video"].iloc[0]))
    n_frames, height, width = first.shape[:3]
    sf, tf = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
    px = sf * pipe.transformer.config.patch_size  # pixels per transformer patch
    if height % px or width % px or (n_frames - 1) % tf:
        raise DecoderError(f"{ds.resolve(man['video'].iloc[0])}: clips of {n_frames} frames at {height} x {width} cannot be "
                           f"generated (frames must be 1 + {tf}k, sizes multiples of {px}); fix: set stimuli.frames / "
                           "height / width accordingly")  # fmt: skip
    c = pipe.transformer.config.in_channels
    shape = (1, (n_frames - 1) // tf + 1, c, height // sf, width // sf)
    rows, shown = [], []
    with atomic_dir(out_dir) as tmp:
        for b in tqdm(range(0, len(ds), rs.batch_size), desc="reconstruct", disable=not progress):
            idx = list(range(b, min(b + rs.batch_size, len(ds))))
            batch = torch.utils.data.default_collate([ds[i] for i in idx])
            with torch.no_grad():
                cond = brain({k: v.to(dev) if hasattr(v, "to") else v for k, v in batch.items()})
            cond = cond.to(pipe.transformer.dtype)
            # one generator per clip, seeded alike: every clip starts from the same initial noise and the
            # sampler's own noise (the DPM sampler is stochastic) is the same, so reconstructions differ by
            # their brain feature only and do not depend on the batching
            gens = [torch.Generator().manual_seed(rs.seed) for _ in idx]
            noise = torch.cat([dependent_noise(shape, rs.noise_beta, g) for g in gens]).to(dev, pipe.transformer.dtype)
            video = pipe(prompt_embeds=cond, negative_prompt_embeds=torch.zeros_like(cond), num_frames=n_frames,
                         height=height, width=width, num_inference_steps=rs.steps, guidance_scale=rs.guidance_scale,
                         latents=noise, generator=gens, output_type="np").frames  # fmt: skip
            for i, v in zip(idx, video, strict=True):
                clip = man["clip"].iloc[i]
                frames = (np.clip(v, 0, 1) * 255).round().astype(np.uint8)
                write_video(tmp / f"{clip}.mp4", frames, rs.fps)
                rows.append({"clip": clip, "episode": man["episode"].iloc[i], "has_cut": bool(man["has_cut"].iloc[i]),
                             "video": str(out_dir / f"{clip}.mp4"),
                             "ground_truth": str(ds.resolve(man["video"].iloc[i]))})  # fmt: skip
                if figure is not None:  # only the frames the figure shows: a full test set does not fit twice
                    gt = sample_frames(read_video(ds.resolve(man["video"].iloc[i])), rs.figure_frames)
                    shown.append((clip, gt, sample_frames(frames, rs.figure_frames)))
        pd.DataFrame(rows).to_parquet(tmp / "reconstructions.parquet")
        if figure is not None:
            from ...plotting import plot_reconstructions

            plot_reconstructions(shown, figure, n_frames=rs.figure_frames,
                                 title=f"{meta['variant']} sub-{meta['subject']}: ground truth | reconstruction")  # fmt: skip
    return {"clips": len(rows), "frames": int(n_frames), "height": int(height), "width": int(width)}
