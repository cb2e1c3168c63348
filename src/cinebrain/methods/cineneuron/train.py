"""CineNeuron's training tasks: stage 1 (rule ``cineneuron_brain``), the memory pool, stage 2; and their scores.

``train_brain`` trains the Brain Model (:mod:`.brain`) on one subject's training split with
:class:`cinebrain.train.Trainer` (resume, DDP), then scores the test split: retrieval of the clip's
consolidated image embedding from the global token's projection and back (supplementary C.10:
fMRI -> image and image -> fMRI top-1 among 300 random test clips, averaged over draws — the shared
:func:`cinebrain.models.retrieval.retrieval_scores`, the same conventions as CineSync's), and the category
head per superclass (Tab. S13, :func:`category_scores`). Outputs in ``out_dir`` follow the methods'
contract: ``model.safetensors``, ``config.json``, ``metrics.json``, ``metrics.csv``, and
``test_embeddings.npz`` (the brain's semantic, action and category outputs of every test clip, and the
clips' image embeddings).

``build_memory`` (rule ``cineneuron_memory``) makes the Mixture-of-Memories' pool of one
subject's *training* clips (:class:`.memory.MemoryPool`): each clip's first caption's CLIP embedding, its
frames aggregated by the stage-1 Brain Model's projection head, its action embedding, and its first
caption encoded by the Wan pipeline's own text encoder (the decoder's text condition); extra memories
(supplementary C.4) are appended; a test clip among them is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: What the Brain Model reads of a clip dataset.
TARGETS = ("frames", "text", "action", "categories")


def category_scores(logits: np.ndarray, targets: np.ndarray, names: list[str]) -> dict:
    """Per superclass (Tab. S13): accuracy of the thresholded prediction (logit > 0), the share of clips
    that have the class (``prevalence``: a classifier that always says no scores 1 - prevalence), precision,
    recall and F1 of the positive class (None where undefined); and their means over the classes."""
    pred, y = np.asarray(logits) > 0, np.asarray(targets) > 0.5
    rows = {}
    for j, name in enumerate(names):
        tp, fp, fn = int((pred[:, j] & y[:, j]).sum()), int((pred[:, j] & ~y[:, j]).sum()), int((~pred[:, j] & y[:, j]).sum())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if tp + fp and tp + fn else None)
        rows[name] = {"accuracy": float((pred[:, j] == y[:, j]).mean()), "prevalence": float(y[:, j].mean()),
                      "precision": precision, "recall": recall, "f1": f1}  # fmt: skip
    def average(key):
        values = [r[key] for r in rows.values() if r[key] is not None]
        return float(np.mean(values)) if values else None

    mean = {k: average(k) for k in ("accuracy", "prevalence", "f1")}
    return {"classes": rows, "mean": mean, "clips": int(len(y))}


def embed(model, dataset, batch_size: int = 64, device="cpu") -> dict:
    """The Brain Model's outputs and the consolidated image embedding of every clip (eval, no gradients)."""
    import torch

    model.eval()
    out = {"semantic": [], "action": [], "logits": [], "image": [], "categories": []}
    with torch.no_grad():
        for b in range(0, len(dataset), batch_size):
            batch = torch.utils.data.default_collate([dataset[i] for i in range(b, min(b + batch_size, len(dataset)))])
            res = model(batch["fmri"].to(device))
            for k in ("semantic", "action", "logits"):
                out[k].append(res[k].float().cpu().numpy())
            out["image"].append(model.image_embedding(batch["frames"].to(device)).float().cpu().numpy())
            out["categories"].append(batch["categories"].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def train_brain(*, train_dir, test_dir, model: dict, train: dict, evaluation: dict, out_dir, device: str = "auto",
                progress: bool = True, roi_sets=None, fmri_augment=None) -> dict:  # fmt: skip
    """Train one subject's Brain Model and score it on the test split; returns the metrics.

    ``model`` / ``train`` / ``evaluation``: the sections ``methods.cineneuron.brain.*`` (keys left out take
    :mod:`.settings`' defaults); ``roi_sets``: the fMRI columns by ROI set (None: all); ``fmri_augment``: the
    training-time fMRI augmentations (:mod:`cinebrain.models.augment`)."""
    import torch
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...models.augment import augmenting
    from ...models.retrieval import retrieval_scores
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from ..contract import write_metrics
    from .brain import BrainModel, check_batch, loss_fn
    from .settings import BrainModelConfig, BrainModelSettings, BrainTrain, Evaluation

    out_dir = Path(out_dir)
    state = setup()
    dev = torch_device(device, state)
    roi_sets = list(roi_sets) if roi_sets else None
    train_ds = ClipDataset(train_dir, modalities=("fmri",), targets=TARGETS, text_index="random", roi_sets=roi_sets)
    test_ds = ClipDataset(test_dir, modalities=("fmri",), targets=TARGETS, text_index=0, roi_sets=roi_sets)
    first = train_ds[0]
    cfg = BrainModelConfig(fmri_shape=tuple(first["fmri"].shape), embed_dim=int(first["frames"].shape[-1]),
                           action_dim=int(first["action"].shape[-1]), n_classes=int(first["categories"].shape[-1]),
                           **as_dict(build(BrainModelSettings, model)))  # fmt: skip
    for ds, split in ((train_ds, train_dir), (test_ds, test_dir)):
        item = torch.utils.data.default_collate([ds[0]])
        check_batch(item, cfg, str(split))
    settings = build(BrainTrain, train)
    evaluation = build(Evaluation, evaluation)
    torch.manual_seed(settings.seed)
    net = BrainModel(cfg)
    trainer = Trainer(net, augmenting(loss_fn, fmri_augment), train_ds, settings, out_dir, device=dev, dist=state,
                      progress=progress, fingerprint=split_fingerprint(train_dir))  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    emb = embed(net, test_ds, device=dev)
    scores = retrieval_scores(emb["semantic"], emb["image"], n_candidates=evaluation.n_candidates,
                              repeats=evaluation.repeats, seed=evaluation.seed)  # fmt: skip
    names = [c.removeprefix("cat_") for c in test_ds.cat_columns]
    metrics = {"method": "cineneuron", "variant": "cineneuron", "subject": train_ds.info.get("Subject"),
               "train_clips": len(train_ds), "test_clips": len(test_ds), "steps": settings.steps,
               "roi_sets": roi_sets, "fmri_columns": int(cfg.fmri_shape[1]), **scores,
               "categories": category_scores(emb["logits"], emb["categories"], names)}  # fmt: skip
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(out_dir / "model.safetensors"))
    columns = train_ds.fmri_columns
    (out_dir / "config.json").write_text(json.dumps({"model": cfg.to_dict(), "train": as_dict(settings), "roi_sets": roi_sets,
                                                     "fmri_columns": None if columns is None else columns.tolist(),
                                                     "training": trainer.summary}, indent=1, default=list))  # fmt: skip
    np.savez(out_dir / "test_embeddings.npz", clips=test_ds.manifest["clip"].to_numpy(),
             **{k: emb[k] for k in ("semantic", "action", "logits", "image")})  # fmt: skip
    write_metrics(metrics, out_dir / "metrics.json")
    trainer.checkpoint_path.unlink(missing_ok=True)  # complete: the checkpoint only served pre-emptions
    return metrics


