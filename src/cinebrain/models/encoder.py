"""Train and evaluate a CineSync encoder variant on one subject (the task of rule ``encoder_train``).

``train_encoder`` is what the launcher runs (in this process, a subprocess or a SLURM job, see
:mod:`cinebrain.launch`): it trains on the subject's training split with :class:`cinebrain.train.Trainer`
(resuming from ``out_dir/checkpoint.pt`` if a previous attempt was pre-empted), then embeds the test
split and scores brain -> video and video -> brain retrieval and 2-way identification against chance
(:mod:`cinebrain.models.retrieval`).  Outputs in ``out_dir``: ``model.safetensors``, ``config.json``,
``metrics.json``, ``metrics.csv`` (the training curve), ``test_embeddings.npz``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _device(name: str, dist=None):
    """The torch device of ``name`` ("auto": cuda when there is a GPU, else cpu); under torch.distributed a
    bare "cuda" becomes this process's GPU (cuda:LOCAL_RANK): SLURM shows every task all of a node's GPUs."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist is not None and dist.world_size > 1:
        name = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(dist.local_rank)
    return name


def embed(model, dataset, batch_size: int = 64, device="cpu") -> dict:
    """Brain and video embeddings of every clip of a ClipDataset (eval mode, no gradients)."""
    import torch

    model.eval()
    out = {"z": [], "video": []}
    with torch.no_grad():
        for b in range(0, len(dataset), batch_size):
            batch = torch.utils.data.default_collate([dataset[i] for i in range(b, min(b + batch_size, len(dataset)))])
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            out["z"].append(model(batch, fused=False)["z"].float().cpu().numpy())
            out["video"].append(model.video_embedding(batch["frames"]).float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def train_encoder(*, variant: str, train_dir, test_dir, model: dict, train: dict, evaluation: dict, out_dir,
                  device: str = "auto", progress: bool = True, roi_sets=None, roi_columns=None) -> dict:  # fmt: skip
    """Train one variant on one subject, evaluate it on the test split; returns the metrics.

    ``roi_sets`` (with ``roi_columns``, the fMRI stage's ``roi_columns.json``): take only the fMRI columns of
    these ROI sets (CineSync: visual; CineSync*: visual + auditory_release); None: every extracted column."""
    import torch
    from safetensors.torch import save_file

    from ..data import ClipDataset
    from ..train import Trainer, TrainSettings
    from ..train.distributed import setup
    from .cinesync import CineSyncConfig, CineSyncEncoder, loss_fn
    from .retrieval import retrieval_scores

    out_dir = Path(out_dir)
    state = setup()
    dev = _device(device, state)
    mods = CineSyncConfig(variant=variant).modalities
    columns = _roi_columns(roi_sets, roi_columns, train_dir)
    train_ds = ClipDataset(train_dir, modalities=mods, targets=("frames", "text"), text_index="random", fmri_columns=columns)
    test_ds = ClipDataset(test_dir, modalities=mods, targets=("frames", "text"), text_index=0, fmri_columns=columns)
    info = train_ds.info
    frames = train_ds[0]["frames"]
    fmri_shape = (info["fmri"]["Shape"][1], len(columns) if columns is not None else info["fmri"]["Shape"][2])
    cfg = CineSyncConfig(variant=variant, fmri_shape=fmri_shape,
                         eeg_shape=tuple(info["eeg"]["Shape"][1:]), embed_dim=int(frames.shape[-1]), **model)  # fmt: skip
    settings = TrainSettings(**{**train, "betas": tuple(train.get("betas", (0.9, 0.999)))})
    torch.manual_seed(settings.seed)
    net = CineSyncEncoder(cfg)
    trainer = Trainer(net, loss_fn, train_ds, settings, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=_fingerprint(train_dir))  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    emb = embed(net, test_ds, device=dev)
    scores = retrieval_scores(emb["z"], emb["video"], n_candidates=evaluation.get("n_candidates", 300),
                              repeats=evaluation.get("repeats", 20), seed=evaluation.get("seed", 0))  # fmt: skip
    metrics = {"variant": variant, "subject": info.get("Subject"), "train_clips": len(train_ds),
               "test_clips": len(test_ds), "steps": settings.steps, "roi_sets": list(roi_sets) if roi_sets else None,
               "fmri_columns": int(fmri_shape[1]), **scores}  # fmt: skip
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps({"model": cfg.to_dict(), "train": {**train}}, indent=1, default=list))
    np.savez(out_dir / "test_embeddings.npz", brain=emb["z"], video=emb["video"],
             clips=test_ds.manifest["clip"].to_numpy())  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    # The run is complete: its checkpoint only served pre-emptions (a paper-size one is tens of GB).
    trainer.checkpoint_path.unlink(missing_ok=True)
    return metrics


def _roi_columns(roi_sets, roi_columns, split_dir):
    """Column indices of ``roi_sets`` in a split's fMRI windows (None: all), checked against the split."""
    if not roi_sets:
        return None
    if roi_columns is None:
        raise ValueError("encoder.roi_sets needs the fMRI stage's roi_columns.json (argument roi_columns)")
    from ..fmri.rois import column_subset

    n = json.loads((Path(split_dir) / "dataset.json").read_text())["fmri"]["Shape"][-1]
    return column_subset(roi_columns, roi_sets, n_columns=n)


def _fingerprint(split_dir) -> str:
    """Hash of a split's manifest and description: a checkpoint of other data is not resumed."""
    import hashlib

    h = hashlib.sha256()
    for name in ("manifest.parquet", "dataset.json"):
        h.update((Path(split_dir) / name).read_bytes())
    return h.hexdigest()
