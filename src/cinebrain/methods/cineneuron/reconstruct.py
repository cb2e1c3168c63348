"""CineNeuron's reconstructions (rule ``cineneuron_reconstruct``): every test clip decoded from
its fMRI through the trained Brain Model, the Mixture-of-Memories and Wan2.1 with the LoRA adapter, into
the methods' contract (:mod:`cinebrain.methods.contract`), so that the benchmark and its controls score it
with no CineNeuron-specific code.

Sampling is WanPipeline's own (UniPC flow sampler, classifier-free guidance against a zeroed condition),
with the fused embedding as ``prompt_embeds``. Every clip starts from the same seeded noise, so a
reconstruction depends on its clip only through the clip's fMRI (the contract's requirement for the
shuffled-brain control); the no-brain control decodes the mean fused condition of the training clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def load_trained(decoder_dir, device="cpu"):
    """(pipeline with the LoRA loaded, NeuronDecoder (eval), decoder.json) of a trained stage 2."""
    from cinebrain.integrity import load_safetensors

    from .brain import BrainModel, BrainModelConfig
    from .decoder import NeuronDecoder, load_wan
    from .memory import MemoryPool, MixtureOfMemories
    from .train import DECODER_CONFIG, DECODER_STATE

    decoder_dir = Path(decoder_dir)
    meta = json.loads((decoder_dir / DECODER_CONFIG).read_text())
    pipe = load_wan(meta["base"], device)
    signature = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(pipe.transformer.config).items()
                 if k in meta["transformer"]}  # fmt: skip
    if signature != meta["transformer"]:
        raise ValueError(f"{decoder_dir / DECODER_CONFIG}: trained on a Wan transformer {meta['transformer']}, {meta['base']} "
                         f"now holds {signature}; fix: the base the adapter was trained on")  # fmt: skip
    pipe.load_lora_weights(str(decoder_dir))
    bc = meta["brain"]
    brain = BrainModel(BrainModelConfig(**{k: tuple(v) if k == "fmri_shape" else v for k, v in bc.items()}))
    pool = MemoryPool.load(meta["pool"]["file"])
    mem = meta["memory"]
    mom = MixtureOfMemories(width=brain.cfg.width, n_tokens=brain.cfg.n_tokens, embed_dim=brain.cfg.embed_dim,
                            action_dim=brain.cfg.action_dim, cond_tokens=pool.condition.shape[1],
                            cond_dim=pool.condition.shape[2], top_k=mem["top_k"], balance=mem["balance"],
                            heads=mem["heads"], score_bias=mem["score_bias"])  # fmt: skip
    net = NeuronDecoder(brain, mom, pipe.transformer, pool, shift=meta["latents"]["shift"], scale=meta["latents"]["scale"])
    state = load_safetensors(decoder_dir / DECODER_STATE)
    brain.load_state_dict({k.removeprefix("brain."): v for k, v in state.items() if k.startswith("brain.")})
    mom.load_state_dict({k.removeprefix("memory."): v for k, v in state.items() if k.startswith("memory.")})
    return pipe, net.to(device).eval(), meta


def conditions(net, dataset, batch_size: int = 16, device="cpu") -> torch.Tensor:
    """The fused condition (N, tokens, width) of every clip of ``dataset`` (no clip excluded from the pool:
    at test time the pool holds training clips only)."""
    out = []
    with torch.no_grad():
        for b in range(0, len(dataset), batch_size):
            fmri = torch.stack([dataset[i]["fmri"] for i in range(b, min(b + batch_size, len(dataset)))]).to(device)
            out.append(net.condition(fmri)["condition"].float().cpu())
    return torch.cat(out)


def sample(pipe, cond, rs, n_frames: int, height: int, width: int, device) -> list[np.ndarray]:
    """uint8 (F, H, W, 3) videos of the conditions ``cond`` (B, L, D) by WanPipeline, CFG against zeros,
    every video from the same seeded noise (so videos differ by their condition only)."""
    sf, tf = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
    shape = (1, pipe.transformer.config.in_channels, (n_frames - 1) // tf + 1, height // sf, width // sf)
    noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(rs.seed)) for _ in range(len(cond))])
    video = pipe(prompt_embeds=cond.to(device, pipe.transformer.dtype),
                 negative_prompt_embeds=torch.zeros_like(cond).to(device, pipe.transformer.dtype), num_frames=n_frames,
                 height=height, width=width, num_inference_steps=rs.steps, guidance_scale=rs.guidance_scale,
                 latents=noise.to(device, pipe.transformer.dtype), output_type="np").frames  # fmt: skip
    return [(np.clip(v, 0, 1) * 255).round().astype(np.uint8) for v in video]


def reconstruct(*, decoder_dir, test_dir, train_dir, out_dir, settings: dict, device: str = "auto",
                progress: bool = True) -> dict:  # fmt: skip
    """Every test clip of ``test_dir`` decoded into ``out_dir/<clip>.mp4`` (the ground truth's frame count and
    size), ``out_dir/no_brain.mp4`` (the mean training condition) and ``reconstructions.parquet``; the
    folder appears complete or not at all."""
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...settings import build
    from ...stimuli import read_video, write_video
    from ...train.distributed import torch_device
    from .settings import ReconstructSettings

    rs = build(ReconstructSettings, settings)
    dev, out_dir = torch_device(device), Path(out_dir)
    pipe, net, meta = load_trained(decoder_dir, dev)
    columns = meta.get("fmri_columns")  # the Brain Model's ROI selection
    test = ClipDataset(test_dir, modalities=("fmri",), fmri_columns=columns)
    train = ClipDataset(train_dir, modalities=("fmri",), fmri_columns=columns)
    net.pool.check_disjoint(test.manifest["clip"].astype(str), where=meta["pool"]["file"])
    man = test.manifest
    n_frames, height, width = read_video(test.resolve(man["video"].iloc[0])).shape[:3]
    cond = conditions(net, test, device=dev)
    no_brain = conditions(net, train, device=dev).mean(0, keepdim=True)
    with atomic_dir(out_dir) as tmp:
        for b in tqdm(range(0, len(man), rs.batch_size), desc="CineNeuron reconstructions", disable=not progress):
            for clip, frames in zip(man["clip"].iloc[b : b + rs.batch_size],
                                    sample(pipe, cond[b : b + rs.batch_size], rs, n_frames, height, width, dev),
                                    strict=True):  # fmt: skip
                write_video(tmp / f"{clip}.mp4", frames, rs.fps)
        write_video(tmp / "no_brain.mp4", sample(pipe, no_brain, rs, n_frames, height, width, dev)[0], rs.fps)
        table = man[["clip", "episode", "has_cut"]].copy()
        table["video"] = [str(out_dir / f"{c}.mp4") for c in man["clip"]]
        table["ground_truth"] = [str(test.resolve(v)) for v in man["video"]]
        table["no_brain"] = str(out_dir / "no_brain.mp4")
        table.to_parquet(tmp / "reconstructions.parquet")
    return {"clips": len(man), "frames": n_frames, "size": [height, width]}
