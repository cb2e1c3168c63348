"""Semantic and spatiotemporal metrics of Cine-Benchmark: N-way top-K classification with exact chance
levels, bootstrap confidence intervals, temporal consistency of frame embeddings, and the Fréchet
distance between feature sets (FVD with a configurable feature network).

N-way top-K, after MinD-Video's evaluation code (which Mind-Animator, CineBrain and others reuse), in two
conventions, by name:

- ``mindvideo``: the ground truth's top-3 classes (under the classifier's probabilities for the ground
  truth) all count as correct. Each trial draws n - 1 distractor classes from the other classes; it
  succeeds if any ground-truth class is within the top K of {that class + the distractors} under the
  reconstruction's probabilities — i.e. if fewer than K distractors outscore the best-scored
  ground-truth class. A reconstruction unrelated to its clip succeeds with probability
  :func:`chance` — 0.75 for 2-way top-1 and 3/52 = 0.058 for 50-way, not 0.5 and 0.02;
- ``strict``: the ground truth's top-1 class only (chance K / n).

Ties are broken at random, by their expected value: a distractor whose score equals the best correct
class's is ahead of it with the probability a random order of the tied classes gives, so a classifier
that scores every class the same lands exactly on :func:`chance`. (Counting ties for the ground truth, as
a ``>`` comparison does, gives such a classifier 1.0 at any N; MinD-Video's sort puts them against it.)
"""

from __future__ import annotations

import numpy as np

CONVENTIONS = {"mindvideo": 3, "strict": 1}  # ground-truth classes that count as correct


def _n_correct(convention: str) -> int:
    if convention not in CONVENTIONS:
        raise ValueError(f"N-way convention '{convention}' does not exist; fix: one of {sorted(CONVENTIONS)}")
    return CONVENTIONS[convention]


def n_way_top_k(rec_probs, gt_probs, n_way: int, top_k: int = 1, convention: str = "mindvideo",
                trials: int = 100, seed: int = 0) -> np.ndarray:  # fmt: skip
    """Per sample (rows of ``rec_probs`` / ``gt_probs``, classifier probabilities or logits over C classes):
    the share of ``trials`` N-way top-K trials that succeed (see the module docstring)."""
    rec, gt = np.asarray(rec_probs, float), np.asarray(gt_probs, float)
    if rec.shape != gt.shape or rec.ndim != 2:
        raise ValueError(f"n_way_top_k: scores of shape {rec.shape} and {gt.shape}; expected the same (N, classes)")
    n_gt = _n_correct(convention)
    c = rec.shape[1]
    if not 1 <= top_k <= n_way <= c - n_gt + 1:
        raise ValueError(f"n_way_top_k: {n_way}-way top-{top_k} needs 1 <= k <= n <= {c - n_gt + 1} with {c} classes")
    rng = np.random.default_rng(seed)
    out = np.empty(len(rec))
    for i, (r, g) in enumerate(zip(rec, gt, strict=True)):
        correct = np.argsort(g)[-n_gt:]
        others = np.setdiff1d(np.arange(c), correct)
        best = r[correct].max()
        above = r[others] > best  # distractor classes that outscore every correct class
        tied = r[others] == best  # ... and those that tie the best of them
        n_best = int((r[correct] == best).sum())  # correct classes at that score
        # each trial's n - 1 distractors without replacement: the n - 1 smallest of fresh random keys
        keys = rng.random((trials, len(others)))
        picked = np.argpartition(keys, n_way - 2, axis=1)[:, : n_way - 1] if n_way > 1 else np.zeros((trials, 0), int)
        out[i] = float(_success_with_ties(above[picked].sum(1), tied[picked].sum(1), n_best, top_k).mean())
    return out


def _success_with_ties(n_above: np.ndarray, n_tied: np.ndarray, n_best: int, top_k: int) -> np.ndarray:
    """P(fewer than ``top_k`` distractors ahead of the first correct class) per trial, when ``n_above``
    distractors outscore it and ``n_tied`` tie it with ``n_best`` correct classes, in a random order of the
    tied ones: P(the first d tied places are all distractors) = prod_{i<d} (T - i) / (T + n_best - i)."""
    need = top_k - n_above  # tied distractors ahead that still leave a correct class in the top K
    p_fail = (need <= 0).astype(float)  # P(at least `need` tied distractors before the first correct class)
    for j in np.flatnonzero((need > 0) & (need <= n_tied)):  # trials with ties that matter (rare)
        d, t = int(need[j]), int(n_tied[j])
        p_fail[j] = np.prod([(t - i) / (t + n_best - i) for i in range(d)])
    return 1.0 - p_fail


def chance(n_way: int, top_k: int = 1, convention: str = "mindvideo") -> float:
    """The exact success probability of a reconstruction whose class scores are exchangeable with the
    ground truth's (unrelated to the clip): fewer than K of the n - 1 distractors above the best of the
    g correct classes, when the g + n - 1 scores are in random order."""
    g, m = _n_correct(convention), n_way - 1
    p, total = 1.0, 0.0
    for j in range(min(top_k, m + 1)):  # P(exactly j distractors above every correct class)
        total += p * g / (m + g - j)
        p *= (m - j) / (m + g - j)
    return float(total)


def bootstrap_ci(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over samples (NaNs left out)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def temporal_consistency(frame_embeddings) -> float:
    """CLIP (CTC, "CLIP-pcc") or DINO (DTC) temporal consistency of one clip: the mean cosine similarity
    of adjacent frames' embeddings ``(F, D)``."""
    e = np.asarray(frame_embeddings, float)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return float((e[1:] * e[:-1]).sum(1).mean())


def temporal_consistency_gated(frame_embeddings, video_similarity: float, threshold: float = 0.6) -> float:
    """Mind-Animator's CLIP-pcc: the temporal consistency, or 0 when the video-level similarity of the
    reconstruction to its ground truth (VIFI-CLIP cosine) is at or below ``threshold`` — a clip of noise or
    blank frames would otherwise score high (the released ``Evaluation_Metrics/CLIP_consist.py``: ``<= bar``
    scores 0)."""
    return temporal_consistency(frame_embeddings) if video_similarity > threshold else 0.0


def ctc_shuffle_p(frame_embeddings, n: int = 100, seed: int = 0) -> float:
    """Mind-Animator's shuffle test on CLIP-pcc: the share of ``n`` random frame orders of the reconstruction
    whose temporal consistency is higher than its own order's (small: the order carries the consistency)."""
    e = np.asarray(frame_embeddings, float)
    rng = np.random.default_rng(seed)
    ref = temporal_consistency(e)
    return sum(temporal_consistency(e[rng.permutation(len(e))]) > ref for _ in range(n)) / n


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D): FVD when the features come
    from a video network. |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance: feature sets of shape {a.shape} and {b.shape}; need (N >= 2, D) each")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    import warnings

    with warnings.catch_warnings():  # fewer clips than feature dimensions: singular, handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as the usual FID/FVD code does
        eps = np.eye(len(s_a)) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))