def _feature_model(dataset, kind: str) -> str | None:
    """The model that made a dataset's features of ``kind`` (from the first file's metadata)."""
    from safetensors import safe_open

    col = f"{kind}_file"
    if col not in dataset.manifest:
        return None
    with safe_open(str(dataset.resolve(dataset.manifest[col].iloc[0])), framework="numpy") as f:
        return json.loads((f.metadata() or {}).get("model", "null"))


def build_memory(*, train_dir, test_dir, brain_dir, base: str, out, tokens: int = 512, extra=None, device: str = "cpu",
                 batch_size: int = 64) -> dict:  # fmt: skip
    """The memory pool of one subject's training clips (``out``: safetensors), built with the stage-1
    Brain Model in ``brain_dir`` and the Wan pipeline ``base`` (its text encoder); ``extra``: a pool file of
    extra clips' memories to append. Returns a summary (entries, models, condition shape)."""
    import torch

    from ...data import ClipDataset
    from ...train.distributed import torch_device
    from .brain import load_brain
    from .decoder import caption_conditions
    from .memory import MemoryPool

    device = torch_device(device)
    ds = ClipDataset(train_dir, modalities=(), targets=("frames", "text", "action"), text_index=0)
    brain = load_brain(brain_dir, device)
    rows = {"text": [], "image": [], "action": []}
    # the memory holds each training clip once: a clip seen in several runs (kept repeats, data.repeats) is one
    # stimulus, its entries the same
    unique = np.flatnonzero(~ds.manifest["clip"].duplicated().to_numpy())
    with torch.no_grad():
        for b in range(0, len(unique), batch_size):
            batch = torch.utils.data.default_collate([ds[int(i)] for i in unique[b : b + batch_size]])
            rows["image"].append(brain.image_embedding(batch["frames"].to(device)).float().cpu())
            rows["text"].append(batch["text"].float())
            rows["action"].append(batch["action"].float())
    captions = [ds.captions()[i] for i in unique]
    models = {"embedder": _feature_model(ds, "embed"), "action": _feature_model(ds, "action"), "decoder_text": str(base)}
    pool = MemoryPool(ds.manifest["clip"].astype(str).iloc[unique].tolist(), models=models,
                      condition=caption_conditions(base, captions, tokens, device=device),
                      **{k: torch.cat(v) for k, v in rows.items()})  # fmt: skip
    if extra:
        pool = pool.extend(MemoryPool.load(extra))
    test = ClipDataset(test_dir, modalities=()).manifest["clip"].astype(str).tolist()
    pool.check_disjoint(test, where=f"memory pool of {train_dir}" + (f" + {extra}" if extra else ""))
    pool.save(out)
    return {"entries": len(pool), "models": models, "condition": list(pool.condition.shape[1:])}


