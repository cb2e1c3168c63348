"""Brain Netflix's training tasks, one per rule, each through :class:`cinebrain.train.Trainer` (resume, DDP).

A *pool* (:func:`.settings.pool_name`) is the set of subjects whose data trains a model: one subject
(``sub-XX``), all the method's subjects (``all``), or all but one (``loso-XX``, the held-out subject's files are
never inputs; :func:`cinebrain.data.check_subject_leakage` stops a task given them).

``train_stage1`` (rule ``brainflix_stage1``): MBM over the pool's fMRI samples that need no stimulus — every
non-test run's volumes averaged over a sliding window of ``mbm.pool.window`` volumes — then the alignment: the
clip's fMRI vector (its lagged volumes averaged, the same scale) contrasted with one of its caption embeddings,
the MBM loss kept. Writes ``stage1.safetensors``, ``stage1.json`` (shapes, the pool, every file read) and the
curves ``mbm.csv``, ``align.csv``.

``train_regression`` (rule ``brainflix_regress``): the stage-1 embeddings of the pool's training clips regressed
to their latents z and BLIP embeddings b by every configured backbone (``regress_<backbone>_<z|b>.safetensors``,
``regress.json``).

``predict`` (rule ``brainflix_predict``): one subject's test clips through stage 1 and 2 into the methods'
contract folder: ``metrics.json`` (retrieval of the clips' video embeddings from the caption-space projection,
and the regression MSE of every backbone on z and b as 5.2 reports it), ``config.json``, ``metrics.csv`` (both
stage-1 curves), ``predictions.safetensors`` (the first backbone's z and b of every test clip and of the
no-brain control, the mean training embedding of the pool).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

STAGE1_FILE, STAGE1_CONFIG = "stage1.safetensors", "stage1.json"
REGRESS_CONFIG = "regress.json"
PREDICTIONS = "predictions.safetensors"
TARGETS = ("z", "b")


def _loss_fn(model, batch):
    return model.loss(batch)


def pool_columns(train_dirs: dict, roi_sets) -> tuple[np.ndarray | None, int]:
    """(the fMRI columns the model takes — None: all — , the datasets' column count); an error names a subject
    whose dataset has other ROI columns than the first's (the pooled model needs the same grayordinates)."""
    from ...data import COLUMNS_FILE, ClipDataset

    first_sub, first = next(iter(train_dirs.items()))
    ref = (Path(first) / COLUMNS_FILE).read_bytes() if (Path(first) / COLUMNS_FILE).exists() else None
    for sub, d in train_dirs.items():
        path = Path(d) / COLUMNS_FILE
        have = path.read_bytes() if path.exists() else None
        if have != ref:
            raise ValueError(f"{path}: sub-{sub}'s fMRI columns differ from sub-{first_sub}'s ({Path(first) / COLUMNS_FILE}); "
                             "a model pooled over subjects needs the same grayordinates for every subject; fix: extract "
                             "every subject with the same fmri.roi_sets (fsLR 91k) and rebuild the datasets")  # fmt: skip
    ds = ClipDataset(first, modalities=("fmri",), roi_sets=list(roi_sets) if roi_sets else None)
    return ds.fmri_columns, int(ds.arrays["fmri"].shape[-1])


def mbm_samples(runs, window: int, stride: int, columns, n_columns: int) -> tuple[np.ndarray, np.ndarray, list]:
    """(samples (N, V), subject index (N,), the files read) of ``runs`` — [(subject index, path of a (T, V) ROI time
    series)] — each sample the mean of ``window`` consecutive volumes, every ``stride`` volumes."""
    out, subj, read = [], [], []
    for k, path in runs:
        x = np.load(path, mmap_mode="r")
        read.append(str(path))
        if x.ndim != 2 or x.shape[1] != n_columns:
            raise ValueError(f"{path}: an fMRI run of shape {x.shape}; the datasets have {n_columns} columns; fix: rebuild "
                             "the run and the datasets from the same fMRI stage")  # fmt: skip
        if len(x) < window:
            continue
        x = np.asarray(x if columns is None else x[:, columns], np.float32)
        c = np.cumsum(np.vstack([np.zeros((1, x.shape[1]), np.float32), x]), axis=0)
        starts = np.arange(0, len(x) - window + 1, stride)
        out.append((c[starts + window] - c[starts]) / window)
        subj.append(np.full(len(starts), k))
    if not out:
        raise ValueError(f"no MBM samples: every run is shorter than the {window}-volume window; fix: a smaller "
                         "methods.brainflix.mbm.pool.window")  # fmt: skip
    return np.concatenate(out), np.concatenate(subj), read


class Rows(torch.utils.data.Dataset):
    def __init__(self, **arrays):
        self.arrays = {k: torch.as_tensor(v) for k, v in arrays.items()}

    def __len__(self):
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.arrays.items()}


