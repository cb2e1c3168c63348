"""NeuroCine's training tasks (rules ``neurocine_encoder`` and ``neurocine_decoder``), each through
:class:`cinebrain.train.Trainer` (resume, DDP).

``train_encoder`` (phase 1): the fMRI encoder (:class:`.encoder.FmriEncoder`, optionally from a pre-trained
state dict) on one subject's training split — eq. 2-3 with the clip's caption embedding (one of its captions
drawn each time) and video embedding (the mean of its frames' CLIP embeddings, the features stage's) — on a
sliding window of the clip's lagged volumes (a start drawn per batch); scored on the test split by the shared
retrieval of the video embeddings from the fMRI embeddings (averaged over every window start). Writes the
contract's ``model.safetensors``, ``config.json``, ``metrics.json``, ``metrics.csv``.

``train_decoder`` (phase 2): the SD UNet inflated (:func:`.video.inflate_unet`), phase 2a fine-tuned on the
training clips' frame latents under their captions' SD condition, phase 2b with the phase-1 encoder's
condition in place of the caption's, the encoder trained with it; both with the dependent prior noise. Only the
fine-tuned parameters are saved (``decoder/unet.safetensors``), with the encoder (``decoder/encoder.safetensors``)
and ``decoder/decoder.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
DECODER_DIR, UNET_FILE, ENCODER_FILE, DECODER_CONFIG = "decoder", "unet.safetensors", "encoder.safetensors", "decoder.json"


def _loss_fn(model, batch):
    return model.loss(batch)


def random_window(fmri, window: int | None):
    """A window of ``window`` consecutive volumes of (B, T, V), its start drawn from torch's generator (the
    Trainer's, checkpointed), the same for the batch."""
    t = fmri.shape[1]
    w = t if window is None else int(window)
    start = int(torch.randint(t - w + 1, (1,))) if w < t else 0
    return fmri[:, start : start + w]


class EncoderTraining(nn.Module):
    def __init__(self, encoder, augment, window):
        super().__init__()
        self.encoder, self.augment, self.window = encoder, augment, window

    def loss(self, batch):
        from .encoder import phase1_loss

        fmri = random_window(batch["fmri"].float(), self.window)
        return phase1_loss(self.encoder, fmri, batch["text"].float(), batch["frames"].float().mean(1), augment=self.augment)


def window_average(encoder, fmri, window, batch_size: int = 32):
    """(CLIP embeddings (N, D), conditions (N, L, W)) of fMRI (N, T, V), each the mean over every window start."""
    from .encoder import sliding_windows

    emb, cond = [], []
    with torch.no_grad():
        for b in range(0, len(fmri), batch_size):
            x = sliding_windows(fmri[b : b + batch_size], window)  # (B, S, w, V)
            e, c = encoder(x.flatten(0, 1))
            emb.append(e.view(*x.shape[:2], -1).mean(1).cpu())
            cond.append(c.view(*x.shape[:2], *c.shape[1:]).mean(1).cpu())
    return torch.cat(emb), torch.cat(cond)


def build_encoder(cfg: dict):
    from .encoder import FmriEncoder

    m, sh = cfg["model"], cfg["shapes"]
    return FmriEncoder(sh["window"], sh["voxels"], sh["embed_dim"], tuple(sh["cond"]), patch=m["patch"], width=m["width"],
                       depth=m["depth"], heads=m["heads"], mlp_ratio=m["mlp_ratio"], dropout=m["dropout"],
                       temperature=m["temperature"])  # fmt: skip


