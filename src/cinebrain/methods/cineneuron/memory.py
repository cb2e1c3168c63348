"""CineNeuron's Mixture-of-Memories ("Bridging Brain and Semantics", seed 001, section 3.2).

**The memory pool** (:class:`MemoryPool`): one entry per *training* clip — its CLIP text embedding, its
consolidated image embedding and its action embedding (what retrieval compares with), and the decoder's
text condition of its caption (what the top-1 text memory hands to the video decoder). A clip of the
test split in the pool would let a reconstruction copy its own answer: :meth:`MemoryPool.check_disjoint`
makes that an error, for the pool and for any extra clips added to it (supplementary C.4).

**Retrieval** (eq. 4-5): a linear router turns the fMRI embedding into per-modality weights (softmax over
text, image, action); each entry's mixture score is the weighted sum of the cosine similarities of the
Brain Model's projections (the semantic one for text and image, the action one for action) to the entry's
embeddings; the entries are ranked by it: the text condition of the best entry, the image and action
embeddings of the ``top_k`` best.

**Integration** (eq. 6-8): two cross-attention layers, the fMRI embedding the query and the retrieved
image (then action) embeddings keys and values, added to the fMRI embedding; the result normalised and
mapped by a zero-initialised linear layer ("zero-conv") to the decoder condition's tokens and width; the
retrieved text condition plus a zero-initialised linear layer of itself; the sum, with the balance
weight on the fMRI stream. At initialisation the fused condition is exactly the retrieved text condition.

The hard top-k gives the router no gradient; with ``score_bias`` (our choice, the paper does not say how
the router learns) the retrieved entries' mixture scores are added to the cross-attention logits, so the
router and the projections learn from the decoder's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .settings import MODALITIES


class MemoryPoolError(ValueError):
    """A memory pool that cannot serve: leakage, a mismatched feature model, a missing embedding."""


@dataclass
class MemoryPool:
    """Embeddings of seen clips: ``text``, ``image`` (N, D), ``action`` (N, A), decoder ``condition``
    (N, L, Dc), the ``clips`` they come from and the ``models`` that made them (feature name -> model)."""

    clips: list[str]
    text: torch.Tensor
    image: torch.Tensor
    action: torch.Tensor
    condition: torch.Tensor
    models: dict

    def __post_init__(self):
        n = len(self.clips)
        for key in ("text", "image", "action", "condition"):
            value = getattr(self, key)
            if value is None:
                raise MemoryPoolError(f"memory pool: no '{key}' embeddings; fix: compute them in the features stage")
            if len(value) != n:
                raise MemoryPoolError(f"memory pool: {len(value)} '{key}' rows for {n} clips")
        if len(set(self.clips)) != n:
            raise MemoryPoolError("memory pool: a clip appears twice; fix: build it from one split's clips")

    def __len__(self) -> int:
        return len(self.clips)

    def check_disjoint(self, clips, where: str = "memory pool") -> None:
        """Error when any of ``clips`` (the test split's) is in the pool: leakage."""
        leaked = sorted(set(self.clips) & set(map(str, clips)))
        if leaked:
            raise MemoryPoolError(f"{where}: {len(leaked)} test clips are memories ({', '.join(leaked[:3])}"
                                  f"{', ...' if len(leaked) > 3 else ''}); fix: build the pool from training "
                                  "clips only and drop test clips from extra memories")  # fmt: skip

    def check_models(self, models: dict, where: str = "memory pool", against: str = "the Brain Model was trained on") -> None:
        """Error when the pool's embeddings were made by other models than ``models`` expects (a model
        unknown on either side, None, is not compared)."""
        for key, model in models.items():
            if model is not None and self.models.get(key) is not None and self.models[key] != model:
                raise MemoryPoolError(f"{where}: its '{key}' embeddings come from {self.models[key]}, {against} "
                                      f"{model}'s; fix: rebuild the pool with the same features (rule "
                                      "cineneuron_memory)")  # fmt: skip

    def extend(self, other: MemoryPool) -> MemoryPool:
        """This pool with ``other``'s entries appended (supplementary C.4); same models, no shared clip."""
        other.check_models(self.models, "extra memories")
        dup = sorted(set(self.clips) & set(other.clips))
        if dup:
            raise MemoryPoolError(f"extra memories: clips already in the pool ({', '.join(dup[:3])})")
        cat = {k: torch.cat([getattr(self, k), getattr(other, k)]) for k in ("text", "image", "action", "condition")}
        return MemoryPool(self.clips + other.clips, models=dict(self.models), **cat)

    def save(self, path) -> Path:
        from ...features import _save

        tensors = {k: getattr(self, k).float().cpu().numpy() for k in ("text", "image", "action", "condition")}
        _save(tensors, {"clips": self.clips, "models": self.models}, path)
        return Path(path)

    @classmethod
    def load(cls, path) -> MemoryPool:
        from ...features import read_features

        try:
            tensors, meta = read_features(path)
        except Exception as e:  # safetensors raises its own types
            raise MemoryPoolError(f"{path}: not a memory pool ({e}); fix: rebuild it (rule cineneuron_memory)") from e
        missing = [k for k in ("text", "image", "action", "condition") if k not in tensors]
        if missing or "clips" not in meta:
            raise MemoryPoolError(f"{path}: a memory pool without {', '.join(missing) or 'clips'}; fix: rebuild it")
        return cls(list(meta["clips"]), models=meta.get("models", {}),
                   **{k: torch.from_numpy(v) for k, v in tensors.items()})  # fmt: skip


def mixture_scores(weights, queries: dict, pool: MemoryPool):
    """Eq. 5: (B, N) scores, ``weights`` (B, 3) in :data:`MODALITIES` order, ``queries`` the normalised
    (B, D) query of each modality; the pool's embeddings are normalised here."""
    F = nn.functional
    sims = [F.normalize(queries[m].float(), dim=-1) @ F.normalize(getattr(pool, m).float(), dim=-1).T
            for m in MODALITIES]  # fmt: skip
    return sum(weights[:, i, None] * s for i, s in enumerate(sims))


@dataclass
class Retrieved:
    """What retrieval hands to the integration: the top-1 ``condition`` (B, L, Dc), the top-k ``image``
    (B, k, D) and ``action`` (B, k, A) memories, their ``scores`` (B, k), the pool ``indices`` (B, k)."""

    condition: torch.Tensor
    image: torch.Tensor
    action: torch.Tensor
    scores: torch.Tensor
    indices: torch.Tensor


def retrieve(scores, pool: MemoryPool, k: int, exclude=None) -> Retrieved:
    """The ``k`` best entries of each row of ``scores`` (B, N). ``exclude`` (B,) pool indices, -1 for none:
    an entry a row may not retrieve (in training, the clip itself: otherwise it learns to find itself)."""
    if exclude is not None:
        scores = scores.clone()
        rows = torch.nonzero(exclude >= 0).flatten()
        scores[rows, exclude[rows]] = float("-inf")
    k = min(k, len(pool) - (exclude is not None))
    top, idx = scores.topk(k, dim=1)
    dev = scores.device
    return Retrieved(condition=pool.condition.to(dev)[idx[:, 0]], image=pool.image.to(dev)[idx],
                     action=pool.action.to(dev)[idx], scores=top, indices=idx)  # fmt: skip


class MemoryCrossAttention(nn.Module):
    """The fMRI embedding (B, T, W) attends to k memories (B, k, D); the output (B, T, W) is added to it.

    torch's ``scaled_dot_product_attention`` does the attention; ``nn.MultiheadAttention`` would need the
    per-clip score bias repeated per head as a (B x heads, T, k) mask, where this takes it as (B, 1, 1, k)."""

    def __init__(self, width: int, memory_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(memory_dim, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x, memory, bias=None):
        b, t, w = x.shape
        h = self.heads
        q = self.q(self.norm(x)).view(b, t, h, w // h).transpose(1, 2)
        key, value = self.kv(memory.float()).view(b, memory.shape[1], 2, h, w // h).permute(2, 0, 3, 1, 4)
        mask = None if bias is None else bias[:, None, None, :].to(q.dtype)  # (B, 1, 1, k): added to the logits
        y = nn.functional.scaled_dot_product_attention(q, key, value, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, t, w))


def zero_linear(d_in: int, d_out: int) -> nn.Linear:
    """A "zero-conv" (ControlNet): a 1x1 map whose weight and bias start at zero."""
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MixtureOfMemories(nn.Module):
    """Router + retrieval + integration: (fMRI embedding, Brain Model projections) -> decoder condition."""

    def __init__(self, width: int, n_tokens: int, embed_dim: int, action_dim: int, cond_tokens: int, cond_dim: int,
                 top_k: int = 3, balance: float = 1.0, heads: int = 8, score_bias: bool = True):  # fmt: skip
        super().__init__()
        if width % heads:
            raise ValueError(f"Mixture-of-Memories: width {width} is not divisible by heads {heads}")
        self.top_k, self.balance, self.score_bias = top_k, balance, score_bias
        self.router = nn.Linear(width, len(MODALITIES))  # supplementary A.3: a linear layer
        self.image_attention = MemoryCrossAttention(width, embed_dim, heads)
        self.action_attention = MemoryCrossAttention(width, action_dim, heads)
        self.norm = nn.LayerNorm(width)
        # the fMRI stream onto the condition's tokens and width, zero at the start (eq. 7)
        self.tokens = nn.Linear(n_tokens, cond_tokens) if n_tokens != cond_tokens else nn.Identity()
        self.fmri_zero = zero_linear(width, cond_dim)
        self.text_zero = zero_linear(cond_dim, cond_dim)

    def route(self, embedding):
        """Eq. 4: per-modality retrieval weights (B, 3) from the mean of the fMRI embedding's tokens."""
        return self.router(embedding.mean(1)).softmax(-1)

    def forward(self, brain: dict, pool: MemoryPool, exclude=None) -> dict:
        """``brain``: the Brain Model's output (``embedding``, ``semantic``, ``action``) -> the fused
        condition (B, cond_tokens, cond_dim), the router's ``weights`` and the ``retrieved`` memories."""
        e = brain["embedding"].float()
        weights = self.route(e)
        queries = {"text": brain["semantic"], "image": brain["semantic"], "action": brain["action"]}
        got = retrieve(mixture_scores(weights, queries, pool), pool, self.top_k, exclude)
        bias = got.scores if self.score_bias else None
        e = e + self.image_attention(e, got.image, bias) + self.action_attention(e, got.action, bias)
        fmri = self.fmri_zero(self.tokens(self.norm(e).transpose(1, 2)).transpose(1, 2))
        text = got.condition.float()
        fused = text + self.text_zero(text) + self.balance * fmri
        return {"condition": fused, "weights": weights, "retrieved": got}


__all__ = ["MemoryCrossAttention", "MemoryPool", "MemoryPoolError", "MixtureOfMemories", "Retrieved",
           "mixture_scores", "retrieve", "zero_linear"]  # fmt: skip