def brain_columns(brain_dir) -> list | None:
    """The fMRI columns (indices into the dataset's) a stage-1 Brain Model was trained on (None: all)."""
    return json.loads((Path(brain_dir) / "config.json").read_text()).get("fmri_columns")


DECODER_CONFIG = "decoder.json"
DECODER_STATE = "brain.safetensors"  # the Brain Model and the Mixture-of-Memories after stage 2


def build_decoder(*, brain_dir, memory_file, model: dict, memory: dict, device="cpu", dataset=None):
    """The stage-2 model: the stage-1 Brain Model of ``brain_dir``, a Mixture-of-Memories over the pool in
    ``memory_file``, and the Wan transformer of ``model['base']`` with LoRA. ``dataset``: the training
    split (its rows' pool indices, so that a clip never retrieves itself, and its latents' normalisation).
    Returns (NeuronDecoder, info for decoder.json)."""
    from ...features import latent_normalisation, read_features
    from ...settings import as_dict, build
    from .brain import load_brain
    from .decoder import NeuronDecoder, add_lora, decoder_info, load_wan
    from .memory import MemoryPool, MixtureOfMemories
    from .settings import DecoderModelSettings, MemorySettings

    cfg, mem = build(DecoderModelSettings, model), build(MemorySettings, memory)
    brain = load_brain(brain_dir, device).train()
    pool = MemoryPool.load(memory_file)
    wan = load_wan(cfg.base, device)
    tr = add_lora(wan.transformer, rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=cfg.lora_targets)
    if pool.condition.shape[-1] != tr.config.text_dim:
        raise ValueError(f"{memory_file}: text conditions of width {pool.condition.shape[-1]}, the Wan transformer of "
                         f"{cfg.base} takes {tr.config.text_dim}; fix: rebuild the pool with this base's text encoder")  # fmt: skip
    bc = brain.cfg
    mom = MixtureOfMemories(width=bc.width, n_tokens=bc.n_tokens, embed_dim=bc.embed_dim, action_dim=bc.action_dim,
                            cond_tokens=pool.condition.shape[1], cond_dim=pool.condition.shape[2], top_k=mem.top_k,
                            balance=mem.balance, heads=mem.heads, score_bias=mem.score_bias)  # fmt: skip
    shift, scale, rows = np.zeros(1, np.float32), np.ones(1, np.float32), None
    if dataset is not None:  # the pool's memories made by the models of the features the decoder trains on
        pool.check_models({"embedder": _feature_model(dataset, "embed"), "action": _feature_model(dataset, "action"),
                           "decoder_text": str(cfg.base)}, where=str(memory_file),
                          against=f"the decoder trains on {dataset.root} with")  # fmt: skip
        _, meta = read_features(dataset.resolve(dataset.manifest[f"{dataset.latents_kind}_file"].iloc[0]))
        shift, scale = latent_normalisation(meta)
        index = {c: i for i, c in enumerate(pool.clips)}
        rows = [index.get(str(c), -1) for c in dataset.manifest["clip"]]
    net = NeuronDecoder(brain, mom, tr, pool, shift=np.broadcast_to(shift, (tr.config.in_channels,)).copy(),
                        scale=np.broadcast_to(scale, (tr.config.in_channels,)).copy(), flow_shift=cfg.flow_shift,
                        stage1_weight=cfg.stage1_weight, pool_rows=rows).to(device)  # fmt: skip
    info = {**decoder_info(cfg.base, tr), "decoder": as_dict(cfg), "memory": as_dict(mem), "brain": bc.to_dict(),
            "pool": {"file": str(memory_file), "entries": len(pool), "models": pool.models},
            "latents": {"shift": net.shift.flatten().tolist(), "scale": net.scale.flatten().tolist()}}  # fmt: skip
    return net, info


