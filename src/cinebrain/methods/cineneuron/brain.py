"""CineNeuron's Brain Model and its stage-1 objectives ("Bridging Brain and Semantics", seed 001, 3.1).

The Brain Model maps a clip's fMRI window (volumes x ROI columns) to a **global token** (one vector,
aligned with the clip's semantics) and an **fMRI embedding** (``n_tokens`` x ``width``, used by the
Mixture-of-Memories and the video decoder in stage 2). Two backbones:

- ``transformer`` (section 4.1: "following [MinD-Video, CineBrain]", 24 layers of width 2048 over 512
  tokens + 1 global token): the window cut into ``n_tokens`` runs of ROI columns, each the volumes of its
  columns linearly embedded, a learned global token and positions, a pre-norm transformer encoder — the
  same tower as CineSync's fMRI encoder (:class:`cinebrain.methods.cinesync.encoder.ViT`);
- ``mlp`` (supplementary C.3, the MindEye2/NeuroClips backbone): a ridge projection of the flattened
  window to ``ridge_dim``, ``mlp_blocks`` residual MLP blocks, and a linear map to the 1 + ``n_tokens``
  tokens.

Heads on the global token (section 3.1): a semantic projection into the CLIP space, aligned by InfoNCE
with the clip's text embedding and with its multi-frame image embeddings aggregated by a trainable
projection head (:class:`cinebrain.methods.cinesync.encoder.FrameAggregator`); an action head into the
action model's space, aligned by InfoNCE with the clip's action embedding; a category head, trained on
the 15 superclasses with BCE + focal loss. Stage 1's loss (eq. 3):
``L_image + L_text + action_weight * L_action + category_weight * L_category``.
"""

from __future__ import annotations

from torch import nn

from ...models.losses import category_loss, info_nce
from ..cinesync.encoder import FrameAggregator, ViT
from .settings import BrainModelConfig


class ResidualMLP(nn.Module):
    """MindEye2's backbone body: ``blocks`` of (LayerNorm, GELU, dropout, Linear) added to their input."""

    def __init__(self, dim: int, blocks: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)) for _ in range(blocks)
        )

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return x


class MLPBackbone(nn.Module):
    """(B, volumes, V) -> (B, 1 + n_tokens, width): ridge projection, residual MLP, linear to tokens."""

    def __init__(self, cfg: BrainModelConfig):
        super().__init__()
        volumes, columns = cfg.fmri_shape
        self.n_tokens, self.width = cfg.n_tokens, cfg.width
        self.ridge = nn.Linear(volumes * columns, cfg.ridge_dim)
        self.mlp = ResidualMLP(cfg.ridge_dim, cfg.mlp_blocks, cfg.dropout)
        self.out = nn.Linear(cfg.ridge_dim, (1 + cfg.n_tokens) * cfg.width)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, x):
        h = self.mlp(self.ridge(x.flatten(1)))
        return self.norm(self.out(h).view(len(x), 1 + self.n_tokens, self.width))


