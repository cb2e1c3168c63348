"""The networks Cine-Benchmark's semantic and temporal metrics run, loaded with ``from_pretrained`` from
configured folders or hub ids (the demo and tests: tiny random models of the same classes).

- video classifier: a VideoMAE fine-tuned on Kinetics-400 (``AutoModelForVideoClassification``; MinD-Video
  and its successors: MCG-NJU/videomae-base-finetuned-kinetics), fed ``config.num_frames`` frames
  sampled evenly from the clip;
- image classifier: an ImageNet ViT (``AutoModelForImageClassification``; google/vit-base-patch16-224);
- CLIP: frame embeddings for CLIP temporal consistency (``CLIPModel.get_image_features``);
- DINO: CLS embeddings for DINO temporal consistency (``AutoModel``; facebook/dino-vitb16);
- CLIP-pcc gate (optional): a video-text model with ``get_video_features`` (X-CLIP's class; Mind-Animator
  gates with ViFi-CLIP, a CLIP fine-tuned on videos that is a manual download, usable once converted to
  X-CLIP's layout), whose video-level cosine of reconstruction and ground truth gates Mind-Animator's CLIP-pcc;
- FVD features: the mean of a video model's last hidden states (``AutoModel``; by default the VideoMAE
  above). The FVD of the literature uses an I3D network, which has no transformers/diffusers
  implementation here: our FVD is a Fréchet distance of VideoMAE features, comparable across our runs,
  not with published FVD values.
"""

from __future__ import annotations

import numpy as np
import torch

from ..stimuli import sample_frames


class MetricNetworks:
    """Lazily loaded metric networks; each method takes uint8 RGB frames or clips and returns numpy arrays."""

    def __init__(self, video_classifier=None, image_classifier=None, clip=None, dino=None, fvd=None, ctc_gate=None,
                 device: str = "cpu", batch_size: int = 16):  # fmt: skip
        self.paths = {"video_classifier": video_classifier, "image_classifier": image_classifier, "clip": clip,
                      "dino": dino, "fvd": fvd, "ctc_gate": ctc_gate}  # fmt: skip
        self.device, self.batch_size = device, batch_size
        self._loaded: dict = {}

    def _get(self, kind: str):
        if kind not in self._loaded:
            import transformers as tf

            path = self.paths[kind]
            if not path:
                raise ValueError(f"benchmark.networks.{kind} is not set; fix: name a model folder or hub id")
            cls = {"video_classifier": tf.AutoModelForVideoClassification, "image_classifier":
                   tf.AutoModelForImageClassification, "clip": tf.CLIPModel, "dino": tf.AutoModel,
                   "fvd": tf.AutoModel}[kind]  # fmt: skip
            model = cls.from_pretrained(path).to(self.device).eval()
            self._loaded[kind] = (model, tf.AutoImageProcessor.from_pretrained(path))
        return self._loaded[kind]

    @torch.no_grad()
    def _images(self, kind: str, frames: np.ndarray, fn) -> np.ndarray:
        model, proc = self._get(kind)
        out = []
        for b in range(0, len(frames), self.batch_size):
            px = proc(images=list(frames[b : b + self.batch_size]), return_tensors="pt")["pixel_values"]
            out.append(fn(model, px.to(self.device)).float().cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def _videos(self, kind: str, clips, fn) -> np.ndarray:
        model, proc = self._get(kind)
        n = model.config.num_frames
        out = []
        for b in range(0, len(clips), self.batch_size):
            videos = [list(sample_frames(c, n)) for c in clips[b : b + self.batch_size]]
            px = proc(videos, return_tensors="pt")["pixel_values"]
            out.append(fn(model, px.to(self.device)).float().cpu().numpy())
        return np.concatenate(out)

    def video_probs(self, clips) -> np.ndarray:
        """(N, classes) Kinetics-400 probabilities of each clip."""
        return self._videos("video_classifier", clips, lambda m, x: m(pixel_values=x).logits.softmax(-1))

    def frame_probs(self, frames: np.ndarray) -> np.ndarray:
        """(M, classes) ImageNet probabilities of each frame."""
        return self._images("image_classifier", frames, lambda m, x: m(pixel_values=x).logits.softmax(-1))

    def clip_embeddings(self, frames: np.ndarray) -> np.ndarray:
        def f(m, x):
            e = m.get_image_features(pixel_values=x)
            return e.pooler_output if hasattr(e, "pooler_output") else e

        return self._images("clip", frames, f)

    def dino_embeddings(self, frames: np.ndarray) -> np.ndarray:
        return self._images("dino", frames, lambda m, x: m(pixel_values=x).last_hidden_state[:, 0])

    @property
    def has_gate(self) -> bool:
        return bool(self.paths["ctc_gate"])

    def gate_embeddings(self, clips) -> np.ndarray:
        """(N, D) video embeddings of the CLIP-pcc gate (:class:`cinebrain.features.ActionEmbedder`: X-CLIP's
        ``get_video_features`` on its ``num_frames`` frames taken evenly over the clip)."""
        from ..features import ActionEmbedder

        if "ctc_gate" not in self._loaded:
            self._loaded["ctc_gate"] = ActionEmbedder(self.paths["ctc_gate"], self.device, self.batch_size)
        return self._loaded["ctc_gate"].videos(list(clips))

    def video_features(self, clips) -> np.ndarray:
        """(N, D) FVD features: the mean of the video model's last hidden states."""
        return self._videos("fvd", clips, lambda m, x: m(pixel_values=x).last_hidden_state.mean(1))