def train_decoder(*, train_dir, brain_dir, memory_file, model: dict, memory: dict, train: dict, out_dir,
                  device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Stage 2 (rule ``cineneuron_decoder``): the Brain Model, router, fusion and LoRA trained
    jointly on one subject's training split (Wan latents from the features stage, never re-encoded).
    Writes ``pytorch_lora_weights.safetensors`` (diffusers' format), ``brain.safetensors`` (Brain Model and
    Mixture-of-Memories), ``decoder.json`` and ``metrics.csv``; resumes from ``out_dir/checkpoint.pt``."""
    import hashlib

    import torch
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from .decoder import check_wan_latents, loss_fn, save_lora, wan_transformer_config
    from .settings import DecoderModelSettings, DecoderTrain

    cfg = build(DecoderModelSettings, model)
    state = setup()
    out_dir, dev = Path(out_dir), torch_device(device, state)
    columns = brain_columns(brain_dir)
    ds = ClipDataset(train_dir, modalities=("fmri",), targets=(*TARGETS, "latents"), text_index="random",
                     latents="wan_latents", fmri_columns=columns)  # fmt: skip
    check_wan_latents(ds.manifest, ds.root, wan_transformer_config(cfg.base), base=cfg.base)  # before loading weights
    settings = build(DecoderTrain, train)
    torch.manual_seed(settings.seed)
    net, info = build_decoder(brain_dir=brain_dir, memory_file=memory_file, model=model, memory=memory, device=dev,
                              dataset=ds)  # fmt: skip
    brain_file, pool_file = Path(brain_dir) / "model.safetensors", Path(memory_file)
    key = " ".join([split_fingerprint(train_dir), *(f"{f.stat().st_size} {f.stat().st_mtime_ns}" for f in (brain_file, pool_file)),
                    json.dumps(info["transformer"], sort_keys=True)])  # fmt: skip
    trainer = Trainer(net, loss_fn, ds, settings, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=hashlib.sha256(key.encode()).hexdigest())  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    save_lora(net.transformer, out_dir)
    state_dict = {f"brain.{k}": v for k, v in net.brain.state_dict().items()}
    state_dict |= {f"memory.{k}": v for k, v in net.memory.state_dict().items()}
    save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, str(out_dir / DECODER_STATE))
    import pandas as pd

    curve = pd.read_csv(trainer.metrics_path)
    meta = {"method": "cineneuron", "subject": ds.info.get("Subject"), "train": as_dict(settings),
            "train_clips": len(ds), "final_loss": float(curve["loss"].iloc[-1]), "fmri_columns": columns,
            "training": trainer.summary, **info}  # fmt: skip
    (out_dir / DECODER_CONFIG).write_text(json.dumps(meta, indent=1, default=list))
    trainer.checkpoint_path.unlink(missing_ok=True)
    return meta
