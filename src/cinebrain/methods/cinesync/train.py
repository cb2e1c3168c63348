"""CineSync's training tasks: the encoder (rule ``cinesync_encoder``) and the decoder (rule ``cinesync_decoder``).

``train_encoder`` is what the launcher runs (in this process, a subprocess or a SLURM job, see
:mod:`cinebrain.launch`): it trains on the subject's training split with :class:`cinebrain.train.Trainer`
(resuming from ``out_dir/checkpoint.pt`` if a previous attempt was pre-empted), then embeds the test
split and scores brain -> video and video -> brain retrieval and 2-way identification against chance
(:mod:`cinebrain.models.retrieval`).  Outputs in ``out_dir`` (the methods' contract,
:mod:`cinebrain.methods.contract`): ``model.safetensors``, ``config.json``, ``metrics.json``,
``metrics.csv`` (the training curve), and ``test_embeddings.npz``.

``train_decoder`` fine-tunes LoRA on CogVideoX (+ the encoder and the adapter) with the fused brain
feature of a trained encoder in place of the text embeddings (:mod:`.decoder`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def embed(model, dataset, batch_size: int = 64, device="cpu") -> dict:
    """Brain, video and (first) caption embeddings of every clip of a ClipDataset (eval mode, no gradients)."""
    import torch

    model.eval()
    out = {"z": [], "video": [], "text": []}
    with torch.no_grad():
        for b in range(0, len(dataset), batch_size):
            batch = torch.utils.data.default_collate([dataset[i] for i in range(b, min(b + batch_size, len(dataset)))])
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            out["z"].append(model(batch, fused=False)["z"].float().cpu().numpy())
            out["video"].append(model.video_embedding(batch["frames"]).float().cpu().numpy())
            if "text" in batch:
                out["text"].append(torch.nn.functional.normalize(batch["text"].float(), dim=-1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items() if v}


def train_encoder(*, variant: str, train_dir, test_dir, model: dict, train: dict, evaluation: dict, out_dir,
                  device: str = "auto", progress: bool = True, roi_sets=None, fmri_augment=None,
                  targets=("video", "text"), text_sources=None, method: str = "cinesync", name: str | None = None) -> dict:  # fmt: skip
    """Train one variant on one subject, evaluate it on the test split; returns the metrics.

    ``model`` / ``train`` / ``evaluation``: the sections ``methods.cinesync.encoder.*`` (keys left out take
    :mod:`.settings`' defaults).  ``roi_sets``: take only the fMRI columns of these ROI sets (CineSync:
    visual; CineSync*: visual + auditory_release); None: every extracted column. ``fmri_augment``: the section's
    training-time fMRI augmentations (:mod:`cinebrain.models.augment`). ``targets``: what the class
    embeddings are contrasted with (``("text",)``: only the captions of ``text_sources``, CineSync's audio
    configuration with the transcripts; retrieval is then scored against the first such caption's
    embedding, and metrics.json says ``retrieval_target: text``). ``method`` / ``name``: the method and
    variant metrics.json names (default: cinesync and ``variant``, the encoder variant, which fixes the
    modalities)."""
    import torch
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...models.augment import augmenting
    from ...models.retrieval import retrieval_scores
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from ..contract import write_metrics
    from .encoder import CineSyncEncoder, loss_fn
    from .settings import CineSyncConfig, EncoderModel, EncoderTrain, Evaluation

    out_dir = Path(out_dir)
    state = setup()
    dev = torch_device(device, state)
    mods = CineSyncConfig(variant=variant).modalities
    roi_sets = list(roi_sets) if roi_sets else None
    targets = tuple(targets)
    train_ds = ClipDataset(train_dir, modalities=mods, targets=("frames", "text"), text_index="random", roi_sets=roi_sets,
                           text_sources=text_sources)  # fmt: skip
    test_ds = ClipDataset(test_dir, modalities=mods, targets=("frames", "text"), text_index=0, roi_sets=roi_sets,
                          text_sources=text_sources)  # fmt: skip
    # the ROI selection is recorded for every variant (an EEG-only model reads no fMRI, but its config says
    # which columns the dataset's fMRI windows would give)
    columns = train_ds.roi_columns(roi_sets) if roi_sets else None
    info = train_ds.info
    frames = train_ds[0]["frames"]
    fmri_shape = (info["fmri"]["Shape"][1], len(columns) if columns is not None else info["fmri"]["Shape"][2])
    cfg = CineSyncConfig(variant=variant, fmri_shape=fmri_shape, eeg_shape=tuple(info["eeg"]["Shape"][1:]) if info.get("eeg") else (),
                         embed_dim=int(frames.shape[-1]), targets=targets, **as_dict(build(EncoderModel, model)))  # fmt: skip
    settings = build(EncoderTrain, train)
    evaluation = build(Evaluation, evaluation)
    torch.manual_seed(settings.seed)
    net = CineSyncEncoder(cfg)
    trainer = Trainer(net, augmenting(loss_fn, fmri_augment), train_ds, settings, out_dir, device=dev, dist=state,
                      progress=progress, fingerprint=split_fingerprint(train_dir))  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    emb = embed(net, test_ds, device=dev)
    target = "video" if "video" in targets else "text"
    scores = retrieval_scores(emb["z"], emb[target], n_candidates=evaluation.n_candidates,
                              repeats=evaluation.repeats, seed=evaluation.seed)  # fmt: skip
    metrics = {"method": method, "variant": name or variant, "subject": info.get("Subject"), "retrieval_target": target,
               "text_sources": list(text_sources) if text_sources else None, "train_clips": len(train_ds),
               "test_clips": len(test_ds), "steps": settings.steps, "roi_sets": list(roi_sets) if roi_sets else None,
               "fmri_columns": int(fmri_shape[1]), **scores}  # fmt: skip
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps({"model": cfg.to_dict(), "train": as_dict(settings),
                                                     "training": trainer.summary}, indent=1, default=list))  # fmt: skip
    np.savez(out_dir / "test_embeddings.npz", brain=emb["z"], video=emb["video"],
             clips=test_ds.manifest["clip"].to_numpy())  # fmt: skip
    write_metrics(metrics, out_dir / "metrics.json")
    # The run is complete: its checkpoint only served pre-emptions (a paper-size one is tens of GB).
    trainer.checkpoint_path.unlink(missing_ok=True)
    return metrics


def train_decoder(*, variant: str, train_dir, encoder_dir, model: dict, train: dict, out_dir, device: str = "auto",
                  progress: bool = True, roi_sets=None) -> dict:  # fmt: skip
    """Rule ``cinesync_decoder``'s task: fine-tune LoRA (+ encoder, adapter) on one subject's training split.

    Writes ``pytorch_lora_weights.safetensors``, ``brain.safetensors``, ``decoder.json`` and
    ``metrics.csv`` (the training curve) to ``out_dir``; resumes from ``out_dir/checkpoint.pt``."""
    import hashlib

    import torch
    from diffusers import CogVideoXPipeline
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...models.lora import lora_metadata
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from .decoder import (
        BRAIN_FILE,
        CONFIG_FILE,
        DecoderError,
        build_decoder,
        caption_targets,
        check_latents,
        encoder_config,
        loss_fn,
        transformer_config,
    )
    from .settings import DecoderConfig, DecoderTrain

    cfg = build(DecoderConfig, model)
    state = setup()
    out_dir, dev = Path(out_dir), torch_device(device, state)
    enc_cfg = encoder_config(Path(encoder_dir) / "config.json")
    roi_sets = list(roi_sets) if roi_sets and "fmri" in enc_cfg.modalities else None
    ds = ClipDataset(train_dir, modalities=enc_cfg.modalities, targets=("latents",), roi_sets=roi_sets)
    columns = ds.fmri_columns
    n_columns = len(columns) if columns is not None else ds.info["fmri"]["Shape"][-1]
    check_latents(ds, transformer_config(cfg.base))  # before loading any weights
    settings = build(DecoderTrain, train)
    torch.manual_seed(settings.seed)
    net, info = build_decoder(cfg, encoder_dir, device=dev, fmri_columns=n_columns)
    if cfg.caption_alignment > 0:  # the captions' text embeddings, the brain feature's auxiliary target
        captions = ds.manifest["caption"] if "caption" in ds.manifest else None
        if captions is None or captions.isna().any() or (captions.astype(str).str.strip() == "").any():
            raise DecoderError(f"{Path(train_dir) / 'manifest.parquet'}: caption alignment needs every training clip's "
                               "caption; fix: give every clip a caption (captions stage) and rebuild the dataset (rule "
                               "data_build), or set methods.cinesync.decoder.model.caption_alignment: 0")  # fmt: skip
        net.align_to_captions(caption_targets(cfg.base, captions.astype(str).tolist(), device=dev), cfg.caption_alignment)
    enc_file = Path(encoder_dir) / "model.safetensors"
    fingerprint = hashlib.sha256(f"{split_fingerprint(train_dir)} {enc_file.stat().st_size} {enc_file.stat().st_mtime_ns} "
                                 f"{info['base_signature']} {variant}".encode()).hexdigest()  # fmt: skip
    trainer = Trainer(net, loss_fn, ds, settings, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=fingerprint)  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    tr = net.transformer
    CogVideoXPipeline.save_lora_weights(
        out_dir, transformer_lora_layers=get_peft_model_state_dict(tr),
        transformer_lora_adapter_metadata=lora_metadata(tr), safe_serialization=True,
    )  # fmt: skip
    save_file(net.brain.state_to_save(), str(out_dir / BRAIN_FILE))
    import pandas as pd

    curve = pd.read_csv(trainer.metrics_path)
    meta = {"variant": variant, "subject": ds.info.get("Subject"), "base": cfg.base, "decoder": as_dict(cfg),
            "train": as_dict(settings), "train_clips": len(ds), "modalities": list(enc_cfg.modalities),
            "fmri_columns": None if columns is None else [int(c) for c in columns],
            "roi_sets": list(roi_sets) if roi_sets else None, "final_loss": float(curve["loss"].iloc[-1]),
            "training": trainer.summary, **info,
            "gradient_checkpointing": net.checkpointing.state() if net.checkpointing is not None else None}  # fmt: skip
    (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=1, default=list))
    trainer.checkpoint_path.unlink(missing_ok=True)
    return meta
