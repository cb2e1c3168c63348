"""Frozen target features of every clip, computed once and cached per episode in safetensors.

Four kinds of targets (config section ``features``):

``embedder`` (CineSync's contrastive targets)
    a CLIP or SigLIP model loaded with ``AutoModel`` / ``AutoProcessor`` from ``model``: the image
    embedding of every frame of every clip (``frames``: ``(N, F, D)``) and the text embedding of every
    caption (``text``: ``(M, D)``, row ``i`` is row ``i`` of ``results/captions/<episode>.parquet``;
    ``text_clip`` gives its clip index).  Projected, not normalised (the loss normalises).
``vae`` (the CineSync decoder's diffusion targets)
    CogVideoX's causal 3-D VAE (``diffusers.AutoencoderKLCogVideoX``): the posterior mean and standard
    deviation of the latents of every clip (``mean``, ``std``: ``(N, C, 1 + (F - 1) / 4, H / 8, W / 8)``),
    frames scaled to [-1, 1]; decoder training samples ``mean + std * noise`` times the VAE's
    ``scaling_factor`` (kept in the file's metadata) and never runs the encoder.

``wan_vae`` (CineNeuron's Wan2.1 decoder's diffusion targets; only when ``model`` is set)
    Wan's VAE (``diffusers.AutoencoderKLWan``): the same ``mean`` and ``std``, with Wan's per-channel
    ``latents_mean`` and ``latents_std`` in the metadata instead of a scaling factor
    (:func:`latent_normalisation`).
``action`` (CineNeuron's action targets; only when ``model`` is set)
    a video-text model with ``get_video_features`` (X-CLIP, loaded with ``AutoModel``): one embedding of
    every clip (``action``: ``(N, A)``) from ``num_frames`` frames spread evenly over it. The paper's ViCLIP
    has no transformers class and its released weights need InternVideo's own code; X-CLIP is the video-text
    model transformers loads.

All read the clips' mp4 files, so the targets are of exactly the frames the decoders are trained to
produce.  These are GPU jobs at full size; ``device`` and ``batch_size`` come from the config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .settings import section, setting
from .stimuli import episode_clips, read_video


@dataclass(frozen=True)
class EmbedderSettings:
    """CLIP or SigLIP (AutoModel): per-frame image and per-caption text embeddings."""

    name: str = setting("clip", "folder name under results/features/", pattern="^[A-Za-z0-9_.-]+$")
    model: str = setting("openai/clip-vit-large-patch14", "folder or hub id")
    batch_size: int = setting(64, "frames or captions per forward pass", minimum=1)


VAE_PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class VaeSettings:
    """The decoder's VAE (diffusers AutoencoderKLCogVideoX): latent mean and std of every clip."""

    name: str = setting("cogvideox_vae", "folder name under results/features/", pattern="^[A-Za-z0-9_.-]+$")
    model: str = setting("THUDM/CogVideoX-5b", "folder or hub id (a CogVideoX pipeline)")
    subfolder: str | None = setting("vae", "where the VAE is inside model (null: at the top)")
    batch_size: int = setting(1, "clips per forward pass", minimum=1)
    dtype: str = setting("float16", "storage type of the latents", enum=("float32", "float16"))
    precision: str = setting("float32", "the VAE's arithmetic: float32, or bfloat16 (weights and video in bf16: "
                             "faster on a GPU; the mean moves by under 2% of the posterior std, README: Speed)",
                             enum=VAE_PRECISIONS)  # fmt: skip


@dataclass(frozen=True)
class WanVaeSettings(VaeSettings):
    """A second latent source, Wan's VAE (diffusers AutoencoderKLWan), for CineNeuron's Wan2.1 decoder."""

    name: str = setting("wan_vae", "folder name under results/features/", pattern="^[A-Za-z0-9_.-]+$")
    model: str | None = setting(None, "folder or hub id (a Wan pipeline; null: no Wan latents — only CineNeuron needs "
                                "them)")  # fmt: skip


@dataclass(frozen=True)
class ActionSettings:
    """A video-text model with ``get_video_features`` (X-CLIP): one action embedding per clip (CineNeuron)."""

    name: str = setting("xclip", "folder name under results/features/", pattern="^[A-Za-z0-9_.-]+$")
    model: str | None = setting(None, "folder or hub id (an X-CLIP; null: no action embeddings — only CineNeuron "
                                "needs them)")  # fmt: skip
    batch_size: int = setting(8, "clips per forward pass", minimum=1)


@dataclass(frozen=True)
class FeatureSettings:
    """Frozen target encoders, run once per episode, cached as safetensors in results/features/<name>/."""

    device: str = setting("cpu", "where the models run (cpu, cuda)")
    embedder: EmbedderSettings = section(EmbedderSettings)
    vae: VaeSettings = section(VaeSettings)
    wan_vae: WanVaeSettings = section(WanVaeSettings)
    action: ActionSettings = section(ActionSettings)


