"""Mind-Animator's training tasks: the frame latents (rule ``mindanimator_latents``) and the decoders of one
subject (rule ``mindanimator_train``), each through :class:`cinebrain.train.Trainer` (resume, DDP).

``encode_latents`` (:mod:`cinebrain.models.frame_latents`) takes ``frames`` evenly spaced frames of every clip
of a split (resized to ``size``) through the Stable Diffusion pipeline's VAE (scaled posterior means): the
structure decoder's target is the first, the motion generator's all of them. ``train`` trains, in order, the semantic decoder (tri-modal contrastive +
projection, with voxel dropout and caption augmentation), the structure decoder, the Consistency Motion
Generator and, for the ablations the configuration lists, the motion generator without fMRI guidance and the
per-frame MLPs; then scores the test split and writes the methods' contract (``model.safetensors``,
``config.json``, ``metrics.json``, ``metrics.csv``) and the voxel importance maps (``importance.dscalar.nii``,
``importance.csv``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...models.frame_latents import WithLatents, encode_latents, read_latents  # noqa: F401  (the rules' entry points)

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"


class SemanticTraining(nn.Module):
    """The semantic decoder with its training targets: the clip's video embedding (mean of its frames' CLIP
    embeddings) and one of its caption variants' CLIP text embedding and Stable Diffusion condition, drawn
    at every step (``text`` (N, K, D) and ``cond`` (N, K, L, W), precomputed, not part of the checkpoint)."""

    def __init__(self, decoder, text, cond, loss: dict, augment):
        super().__init__()
        self.decoder, self.text, self.cond, self.loss_settings, self.augment = decoder, text, cond, loss, augment

    def loss(self, batch):
        from ...models.augment import augment
        from .model import semantic_loss

        fmri = batch["fmri"].float()
        if self.training and self.augment.active:
            fmri = augment(fmri, self.augment)
        idx = batch["index"].cpu()
        pick = torch.randint(self.text.shape[1], (len(idx),)) if self.training else torch.zeros(len(idx), dtype=torch.long)
        dev = fmri.device
        text, cond = self.text[idx, pick].to(dev).float(), self.cond[idx, pick].to(dev).float()
        f, c = self.decoder(fmri)
        return semantic_loss(f, c, batch["frames"].float().mean(1), text, cond, logit_scale=self.decoder.logit_scale,
                             **self.loss_settings)  # fmt: skip


class LatentTraining(nn.Module):
    """The structure decoder (first frame), the motion generator (all frames) or the per-frame MLPs, MSE."""

    def __init__(self, net, target: str, augment):
        super().__init__()
        self.net, self.target, self.augment = net, target, augment

    def loss(self, batch):
        from ...models.augment import augment

        fmri, z = batch["fmri"].float(), batch["latents"].float()
        if self.training and self.augment.active:
            fmri = augment(fmri, self.augment)
        if self.target == "motion":
            loss = self.net.loss(z, fmri)
        elif self.target == "first":
            loss = nn.functional.mse_loss(self.net(fmri), z[:, 0])
        else:
            loss = nn.functional.mse_loss(self.net(fmri), z)
        return loss, {}


def _loss_fn(model, batch):
    return model.loss(batch)


def build_modules(cfg: dict):
    """The decoders of a ``config.json`` (``shapes`` + the section's model keys): {name: module}."""
    from .model import ConsistencyMotionGenerator, FrameMLPs, SemanticDecoder, StructureDecoder

    sh, sem, st, mo = cfg["shapes"], cfg["semantic"]["model"], cfg["structure"]["model"], cfg["motion"]["model"]
    fmri, latent, frames = tuple(sh["fmri"]), tuple(sh["latent"]), int(sh["frames"])
    mods = {"semantic": SemanticDecoder(fmri, sh["embed_dim"], tuple(sh["cond"]), sem["hidden"], sem["dropout"], sem["temperature"]),
            "structure": StructureDecoder(fmri, latent, st["hidden"], st["dropout"])}  # fmt: skip
    cmg = {k: mo[k] for k in ("patch", "width", "depth", "heads", "mlp_ratio", "dropout", "mask_ratio")}
    cmg["mask_style"] = mo.get("mask_style", "released")
    mods["motion"] = ConsistencyMotionGenerator(fmri, latent, frames, fmri_guidance=True, **cmg)
    if "no_fmri_guidance" in cfg["variants"]:
        mods["motion_unguided"] = ConsistencyMotionGenerator(fmri, latent, frames, fmri_guidance=False, **cmg)
    if "no_motion" in cfg["variants"]:
        mods["frame_mlps"] = FrameMLPs(fmri, latent, frames, st["hidden"], st["dropout"])
    return mods


def load_trained(model_dir, device="cpu"):
    """({name: module} (eval) and config.json) of a trained subject."""
    from cinebrain.integrity import load_safetensors

    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / CONFIG_FILE).read_text())
    mods = build_modules(cfg)
    state = load_safetensors(model_dir / MODEL_FILE)
    for name, m in mods.items():
        m.load_state_dict({k.removeprefix(f"{name}."): v for k, v in state.items() if k.startswith(f"{name}.")})
        m.to(device).eval()
    return mods, cfg