class ClipVectors(torch.utils.data.Dataset):
    """A subject's clips as (fMRI vector: the lagged volumes averaged, one caption embedding, subject index)."""

    def __init__(self, dataset, subject: int):
        self.dataset, self.subject = dataset, subject

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        return {"fmri": item["fmri"].float().mean(0), "text": item["text"].float(), "subject": self.subject}


class Mbm(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def loss(self, batch):
        loss = self.model.mbm_loss(batch["fmri"].float(), batch["subject"])
        return loss, {"mbm": loss.detach()}


class Align(nn.Module):
    def __init__(self, model, mbm_weight: float):
        super().__init__()
        self.model, self.mbm_weight = model, float(mbm_weight)

    def loss(self, batch):
        fmri, subject = batch["fmri"].float(), batch["subject"]
        con = self.model.contrastive(fmri, batch["text"], subject)
        mbm = self.model.mbm_loss(fmri, subject) if self.mbm_weight else torch.zeros((), device=fmri.device)
        return con + self.mbm_weight * mbm, {"contrastive": con.detach(), "mbm": mbm.detach()}


def _settings(settings: dict):
    from ...settings import build
    from .settings import Settings

    return build(Settings, settings)


def train_stage1(*, runs: list, train_dirs: dict, settings: dict, out_dir, held_out: str | None = None,
                 device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Stage 1 of a pool (module docstring). ``runs``: [[subject, ROI time-series path]] of the MBM pool;
    ``train_dirs``: {subject: training split} of the alignment; ``held_out``: the subject a loso pool leaves out."""
    from safetensors.torch import save_file

    from ...data import ClipDataset, check_subject_leakage
    from ...settings import as_dict
    from ...train import Trainer
    from ...train.distributed import setup, torch_device
    from .mbm import build

    s = _settings(settings)
    subjects = [str(k) for k in train_dirs]
    check_subject_leakage(held_out, subjects + [str(r[0]) for r in runs], where=f"{out_dir}: stage 1")
    unknown = sorted({str(r[0]) for r in runs} - set(subjects))
    if unknown:
        raise ValueError(f"{out_dir}: MBM runs of sub-{', sub-'.join(unknown)}, which has no training split in this pool")
    state = setup()
    dev, out_dir = torch_device(device, state), Path(out_dir)
    columns, n_columns = pool_columns(train_dirs, s.roi_sets)
    aligned = [ClipDataset(d, modalities=("fmri",), targets=("text",), text_index="random", fmri_columns=columns)
               for d in train_dirs.values()]  # fmt: skip
    volumes = int(aligned[0].arrays["fmri"].shape[1])
    window = s.mbm.pool.window or volumes
    x, subj, read = mbm_samples([(subjects.index(str(sub)), p) for sub, p in runs], window, s.mbm.pool.stride, columns,
                                n_columns)  # fmt: skip
    read += [str(Path(d) / f) for d in train_dirs.values() for f in ("manifest.parquet", "fmri.npy")]
    cfg = {"method": "brainflix", "model": as_dict(s.mbm.model), "temperature": s.align.temperature,
           "shapes": {"voxels": int(x.shape[1]), "embed_dim": int(aligned[0][0]["text"].shape[-1]), "subjects": subjects,
                      "volumes": volumes},
           "fmri_columns": None if columns is None else columns.tolist(), "held_out": held_out,
           "pool": {"window": window, "stride": s.mbm.pool.stride, "samples": int(len(x)), "runs": len(runs)},
           "read": read}  # fmt: skip
    torch.manual_seed(s.mbm.train.seed)
    model = build(cfg["shapes"], cfg["model"], s.align.temperature)
    Trainer(Mbm(model), _loss_fn, Rows(fmri=x, subject=subj), s.mbm.train, out_dir / "mbm", device=dev, dist=state,
            progress=progress).fit()  # fmt: skip
    clips = torch.utils.data.ConcatDataset([ClipVectors(d, k) for k, d in enumerate(aligned)])
    Trainer(Align(model, s.align.mbm_weight), _loss_fn, clips, s.align.train, out_dir / "align", device=dev, dist=state,
            progress=progress).fit()  # fmt: skip
    if not state.is_main:
        return {}
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out_dir / STAGE1_FILE))
    for name in ("mbm", "align"):
        shutil.copyfile(out_dir / name / "metrics.csv", out_dir / f"{name}.csv")
    (out_dir / STAGE1_CONFIG).write_text(json.dumps(cfg, indent=1))
    return {"samples": len(x), "clips": len(clips)}


def load_stage1(stage1_dir, device="cpu"):
    """(the trained :class:`.mbm.MaskedBrainModel` in eval mode, its stage1.json)."""
    from cinebrain.integrity import load_safetensors

    from .mbm import build

    stage1_dir = Path(stage1_dir)
    cfg = json.loads((stage1_dir / STAGE1_CONFIG).read_text())
    model = build(cfg["shapes"], cfg["model"], cfg["temperature"])
    model.load_state_dict(load_safetensors(stage1_dir / STAGE1_FILE))
    return model.to(device).eval(), cfg


def clip_vectors(dataset) -> torch.Tensor:
    """(N, V) the fMRI vectors of a ClipDataset (lagged volumes averaged), its columns selected."""
    x = torch.from_numpy(np.array(dataset.arrays["fmri"], np.float32)).mean(1)
    return x if dataset.fmri_columns is None else x[:, torch.from_numpy(dataset.fmri_columns)]


def embeddings(model, fmri, subject: int, device="cpu", batch_size: int = 64) -> torch.Tensor:
    """(N, width) stage-1 embeddings f of fMRI vectors (N, V) of one subject (index in the pool, -1 unseen)."""
    out = []
    with torch.no_grad():
        for b in range(0, len(fmri), batch_size):
            x = fmri[b : b + batch_size].to(device)
            out.append(model.embed(x, torch.full((len(x),), subject, dtype=torch.long, device=device)).cpu())
    return torch.cat(out)


def _targets(clips, latents, blip, frames: int):
    """(z, b) of ``clips`` from their targets files (rule brainflix_targets)."""
    from ...models.frame_latents import read_latents
    from .blip import read_blip

    return read_latents(latents, clips, frames), read_blip(blip, clips)


def train_regression(*, stage1_dir, train_dirs: dict, latents: dict, blips: dict, settings: dict, out_dir,
                     held_out: str | None = None, device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Stage 2 of a pool (module docstring): ``latents``, ``blips``: {subject: the training split's targets file}."""
    from safetensors.torch import save_file

    from ...data import ClipDataset, check_subject_leakage
    from ...train import Trainer
    from ...train.distributed import setup, torch_device
    from .regress import Pairs, ResidualMLP, fit_ridge, predict_mlp

    s = _settings(settings)
    check_subject_leakage(held_out, list(train_dirs), where=f"{out_dir}: stage 2")
    state = setup()
    dev, out_dir = torch_device(device, state), Path(out_dir)
    model, cfg = load_stage1(stage1_dir, dev)
    subjects = cfg["shapes"]["subjects"]
    if [str(k) for k in train_dirs] != subjects:
        raise ValueError(f"{out_dir}: stage 2 of subjects {list(train_dirs)}, stage 1 ({stage1_dir}) of {subjects}")
    f, z, b, groups = [], [], [], []
    for sub, d in train_dirs.items():
        ds = ClipDataset(d, modalities=("fmri",), fmri_columns=cfg["fmri_columns"])
        f.append(embeddings(model, clip_vectors(ds), subjects.index(str(sub)), dev))
        zi, bi = _targets(ds.manifest["clip"], latents[sub], blips[sub], s.frames)
        z.append(zi.flatten(1))
        b.append(bi.flatten(1))
        groups += ds.manifest["episode"].astype(str).tolist()
    f, y = torch.cat(f).numpy(), {"z": torch.cat(z).numpy(), "b": torch.cat(b).numpy()}
    info = {"clips": len(f), "embedding": int(f.shape[1]), "shapes": {"z": list(zi.shape[1:]), "b": list(bi.shape[1:])},
            "backbones": list(s.regression.backbones), "subjects": subjects, "held_out": held_out, "train_mse": {}}  # fmt: skip
    for backbone in s.regression.backbones:
        for t in TARGETS:
            path = out_dir / f"regress_{backbone}_{t}.safetensors"
            if backbone == "ridge":
                ridge = fit_ridge(f, y[t], groups, s.regression.alphas, s.regression.cv_folds)
                save_file(ridge.tensors(), str(path))
                pred, info[f"ridge_alpha_{t}"], info["ridge_cv"] = ridge.predict(f), ridge.alpha, ridge.cv
            else:
                m = s.regression.mlp
                torch.manual_seed(s.regression.train.seed)
                mlp = ResidualMLP(f.shape[1], y[t].shape[1], m.width, m.blocks, m.dropout)
                mlp.standardise(f, y[t])
                Trainer(mlp, _loss_fn, Pairs(f, y[t]), s.regression.train, out_dir / f"mlp_{t}", device=dev, dist=state,
                        progress=progress).fit()  # fmt: skip
                mlp = mlp.cpu()
                if state.is_main:
                    save_file({k: v.contiguous() for k, v in mlp.state_dict().items()}, str(path))
                pred = predict_mlp(mlp, f)
            info["train_mse"][f"{backbone}_{t}"] = float(np.mean((pred - y[t]) ** 2))
    if state.is_main:
        info["mlp"] = {"width": s.regression.mlp.width, "blocks": s.regression.mlp.blocks, "dropout": s.regression.mlp.dropout}
        (out_dir / REGRESS_CONFIG).write_text(json.dumps(info, indent=1))
    return info


def load_regressor(stage2_dir, backbone: str, target: str):
    """A function (N, D) array -> (N, K) predictions of a saved regressor."""
    from cinebrain.integrity import load_safetensors

    from .regress import ResidualMLP, RidgeMap, predict_mlp

    info = json.loads((Path(stage2_dir) / REGRESS_CONFIG).read_text())
    t = load_safetensors(Path(stage2_dir) / f"regress_{backbone}_{target}.safetensors")
    if backbone == "ridge":
        return RidgeMap.from_tensors(t).predict
    m = info["mlp"]
    mlp = ResidualMLP(t["x_mean"].numel(), t["y_mean"].numel(), m["width"], m["blocks"], m["dropout"])
    mlp.load_state_dict(t)
    return lambda x: predict_mlp(mlp, x)


def predict(*, stage1_dir, stage2_dir, test_dir, train_dirs: dict, latents_test, blip_test, subject: str, variant: str,
            settings: dict, out_dir, device: str = "auto") -> dict:  # fmt: skip
    """One subject's contract folder from a pool's stage 1 and 2 (module docstring)."""
    import pandas as pd
    from safetensors.torch import save_file

    from ...data import ClipDataset, check_subject_leakage
    from ...models.retrieval import retrieval_scores
    from ...train.distributed import torch_device
    from ..contract import write_metrics
    from .settings import PROTOCOLS

    s = _settings(settings)
    dev, out_dir = torch_device(device), Path(out_dir)
    model, cfg = load_stage1(stage1_dir, dev)
    info = json.loads((Path(stage2_dir) / REGRESS_CONFIG).read_text())
    subjects = cfg["shapes"]["subjects"]
    if variant == "loso":
        check_subject_leakage(subject, subjects, where=f"{stage1_dir}: the loso model of sub-{subject}")
    elif subject not in subjects:
        raise ValueError(f"{stage1_dir}: trained on sub-{', sub-'.join(subjects)}, not on sub-{subject}; fix: the "
                         f"{variant} variant's pool must hold the subject it scores")  # fmt: skip
    index = subjects.index(subject) if subject in subjects else -1
    pool_columns({**train_dirs, f"{subject} (test)": test_dir}, None)  # the scored subject's columns are the pool's
    test = ClipDataset(test_dir, modalities=("fmri",), targets=("frames",), fmri_columns=cfg["fmri_columns"])
    f = embeddings(model, clip_vectors(test), index, dev)
    # the no-brain control: the mean stage-1 embedding of the pool's training clips
    train = {k: ClipDataset(d, modalities=("fmri",), fmri_columns=cfg["fmri_columns"]) for k, d in train_dirs.items()}
    f_train = torch.cat([embeddings(model, clip_vectors(ds), subjects.index(str(k)), dev) for k, ds in train.items()])
    with torch.no_grad():
        proj = model.to_caption(f.to(dev)).cpu().numpy()
    video = np.stack([test[i]["frames"].float().mean(0).numpy() for i in range(len(test))])
    scores = retrieval_scores(proj, video, n_candidates=s.evaluation.n_candidates, repeats=s.evaluation.repeats,
                              seed=s.evaluation.seed)  # fmt: skip
    clips = test.manifest["clip"]
    z_true, b_true = _targets(clips, latents_test, blip_test, s.frames)
    truth = {"z": z_true, "b": b_true}
    mse, mse_no_brain, pred = {}, {}, {}
    for backbone in info["backbones"]:
        for t in TARGETS:
            fn = load_regressor(stage2_dir, backbone, t)
            p, y = fn(f.numpy()), truth[t].flatten(1).numpy()
            no_brain = fn(f_train.mean(0, keepdim=True).numpy())
            mse[f"{backbone}_{t}"] = float(np.mean((p - y) ** 2))
            mse_no_brain[f"{backbone}_{t}"] = float(np.mean((no_brain - y) ** 2))
            if backbone == info["backbones"][0]:
                pred[t] = torch.from_numpy(p).view(len(p), *truth[t].shape[1:])
                pred[f"no_brain_{t}"] = torch.from_numpy(no_brain).view(1, *truth[t].shape[1:])
    train_clips = sum(len(ds) for ds in train.values())
    curves = [pd.read_csv(Path(stage1_dir) / f"{n}.csv").assign(stage=n) for n in ("mbm", "align")]
    steps = sum(int(c["step"].max()) for c in curves)
    metrics = {"method": "brainflix", "variant": variant, "subject": subject, "train_clips": train_clips,
               "test_clips": len(test), "steps": steps, "protocol": PROTOCOLS[variant], "train_subjects": subjects,
               "regression_backbone": info["backbones"][0], "regression_mse": mse, "regression_mse_no_brain": mse_no_brain,
               "regression_mse_note": "mean squared error per element on the test clips' z and b (5.2); no_brain: of "
                                      "the prediction from the pool's mean training embedding", **scores}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in pred.items()}, str(out_dir / PREDICTIONS),
              metadata={"clips": json.dumps(clips.astype(str).tolist()), "backbone": info["backbones"][0]})  # fmt: skip
    pd.concat(curves, ignore_index=True).to_csv(out_dir / "metrics.csv", index=False)
    (out_dir / "config.json").write_text(json.dumps({"method": "brainflix", "variant": variant, "subject": subject,
                                                     "protocol": PROTOCOLS[variant], "stage1": str(stage1_dir),
                                                     "stage2": str(stage2_dir), "train_subjects": subjects,
                                                     "held_out": cfg.get("held_out"), "settings": settings}, indent=1))  # fmt: skip
    write_metrics(metrics, out_dir / "metrics.json")
    return metrics


def encode_targets(*, split_dir, generator: str, blip: str, frames: int, size, latents_out, blip_out,
                   device: str = "auto", progress: bool = False) -> dict:  # fmt: skip
    """Rule ``brainflix_targets``: a split's regression targets — the generator VAE's latents z of ``frames`` frames
    (:func:`cinebrain.models.frame_latents.encode_latents`) and the BLIP embeddings b (:func:`.blip.encode_blip`)."""
    from ...models.frame_latents import encode_latents
    from .blip import encode_blip

    z = encode_latents(split_dir=split_dir, base=generator, frames=frames, size=size, out=latents_out, device=device,
                       progress=progress)  # fmt: skip
    return {"z": z, "b": encode_blip(split_dir=split_dir, blip=blip, out=blip_out, device=device, progress=progress)}