def _cond_shape(base: str) -> tuple[int, int]:
    """The SD pipeline's text condition shape (tokens, width), read from its text encoder's config."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(base, subfolder="text_encoder")
    c = getattr(c, "text_config", c)
    return int(c.max_position_embeddings), int(c.hidden_size)


def train_encoder(*, train_dir, test_dir, settings: dict, out_dir, device: str = "auto", progress: bool = True) -> dict:
    """Phase 1 of one subject (see the module docstring); returns the metrics."""
    from safetensors.torch import save_file

    from cinebrain.integrity import load_safetensors

    from ...data import ClipDataset
    from ...models.retrieval import retrieval_scores
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from ..contract import write_metrics
    from .settings import Settings

    s = build(Settings, settings)
    em = s.encoder.model
    state = setup()
    dev, out_dir = torch_device(device, state), Path(out_dir)
    roi_sets = list(s.roi_sets) if s.roi_sets else None
    tr = ClipDataset(train_dir, modalities=("fmri",), targets=("frames", "text"), text_index="random", roi_sets=roi_sets)
    te = ClipDataset(test_dir, modalities=("fmri",), targets=("frames", "text"), text_index=0, roi_sets=roi_sets)
    first = tr[0]
    t, v = first["fmri"].shape
    window = t if em.window is None else em.window
    if window > t:
        raise ValueError(f"methods.neurocine.encoder.model.window {window} is longer than the clips' {t} volumes; fix: "
                         f"at most {t} (or null)")  # fmt: skip
    cfg = {"method": "neurocine", "base": s.base, "model": as_dict(em), "augment": as_dict(s.encoder.augment),
           "shapes": {"window": window, "voxels": int(v), "volumes": int(t), "embed_dim": int(first["frames"].shape[-1]),
                      "cond": list(_cond_shape(s.base))},
           "fmri_columns": None if tr.fmri_columns is None else tr.fmri_columns.tolist()}  # fmt: skip
    torch.manual_seed(s.encoder.train.seed)
    encoder = build_encoder(cfg)
    if em.pretrained:
        path = Path(em.pretrained)
        weights = load_safetensors(path) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu")
        missing, unexpected = encoder.load_state_dict(weights, strict=False)
        if unexpected or len(missing) == len(encoder.state_dict()):
            raise ValueError(f"{path}: not a state dict of this fMRI encoder (unexpected {list(unexpected)[:3]}); fix: "
                             "methods.neurocine.encoder.model.pretrained must match the configured encoder's shape")  # fmt: skip
    net = EncoderTraining(encoder, s.encoder.augment, em.window)
    trainer = Trainer(net, _loss_fn, tr, s.encoder.train, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=split_fingerprint(train_dir))  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    encoder.eval()
    fmri = torch.from_numpy(np.stack([te[i]["fmri"].numpy() for i in range(len(te))])).float().to(dev)
    emb, _ = window_average(encoder, fmri, em.window)
    video = np.stack([te[i]["frames"].float().mean(0).numpy() for i in range(len(te))])
    scores = retrieval_scores(emb.numpy(), video, n_candidates=s.evaluation.n_candidates, repeats=s.evaluation.repeats,
                              seed=s.evaluation.seed)  # fmt: skip
    metrics = {"method": "neurocine", "variant": "neurocine", "subject": tr.info.get("Subject"), "train_clips": len(tr),
               "test_clips": len(te), "steps": s.encoder.train.steps, "roi_sets": roi_sets, "fmri_columns": int(v),
               "window": window, **scores}  # fmt: skip
    save_file({k: p.detach().cpu().contiguous() for k, p in encoder.state_dict().items()}, str(out_dir / MODEL_FILE))
    (out_dir / CONFIG_FILE).write_text(json.dumps(cfg, indent=1, default=list))
    write_metrics(metrics, out_dir / "metrics.json")
    trainer.checkpoint_path.unlink(missing_ok=True)
    return metrics


def load_encoder(encoder_dir, device="cpu"):
    """(the phase-1 encoder, its config.json) of ``encoder_dir``."""
    from cinebrain.integrity import load_safetensors

    cfg = json.loads((Path(encoder_dir) / CONFIG_FILE).read_text())
    enc = build_encoder(cfg)
    enc.load_state_dict(load_safetensors(Path(encoder_dir) / MODEL_FILE))
    return enc.to(device), cfg


class VideoTraining(nn.Module):
    """Phase 2a: the inflated UNet on frame latents under their captions' SD condition (``cond``: (N, L, W))."""

    def __init__(self, unet, scheduler, cond, beta: float):
        super().__init__()
        self.unet, self.scheduler, self.cond, self.beta = unet, scheduler, cond, beta

    def loss(self, batch):
        from .video import diffusion_loss

        z = batch["latents"].float()
        cond = self.cond[batch["index"].cpu()].to(z.device).float()
        return diffusion_loss(self.unet, self.scheduler, z, cond, self.beta), {}


class BrainVideoTraining(nn.Module):
    """Phase 2b: the same objective with the fMRI encoder's condition (a sliding window drawn per batch)."""

    def __init__(self, unet, encoder, scheduler, beta: float, window):
        super().__init__()
        self.unet, self.encoder, self.scheduler, self.beta, self.window = unet, encoder, scheduler, beta, window

    def loss(self, batch):
        from .video import diffusion_loss

        z = batch["latents"].float()
        _, cond = self.encoder(random_window(batch["fmri"].float(), self.window))
        return diffusion_loss(self.unet, self.scheduler, z, cond, self.beta), {}