class BrainModel(nn.Module):
    """fMRI window -> global token, fMRI embedding, and the heads' outputs (see the module's docstring)."""

    def __init__(self, cfg: BrainModelConfig):
        super().__init__()
        self.cfg = cfg
        volumes, columns = cfg.fmri_shape
        self.backbone = ViT(volumes, columns, cfg) if cfg.backbone == "transformer" else MLPBackbone(cfg)
        self.semantic_head = nn.Linear(cfg.width, cfg.embed_dim)
        self.action_head = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.width), nn.GELU(),
                                         nn.Linear(cfg.width, cfg.action_dim))  # fmt: skip
        self.category_head = nn.Linear(cfg.width, cfg.n_classes)
        self.aggregate = FrameAggregator(cfg.embed_dim)

    def forward(self, fmri) -> dict:
        """``fmri`` (B, volumes, V) -> ``global`` (B, width), ``embedding`` (B, n_tokens, width), the
        normalised ``semantic`` (B, embed_dim) and ``action`` (B, action_dim) projections of the global
        token, and the category ``logits`` (B, n_classes)."""
        F = nn.functional
        tokens = self.backbone(fmri.float())
        g = tokens[:, 0]
        return {"global": g, "embedding": tokens[:, 1:], "semantic": F.normalize(self.semantic_head(g), dim=-1),
                "action": F.normalize(self.action_head(g), dim=-1), "logits": self.category_head(g)}  # fmt: skip

    def image_embedding(self, frames):
        """The clip's consolidated image embedding: its frames' CLIP embeddings (B, F, D) aggregated."""
        return nn.functional.normalize(self.aggregate(frames.float()), dim=-1)

    def loss(self, batch: dict) -> tuple:
        """Stage 1's loss of a batch (``fmri``, ``frames`` (B, F, D), ``text`` (B, D), ``action`` (B, A),
        ``categories`` (B, C) multi-hot) and its terms."""
        return self.objectives(self(batch["fmri"]), batch)

    def objectives(self, out: dict, batch: dict) -> tuple:
        """Stage 1's loss of the Brain Model's outputs ``out`` for ``batch`` (also a term of stage 2's)."""
        F = nn.functional
        cfg = self.cfg
        terms = {
            "image": info_nce(out["semantic"], self.image_embedding(batch["frames"]), cfg.temperature),
            "text": info_nce(out["semantic"], F.normalize(batch["text"].float(), dim=-1), cfg.temperature),
            "action": info_nce(out["action"], F.normalize(batch["action"].float(), dim=-1), cfg.temperature),
            "category": category_loss(out["logits"], batch["categories"], cfg.focal_alpha, cfg.focal_gamma),
        }
        total = terms["image"] + terms["text"] + cfg.action_weight * terms["action"]
        total = total + cfg.category_weight * terms["category"]
        return total, {k: v.detach() for k, v in terms.items()}


def loss_fn(model, batch):
    """The Trainer's loss function (the Trainer runs it inside DDP's forward under torch.distributed)."""
    return model.loss(batch)


def load_brain(brain_dir, device="cpu") -> BrainModel:
    """A trained Brain Model: ``config.json`` (key ``model``) and ``model.safetensors`` of stage 1's output."""
    import json
    from pathlib import Path

    from cinebrain.integrity import load_safetensors

    brain_dir = Path(brain_dir)
    doc = json.loads((brain_dir / "config.json").read_text())["model"]
    cfg = BrainModelConfig(**{k: tuple(v) if k == "fmri_shape" else v for k, v in doc.items()})
    model = BrainModel(cfg)
    model.load_state_dict(load_safetensors(brain_dir / "model.safetensors"))
    return model.to(device).eval()


def check_batch(batch: dict, cfg: BrainModelConfig, where: str = "") -> None:
    """One clear error for a batch whose parts do not fit the Brain Model (a missing action embedding,
    features of another model)."""
    need = {"fmri": None, "frames": cfg.embed_dim, "text": cfg.embed_dim, "action": cfg.action_dim,
            "categories": cfg.n_classes}  # fmt: skip
    for key, width in need.items():
        if key not in batch:
            fix = {"action": "compute the action embeddings (features stage, features.action)",
                   "categories": "run the captions stage's categories"}.get(key, "rebuild the dataset (rule data_build)")  # fmt: skip
            raise ValueError(f"{where or 'batch'}: no '{key}' for CineNeuron's Brain Model; fix: {fix}")
        if width is not None and batch[key].shape[-1] != width:
            raise ValueError(f"{where or 'batch'}: '{key}' has width {batch[key].shape[-1]}, the Brain Model expects "
                             f"{width}; fix: use the features of the model it was built for")  # fmt: skip
    if tuple(batch["fmri"].shape[1:]) != tuple(cfg.fmri_shape):
        raise ValueError(f"{where or 'batch'}: fMRI windows of shape {tuple(batch['fmri'].shape[1:])}, the Brain Model "
                         f"expects {tuple(cfg.fmri_shape)}; fix: the same ROI sets and window as it was built for")  # fmt: skip


__all__ = ["BrainModel", "BrainModelConfig", "MLPBackbone", "ResidualMLP", "check_batch", "load_brain", "loss_fn"]