def _save(tensors: dict, metadata: dict, out) -> None:
    from safetensors.numpy import save_file

    from .atomic import atomic_files

    with atomic_files(out) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                  metadata={k: json.dumps(v) for k, v in metadata.items()})  # fmt: skip


def _as_tensor(out):
    """``get_*_features`` return a tensor (transformers 4) or an output whose ``pooler_output`` it is (5)."""
    return out if hasattr(out, "shape") else out.pooler_output


class Embedder:
    """A CLIP/SigLIP model: ``images(frames)`` and ``texts(strings)`` -> float32 embeddings."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64):
        from transformers import AutoModel, AutoProcessor

        self.model_path = model
        self.processor = AutoProcessor.from_pretrained(model)
        self.net = AutoModel.from_pretrained(model).to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.kind = self.net.config.model_type

    def images(self, frames: np.ndarray) -> np.ndarray:
        import torch

        out = []
        for b in range(0, len(frames), self.batch_size):
            x = self.processor(images=list(frames[b : b + self.batch_size]), return_tensors="pt")
            with torch.no_grad():
                out.append(_as_tensor(self.net.get_image_features(pixel_values=x["pixel_values"].to(self.device))))
        return torch.cat(out).float().cpu().numpy()

    def texts(self, texts: list[str]) -> np.ndarray:
        import torch

        # SigLIP was trained on max-length padding; CLIP pads to the batch's longest
        padding = "max_length" if self.kind.startswith("siglip") else True
        out = []
        for b in range(0, len(texts), self.batch_size):
            x = self.processor(text=list(texts[b : b + self.batch_size]), return_tensors="pt", padding=padding,
                               truncation=True)  # fmt: skip
            x = {k: v.to(self.device) for k, v in x.items() if k in ("input_ids", "attention_mask")}
            with torch.no_grad():
                out.append(_as_tensor(self.net.get_text_features(**x)))
        return torch.cat(out).float().cpu().numpy()


def embed_episode(clips_table, captions, episode: str, *, model: str, out, device="cpu", batch_size=64,
                  progress=False) -> dict:  # fmt: skip
    """Rule ``features_embed``: frame and caption embeddings of one episode."""
    from tqdm.auto import tqdm

    clips = episode_clips(clips_table, episode)
    caps = pd.read_parquet(captions)
    emb = Embedder(model, device, batch_size)
    frames = [emb.images(read_video(v)) for v in tqdm(clips["video"], desc=f"embed {episode}", disable=not progress)]
    texts = caps["text"].fillna("").tolist()
    text = emb.texts(texts) if texts else np.zeros((0, frames[0].shape[1]), np.float32)
    tensors = {"frames": np.stack(frames).astype(np.float32), "text": text.astype(np.float32),
               "text_clip": caps["clip_index"].to_numpy(np.int64)}  # fmt: skip
    meta = {"episode": episode, "model": str(model), "kind": emb.kind, "clips": clips["clip"].tolist(),
            "text_source": caps["source"].tolist(), "captions": str(captions)}  # fmt: skip
    _save(tensors, meta, out)
    return {k: v.shape for k, v in tensors.items()}


class ActionEmbedder:
    """A video-text model (X-CLIP: ``get_video_features``): ``videos(clips)`` -> one float32 embedding per
    clip, of ``num_frames`` frames taken evenly over the clip (X-CLIP's sampling of a segment)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 8):
        from transformers import AutoModel, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(model)
        self.net = AutoModel.from_pretrained(model).to(device).eval()
        if not hasattr(self.net, "get_video_features"):
            raise ValueError(f"{model}: a {type(self.net).__name__} has no video embedding; fix: set "
                             "features.action.model to a video-text model such as X-CLIP")  # fmt: skip
        self.frames = int(self.net.config.vision_config.num_frames)
        self.device, self.batch_size, self.kind = device, batch_size, self.net.config.model_type

    def videos(self, clips: list[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        for b in range(0, len(clips), self.batch_size):
            picks = [c[np.linspace(0, len(c) - 1, self.frames).round().astype(int)] for c in clips[b : b + self.batch_size]]
            x = self.processor(videos=[list(p) for p in picks], return_tensors="pt")
            with torch.no_grad():
                out.append(_as_tensor(self.net.get_video_features(pixel_values=x["pixel_values"].to(self.device))))
        return torch.cat(out).float().cpu().numpy()


def embed_actions(clips_table, episode: str, *, model: str, out, device="cpu", batch_size=8, progress=False) -> dict:
    """Rule ``features_action``: the action embedding (``action``: ``(N, A)``) of every clip of one episode."""
    from tqdm.auto import tqdm

    clips = episode_clips(clips_table, episode)
    emb = ActionEmbedder(model, device, batch_size)
    videos = clips["video"].tolist()
    rows = []
    for b in tqdm(range(0, len(videos), batch_size), desc=f"actions {episode}", disable=not progress):
        rows.append(emb.videos([read_video(v) for v in videos[b : b + batch_size]]))
    tensors = {"action": np.concatenate(rows).astype(np.float32)}
    meta = {"episode": episode, "model": str(model), "kind": emb.kind, "clips": clips["clip"].tolist(),
            "frames": emb.frames}  # fmt: skip
    _save(tensors, meta, out)
    return {k: v.shape for k, v in tensors.items()}


def video_tensor(frames: np.ndarray):
    """uint8 (F, H, W, 3) -> float (3, F, H, W) in [-1, 1], as diffusers' video VAEs take it."""
    import torch

    return torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1.0


#: The video VAEs whose latents the features stage caches, by their diffusers class.
VAE_CLASSES = ("AutoencoderKLCogVideoX", "AutoencoderKLWan")


def load_vae(model: str, subfolder=None, device="cpu", precision: str = "float32"):
    """The video VAE of ``model`` (its diffusers class read from its config: CogVideoX's or Wan's), its weights
    in ``precision`` (float32 or bfloat16)."""
    import diffusers

    kw = {"subfolder": subfolder} if subfolder else {}
    try:
        name = diffusers.AutoencoderKL.load_config(model, **kw).get("_class_name")  # any model class reads config.json
    except OSError as e:
        raise ValueError(f"{model}{'/' + subfolder if subfolder else ''}: no VAE config ({e}); fix: point the features' "
                         "vae model (and subfolder) at a diffusers video VAE") from e  # fmt: skip
    if name not in VAE_CLASSES:
        raise ValueError(f"{model}{'/' + subfolder if subfolder else ''}: a {name}, not one of the video VAEs "
                         f"{VAE_CLASSES}; fix: point the features' vae model (and subfolder) at the VAE")  # fmt: skip
    import torch

    return getattr(diffusers, name).from_pretrained(model, **kw).to(device, getattr(torch, precision)).eval()


def latent_normalisation(meta: dict) -> tuple:
    """(shift, scale) per latent channel that turn a features file's latents into the diffusion model's
    (``(z - shift) * scale``): CogVideoX's scalar ``scaling_factor``; Wan's per-channel mean and 1 / std."""
    if meta.get("vae_class", "AutoencoderKLCogVideoX") == "AutoencoderKLWan":
        return np.asarray(meta["latents_mean"], np.float32), 1.0 / np.asarray(meta["latents_std"], np.float32)
    return np.float32(0.0), np.float32(meta["scaling_factor"])


def encode_latents(clips_table, episode: str, *, model: str, out, subfolder=None, device="cpu", batch_size=1,
                   dtype="float32", precision="float32", progress=False) -> dict:  # fmt: skip
    """Rules ``features_latents`` / ``features_wan_latents``: the video VAE's posterior (mean, std) of every clip
    of one episode, with what normalises them (:func:`latent_normalisation`) and the arithmetic's
    ``precision`` in the metadata."""
    import torch
    from tqdm.auto import tqdm

    clips = episode_clips(clips_table, episode)
    vae = load_vae(model, subfolder, device, precision)
    means, stds = [], []
    videos = list(clips["video"])
    for b in tqdm(range(0, len(videos), batch_size), desc=f"latents {episode}", disable=not progress):
        x = torch.stack([video_tensor(read_video(v)) for v in videos[b : b + batch_size]]).to(device, vae.dtype)
        with torch.no_grad():
            dist = vae.encode(x).latent_dist
        means.append(dist.mean.float().cpu().numpy())
        stds.append(dist.std.float().cpu().numpy())
    tensors = {"mean": np.concatenate(means).astype(dtype), "std": np.concatenate(stds).astype(dtype)}
    meta = {"episode": episode, "model": str(model), "clips": clips["clip"].tolist(), "vae_class": type(vae).__name__,
            "frames": int(clips["n_frames"].iloc[0]), "precision": precision}  # fmt: skip
    if type(vae).__name__ == "AutoencoderKLWan":
        meta |= {"latents_mean": list(map(float, vae.config.latents_mean)),
                 "latents_std": list(map(float, vae.config.latents_std))}  # fmt: skip
    else:
        meta["scaling_factor"] = float(vae.config.scaling_factor)
    _save(tensors, meta, out)
    return {k: v.shape for k, v in tensors.items()}


def read_features(path) -> tuple[dict, dict]:
    """A features file: (tensors as numpy arrays, metadata decoded from JSON)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        return {k: f.get_tensor(k) for k in f.keys()}, meta