def load_video_unet(base: str, temporal_window: int, device="cpu"):
    """The SD UNet of ``base`` inflated (:func:`.video.inflate_unet`)."""
    from diffusers import UNet2DConditionModel

    from .video import inflate_unet

    try:
        unet2d = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    except (OSError, ValueError) as e:
        raise ValueError(f"{base}: no Stable Diffusion UNet in unet/ ({e}); fix: point methods.neurocine.base at an SD "
                         "pipeline folder") from e  # fmt: skip
    return inflate_unet(unet2d, temporal_window).to(device)


def check_latent_channels(latents, unet, where: str) -> None:
    if latents.shape[2] != unet.config.in_channels:
        raise ValueError(f"{where}: latents of {latents.shape[2]} channels, the UNet takes {unet.config.in_channels}; fix: "
                         "rebuild them with the VAE of the same pipeline (rule neurocine_latents)")  # fmt: skip


def train_decoder(*, train_dir, encoder_dir, latents_train, settings: dict, out_dir, device: str = "auto",
                  progress: bool = True) -> dict:  # fmt: skip
    """Phase 2 of one subject (see the module docstring); returns decoder.json's content."""
    import hashlib

    from diffusers import DDPMScheduler
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...models.frame_latents import WithLatents, read_latents
    from ...models.sd_text import load_text_encoder, text_conditions
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from .settings import Settings
    from .video import set_trainable, trainable_names

    s = build(Settings, settings)
    dm = s.decoder.model
    state = setup()
    dev, out_dir = torch_device(device, state), Path(out_dir)
    encoder, ecfg = load_encoder(encoder_dir, dev)
    columns = ecfg.get("fmri_columns")
    ds = ClipDataset(train_dir, modalities=("fmri",), fmri_columns=columns)
    latents = read_latents(latents_train, ds.manifest["clip"], s.frames)
    captions = ds.captions()
    unet = load_video_unet(s.base, dm.temporal_window, dev)
    check_latent_channels(latents, unet, str(latents_train))
    tok, text_encoder = load_text_encoder(s.base, dev)
    cond = text_conditions(tok, text_encoder, captions, device=dev)
    if tuple(cond.shape[1:]) != tuple(ecfg["shapes"]["cond"]):
        raise ValueError(f"{encoder_dir}: an encoder of conditions {ecfg['shapes']['cond']}, {s.base} takes "
                         f"{list(cond.shape[1:])}; fix: retrain phase 1 with this base (rule neurocine_encoder)")  # fmt: skip
    del text_encoder
    scheduler = DDPMScheduler.from_pretrained(s.base, subfolder="scheduler")
    names = trainable_names(unet, dm.train_temporal_convs)
    data = WithLatents(ds, latents)
    key = split_fingerprint(train_dir) + f" {(Path(encoder_dir) / MODEL_FILE).stat().st_mtime_ns}"
    curves = {}
    for phase, net, ts in (("video", VideoTraining(unet, scheduler, cond, dm.noise_beta), s.decoder.video_train),
                           ("brain", BrainVideoTraining(unet, encoder, scheduler, dm.noise_beta, ecfg["model"]["window"]),
                            s.decoder.train)):  # fmt: skip
        torch.manual_seed(ts.seed)
        set_trainable(unet, names)
        for p in encoder.parameters():
            p.requires_grad_(phase == "brain")
        trainer = Trainer(net, _loss_fn, data, ts, out_dir / DECODER_DIR / phase, device=dev, dist=state,
                          progress=progress, fingerprint=hashlib.sha256((key + phase).encode()).hexdigest())  # fmt: skip
        trainer.fit()
        curves[phase] = trainer
    if not state.is_main:
        return {}
    d = out_dir / DECODER_DIR
    params = dict(unet.named_parameters())
    save_file({n: params[n].detach().cpu().contiguous() for n in names}, str(d / UNET_FILE))
    save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}, str(d / ENCODER_FILE))
    import pandas as pd

    curve = pd.concat([pd.read_csv(t.metrics_path).assign(phase=p) for p, t in curves.items()], ignore_index=True)
    curve.to_csv(d / "metrics.csv", index=False)
    meta = {"method": "neurocine", "subject": ds.info.get("Subject"), "base": s.base, "frames": s.frames, "size": s.size,
            "decoder": {k: v for k, v in as_dict(s.decoder).items() if k != "reconstruct"}, "encoder": ecfg, "trainable": len(names),
            "trainable_values": int(sum(params[n].numel() for n in names)), "train_clips": len(ds),
            "final_loss": {p: float(pd.read_csv(t.metrics_path)["loss"].iloc[-1]) for p, t in curves.items()}}  # fmt: skip
    (d / DECODER_CONFIG).write_text(json.dumps(meta, indent=1, default=list))
    for t in curves.values():
        t.checkpoint_path.unlink(missing_ok=True)
    return meta