def caption_targets(captions: list[str], *, embedder: str, base: str, settings, device="cpu", seed: int = 0):
    """(text (N, K, D), cond (N, K, L, W) float16, variants): every caption and its EDA variants through the
    CLIP embedder (the features stage's) and through the text encoder of the Stable Diffusion pipeline ``base``
    (only it is loaded: training needs no UNet or VAE)."""
    from ...features import Embedder
    from ...models.sd_text import load_text_encoder, text_conditions
    from .captions import caption_variants, read_synonyms

    syn = read_synonyms(settings.synonyms) if settings.variants else {}
    variants = caption_variants(captions, syn, settings.variants, seed=seed, synonym=settings.synonym,
                                insert=settings.insert, swap=settings.swap, delete=settings.delete)  # fmt: skip
    flat = [c for v in variants for c in v]
    k = settings.variants + 1
    text = torch.from_numpy(np.asarray(Embedder(embedder, device).texts(flat), np.float32)).view(len(captions), k, -1)
    cond = text_conditions(*load_text_encoder(base, device), flat, device=device).half()
    return text, cond.view(len(captions), k, *cond.shape[1:]), variants


def train(*, train_dir, test_dir, latents_train, latents_test, embedder: str, settings: dict, out_dir,
          device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Train one subject's Mind-Animator decoders and score them on its test split; returns the metrics.

    ``settings``: the section ``methods.mindanimator`` (keys left out take :mod:`.settings`' defaults);
    ``embedder``: the CLIP model of the features stage (the space of the clips' frame and caption embeddings)."""
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from ..contract import write_metrics
    from .importance import decoder_maps, roi_table, write_dscalar
    from .settings import Settings

    s = build(Settings, settings)
    state = setup()
    dev, out_dir = torch_device(device, state), Path(out_dir)
    roi_sets = list(s.roi_sets) if s.roi_sets else None
    tr = ClipDataset(train_dir, modalities=("fmri",), targets=("frames",), roi_sets=roi_sets)
    te = ClipDataset(test_dir, modalities=("fmri",), targets=("frames",), roi_sets=roi_sets)
    captions = tr.captions()
    z_tr = read_latents(latents_train, tr.manifest["clip"], s.frames)
    z_te = read_latents(latents_test, te.manifest["clip"], s.frames)
    first = tr[0]
    text, cond, _ = caption_targets(captions, embedder=embedder, base=s.base, settings=s.semantic.captions, device=dev,
                                    seed=s.semantic.train.seed)  # fmt: skip
    if text.shape[-1] != first["frames"].shape[-1]:
        raise ValueError(f"{embedder}: text embeddings of width {text.shape[-1]}, the dataset's frame embeddings have "
                         f"{first['frames'].shape[-1]}; fix: pass the CLIP that made the dataset's features")  # fmt: skip
    cfg = {"method": "mindanimator", "base": s.base, "embedder": embedder, "variants": list(s.variants),
           "fmri_columns": None if tr.fmri_columns is None else tr.fmri_columns.tolist(),
           "shapes": {"fmri": list(first["fmri"].shape), "embed_dim": int(text.shape[-1]), "cond": list(cond.shape[2:]),
                      "latent": list(z_tr.shape[2:]), "frames": s.frames},
           **{k: as_dict(getattr(s, k)) for k in ("semantic", "structure", "motion", "fmri_augment")},
           "size": s.size}  # fmt: skip
    mods = build_modules(cfg)
    loss = {k: getattr(s.semantic.model, k) for k in ("lambda1", "lambda2", "alpha")}
    data = WithLatents(tr, z_tr)
    jobs = [("semantic", SemanticTraining(mods["semantic"], text, cond, loss, s.fmri_augment), s.semantic.train),
            ("structure", LatentTraining(mods["structure"], "first", s.fmri_augment), s.structure.train),
            ("motion", LatentTraining(mods["motion"], "motion", s.fmri_augment), s.motion.train)]  # fmt: skip
    if "motion_unguided" in mods:
        jobs.append(("motion_unguided", LatentTraining(mods["motion_unguided"], "motion", s.fmri_augment), s.motion.train))
    if "frame_mlps" in mods:
        jobs.append(("frame_mlps", LatentTraining(mods["frame_mlps"], "all", s.fmri_augment), s.structure.train))
    curves = {}
    for name, net, ts in jobs:
        torch.manual_seed(ts.seed)
        trainer = Trainer(net, _loss_fn, data, ts, out_dir / name, device=dev, dist=state, progress=progress,
                          fingerprint=split_fingerprint(train_dir) + name)  # fmt: skip
        trainer.fit()
        curves[name] = trainer
    if not state.is_main:
        return {}
    for m in mods.values():
        m.eval()
    test = WithLatents(te, z_te)
    scores, errors = _test_scores(mods, test, z_tr, s, dev)
    metrics = {"method": "mindanimator", "variant": "mindanimator", "subject": tr.info.get("Subject"),
               "train_clips": len(tr), "test_clips": len(te), "steps": s.semantic.train.steps, "roi_sets": roi_sets,
               "fmri_columns": int(first["fmri"].shape[-1]), **scores, "latent_mse": errors}  # fmt: skip
    save_file({f"{n}.{k}": v.detach().cpu().contiguous() for n, m in mods.items() for k, v in m.state_dict().items()},
              str(out_dir / MODEL_FILE))  # fmt: skip
    (out_dir / CONFIG_FILE).write_text(json.dumps(cfg, indent=1, default=list))
    _write_curves(curves, out_dir / "metrics.csv")
    maps = decoder_maps(mods["semantic"], mods["structure"], mods["motion"], tuple(cfg["shapes"]["fmri"]))
    columns = _columns(tr)
    write_dscalar(out_dir / "importance.dscalar.nii", maps, columns["grayordinate"])
    roi_table(maps, columns["label"]).to_csv(out_dir / "importance.csv")
    write_metrics(metrics, out_dir / "metrics.json")
    for t in curves.values():
        t.checkpoint_path.unlink(missing_ok=True)  # complete: the checkpoints only served pre-emptions
    return metrics


def _columns(ds) -> dict:
    """The grayordinate and HCP-MMP1.0 label of each fMRI column the decoders take."""
    from ...data import COLUMNS_FILE

    cols = json.loads((ds.root / COLUMNS_FILE).read_text())["Columns"]
    sel = np.arange(len(cols["grayordinate"])) if ds.fmri_columns is None else ds.fmri_columns
    return {"grayordinate": np.asarray(cols["grayordinate"])[sel], "label": np.asarray(cols["label"])[sel]}


def _test_scores(mods, test, z_train, s, device) -> tuple[dict, dict]:
    """Retrieval of the test clips' video embeddings from the semantic decoder's fMRI embeddings (the shared
    :func:`retrieval_scores`), and the latent errors of the structure and motion decoders against the mean
    training latent (what a decoder that ignores the fMRI would score)."""
    from ...models.retrieval import retrieval_scores

    f, video, first, frames = [], [], [], []
    with torch.no_grad():
        for b in range(0, len(test), 32):
            batch = torch.utils.data.default_collate([test[i] for i in range(b, min(b + 32, len(test)))])
            fmri = batch["fmri"].float().to(device)
            f.append(mods["semantic"].embed(fmri).cpu())
            video.append(batch["frames"].float().mean(1))
            s0 = mods["structure"](fmri)
            first.append(s0.cpu())
            frames.append(mods["motion"].generate(s0, fmri).cpu())
    f, video, first, frames = map(torch.cat, (f, video, first, frames))
    truth = test.latents.float()
    mean = z_train.float().mean(0, keepdim=True)
    errors = {"structure": float(((first - truth[:, 0]) ** 2).mean()), "structure_mean_baseline": float(((mean[:, 0] - truth[:, 0]) ** 2).mean()),
              "motion": float(((frames[:, 1:] - truth[:, 1:]) ** 2).mean()),
              "motion_mean_baseline": float(((mean[:, 1:] - truth[:, 1:]) ** 2).mean())}  # fmt: skip
    scores = retrieval_scores(f.numpy(), video.numpy(), n_candidates=s.evaluation.n_candidates,
                              repeats=s.evaluation.repeats, seed=s.evaluation.seed)  # fmt: skip
    return scores, errors


def _write_curves(trainers: dict, path) -> None:
    """One training curve: each decoder's rows of its own metrics.csv, tagged with the decoder's name."""
    import pandas as pd

    frames = []
    for name, t in trainers.items():
        df = pd.read_csv(t.metrics_path)
        df.insert(0, "decoder", name)
        frames.append(df)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
