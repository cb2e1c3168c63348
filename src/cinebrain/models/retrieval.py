"""Retrieval and identification scores of brain embeddings against stimulus embeddings, with chance.

``sim[i, j]``: similarity of brain embedding i and stimulus embedding j (row i's match is column i).

- top-k retrieval (brain -> video: rows; video -> brain: columns): the match ranks among the k most
  similar of the N candidates; chance k / N.  Following CineBrain/MindVideo, N is 300 clips drawn at
  random from the test set (all of them if fewer), and the score is averaged over ``repeats`` draws.
- 2-way identification: for every i and every j != i, the match is more similar than j; chance 0.5.
"""

from __future__ import annotations

import numpy as np


def topk(sim: np.ndarray, k: int) -> float:
    """Fraction of rows whose diagonal element is among the k largest of the row (ties count against)."""
    diag = np.diag(sim)[:, None]
    rank = (sim > diag).sum(1)  # how many candidates beat the match
    return float((rank < k).mean())


def two_way(sim: np.ndarray) -> float:
    diag = np.diag(sim)[:, None]
    off = ~np.eye(len(sim), dtype=bool)
    return float((diag > sim)[off].mean())


def retrieval_scores(brain: np.ndarray, stim: np.ndarray, n_candidates: int = 300, repeats: int = 20,
                     ks=(1, 5), seed: int = 0) -> dict:  # fmt: skip
    """Scores of L2-normalised embeddings (N, D) with their chance levels."""
    rng = np.random.default_rng(seed)
    n = len(brain)
    m = min(n_candidates, n)
    out = {f"{d}_top{k}": [] for d in ("brain_to_video", "video_to_brain") for k in ks}
    out["two_way"] = []
    for _ in range(repeats if m < n else 1):
        idx = rng.choice(n, m, replace=False) if m < n else np.arange(n)
        sim = brain[idx] @ stim[idx].T
        for k in ks:
            out[f"brain_to_video_top{k}"].append(topk(sim, k))
            out[f"video_to_brain_top{k}"].append(topk(sim.T, k))
        out["two_way"].append(two_way(sim))
    scores = {k: float(np.mean(v)) for k, v in out.items()}
    chance = {f"{d}_top{k}": min(k, m) / m for d in ("brain_to_video", "video_to_brain") for k in ks}
    chance["two_way"] = 0.5
    return {"n_candidates": m, "repeats": repeats if m < n else 1, "scores": scores, "chance": chance}
