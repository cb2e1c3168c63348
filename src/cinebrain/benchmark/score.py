"""Score every reconstruction of one decoder variant and subject against its ground-truth clip (rule
``benchmark_score``), and summarise all of them (rule ``benchmark_summary``).

Per clip (``metrics.parquet``): clip id, episode, scene-cut flag, and every metric —
``video_{n}way_{convention}`` / ``frame_{n}way_{convention}`` (top-``top_k``; frame-based: each frame
scored against its ground-truth frame, averaged over the frames), ``ctc``, ``ctc_mindanimator`` (0 below
the video-level CLIP similarity threshold), ``dtc``, ``ssim_rgb``, ``ssim_gray``, ``psnr``,
``hue_cosine``, ``hue_pearson``, ``epe``, when enabled ``epe_shuffle_p``, and the convention ledger's
``<metric>_as_released`` (:data:`pixel.AS_RELEASED`). Set-level (``set.json``):
FVD with a bootstrap interval over clips.

The summary (``summary.csv`` and a Markdown table) has per variant, subject, metric and clip group (all
clips, clips with a scene cut, clips without) the mean, the 95% bootstrap interval over clips, the chance
level where one is defined, the number of clips averaged (``n``) and the number left out because the
metric is undefined for them (``excluded``: e.g. hue on achromatic clips; named in the Markdown table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_dir
from ..settings import build, section, setting
from . import pixel, semantic

PIXEL_METRICS = {"ssim_rgb": pixel.ssim_rgb, "ssim_gray": pixel.ssim_gray, "psnr": pixel.psnr,
                 "hue_cosine": pixel.hue_cosine, "hue_pearson": pixel.hue_pearson}  # fmt: skip
LOWER_IS_BETTER = {"epe", "epe_shuffle_p", "epe_as_released", "fvd"}
CONVENTIONS = ("mindvideo", "strict")


@dataclass(frozen=True)
class Networks:
    """The metric networks: folders or hub ids, loaded with from_pretrained."""

    video_classifier: str = setting("MCG-NJU/videomae-base-finetuned-kinetics", "VideoMAE on Kinetics-400")
    image_classifier: str = setting("google/vit-base-patch16-224", "ImageNet ViT")
    clip: str = setting("openai/clip-vit-large-patch14", "CLIP for CTC")
    dino: str = setting("facebook/dino-vitb16", "DINO for DTC")
    fvd: str = setting("MCG-NJU/videomae-base-finetuned-kinetics", "video features for the Frechet distance (not I3D)")


@dataclass(frozen=True)
class BenchmarkSettings:
    """Cine-Benchmark: every reconstruction scored against its ground-truth clip, summarised with 95% bootstrap
    intervals and chance levels (rules benchmark_*)."""

    device: str = setting("cpu", "where the metric networks run (cpu, cuda)")
    batch_size: int = setting(16, "frames or clips per network call", minimum=1)
    networks: Networks = section(Networks)
    n_way: tuple[int, ...] = setting((2, 50), "N of the N-way classification tests (CineBrain: 2 and 50)",
                                     items={"type": "integer", "minimum": 2}, minItems=1, uniqueItems=True)  # fmt: skip
    top_k: int = setting(1, "K: a trial succeeds when a correct class is among the top K", minimum=1)
    conventions: tuple[str, ...] = setting(CONVENTIONS, "mindvideo: the GT's top-3 classes count; strict: top-1 only",
                                           items={"enum": list(CONVENTIONS)}, minItems=1, uniqueItems=True)  # fmt: skip
    trials: int = setting(100, "N-way trials per clip (MinD-Video: 100)", minimum=1)
    ctc_threshold: float = setting(0.6, "Mind-Animator's CLIP-pcc: 0 below this GT-reconstruction CLIP similarity")
    shuffle_n: int = setting(0, "frame-order shuffles per clip for the EPE shuffle test (0: off)", minimum=0)
    bootstrap: int = setting(1000, "bootstrap resamples of the clips for the 95% intervals", minimum=10)
    fvd_bootstrap: int = setting(200, "bootstrap resamples for FVD's interval", minimum=0)
    seed: int = setting(0, "seed of the N-way trials, shuffles and bootstraps", minimum=0)
    metrics: tuple[str, ...] = setting((), "the per-clip metrics in the tables (empty: all)", uniqueItems=True)
    as_released: tuple[str, ...] = setting(tuple(pixel.AS_RELEASED), "metrics also reported as the papers' released "
                                           "code computes them (<metric>_as_released; the convention ledger)",
                                           items={"enum": list(pixel.AS_RELEASED)}, uniqueItems=True)  # fmt: skip


def _settings(settings) -> BenchmarkSettings:
    """The ``benchmark`` section as :class:`BenchmarkSettings` (from a mapping: keys left out take defaults)."""
    return settings if isinstance(settings, BenchmarkSettings) else build(BenchmarkSettings, settings, "benchmark")


def all_metric_names(settings) -> list[str]:
    """Every per-clip metric the settings can produce, in table order."""
    settings = _settings(settings)
    names = [f"{level}_{n}way_{c}" for level in ("video", "frame") for n in settings.n_way
             for c in settings.conventions]  # fmt: skip
    names += ["ctc", "ctc_mindanimator", "dtc", *PIXEL_METRICS, "epe"]
    if settings.shuffle_n:
        names.append("epe_shuffle_p")
    return names + [f"{m}_as_released" for m in settings.as_released]


def metric_names(settings) -> list[str]:
    """The per-clip metrics of the table: ``settings.metrics`` (checked) or all of them."""
    settings = _settings(settings)
    names = all_metric_names(settings)
    chosen = settings.metrics
    if not chosen:
        return names
    unknown = [m for m in chosen if m not in names]
    if unknown:
        raise ValueError(f"benchmark.metrics names {', '.join(unknown)}, which does not exist with these settings; "
                         f"fix: choose among {', '.join(names)} (or leave it empty for all)")  # fmt: skip
    return [m for m in names if m in chosen]


def chance_level(metric: str, settings) -> float:
    """The chance level of an N-way metric (exact, see :func:`semantic.chance`); NaN for the others."""
    parts = metric.split("_")
    if len(parts) == 3 and parts[1].endswith("way"):
        return semantic.chance(int(parts[1][:-3]), _settings(settings).top_k, parts[2])
    return float("nan")


def _read(path, base: Path):
    from ..stimuli import read_video

    p = Path(path)
    return read_video(p if p.is_absolute() else base / p)


def score_reconstructions(recon_dir, test_dir, *, networks: dict, settings, out_dir, device: str = "cpu",
                          base_dir=None, progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """Rule ``benchmark_score``: ``out_dir/metrics.parquet`` (one row per test clip) and ``out_dir/set.json``."""
    from tqdm.auto import tqdm

    from .networks import MetricNetworks

    recon_dir, out_dir = Path(recon_dir), Path(out_dir)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    table = pd.read_parquet(recon_dir / "reconstructions.parquet")
    test = pd.read_parquet(Path(test_dir) / "manifest.parquet")
    missing = sorted(set(test["clip"]) - set(table["clip"]))
    if missing:
        raise pixel.MetricInputError(f"{recon_dir}: no reconstruction of {len(missing)} test clips ({', '.join(missing[:3])}"
                                     f"{', ...' if len(missing) > 3 else ''}); fix: rerun the method's reconstruction rule (e.g. cinesync_reconstruct)")  # fmt: skip
    settings = _settings(settings)
    names = metric_names(settings)  # an unknown metric name stops here, before any work
    nets = MetricNetworks(**networks, device=device, batch_size=settings.batch_size)
    n_ways, convs = settings.n_way, settings.conventions
    top_k, trials, seed = settings.top_k, settings.trials, settings.seed
    # One clip at a time (a CineBrain test set of 33 x 480 x 720 clips does not fit in memory twice): the
    # pixel and motion metrics, and the network outputs the set-level and N-way metrics need.
    rows, out = [], {k: [] for k in ("vg", "vr", "fg", "fr", "ce_g", "ce_r", "de_r", "fa", "fb")}
    for r in tqdm(table.itertuples(), total=len(table), desc="scoring", disable=not progress):
        rec_path = recon_dir / f"{r.clip}.mp4"  # the folder is the authority (it may have been moved)
        if not rec_path.exists():
            raise pixel.MetricInputError(f"{rec_path}: the reconstruction of clip {r.clip} is missing; fix: rerun rule "
                                         "the method's reconstruction rule (e.g. cinesync_reconstruct)")  # fmt: skip
        gt, rec = _read(r.ground_truth, base), _read(rec_path, base)
        pixel.check_pair(gt, rec, where=str(rec_path))
        row = {"clip": r.clip, "episode": r.episode, "has_cut": bool(r.has_cut)}
        row.update({k: f(gt, rec) for k, f in PIXEL_METRICS.items()})
        gt_flow = pixel.flows(gt)
        row["epe"] = pixel.epe(gt, rec, gt_flow)
        if "epe_shuffle_p" in names:
            row["epe_shuffle_p"] = pixel.epe_shuffle_p(gt, rec, settings.shuffle_n, seed, gt_flow)
        for m in settings.as_released:
            if f"{m}_as_released" in names:  # those benchmark.metrics leaves out are not computed
                row[f"{m}_as_released"] = pixel.AS_RELEASED[m][0](gt, rec)
        rows.append(row)
        for key, value in (("vg", nets.video_probs([gt])), ("vr", nets.video_probs([rec])), ("fg", nets.frame_probs(gt)),
                           ("fr", nets.frame_probs(rec)), ("ce_g", nets.clip_embeddings(gt)),
                           ("ce_r", nets.clip_embeddings(rec)), ("de_r", nets.dino_embeddings(rec)),
                           ("fa", nets.video_features([gt])), ("fb", nets.video_features([rec]))):  # fmt: skip
            out[key].append(value.astype(np.float32))
    df = pd.DataFrame(rows)
    vg, vr, fa, fb = (np.concatenate(out[k]) for k in ("vg", "vr", "fa", "fb"))
    # semantic level: video-based on whole clips, frame-based on every frame against its GT frame
    n_f = len(out["fg"][0])
    fg, fr = np.concatenate(out["fg"]), np.concatenate(out["fr"])
    for n in n_ways:
        for c in convs:
            df[f"video_{n}way_{c}"] = semantic.n_way_top_k(vr, vg, n, top_k, c, trials, seed)
            per_frame = semantic.n_way_top_k(fr, fg, n, top_k, c, trials, seed).reshape(len(df), n_f)
            df[f"frame_{n}way_{c}"] = per_frame.mean(1)  # = per frame index over clips, then over indices
    # temporal consistency of the reconstructions (CLIP, DINO); Mind-Animator's gated variant, gated by
    # the clip-level CLIP similarity (mean frame embedding) of reconstruction and ground truth
    threshold = settings.ctc_threshold
    df["ctc"] = [semantic.temporal_consistency(e) for e in out["ce_r"]]
    sim = [_cos(a.mean(0), b.mean(0)) for a, b in zip(out["ce_g"], out["ce_r"], strict=True)]
    df["ctc_mindanimator"] = [semantic.temporal_consistency_gated(e, v, threshold)
                              for e, v in zip(out["ce_r"], sim, strict=True)]  # fmt: skip
    df["dtc"] = [semantic.temporal_consistency(e) for e in out["de_r"]]
    df = df[["clip", "episode", "has_cut", *names]]
    fvd = semantic.frechet_distance(fa, fb) if len(df) >= 2 else float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(df), (settings.fvd_bootstrap, len(df)))
    boots = [semantic.frechet_distance(fa[i], fb[i]) for i in draws if len(np.unique(i)) >= 2]
    ci = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))] if boots else None
    set_level = {"fvd": fvd, "fvd_ci": ci, "clips": len(df), "fvd_network": networks.get("fvd")}
    with atomic_dir(out_dir) as tmp:
        df.to_parquet(tmp / "metrics.parquet")
        (tmp / "set.json").write_text(json.dumps(set_level, indent=1))
    return df


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def summarise(score_dirs, settings, out_csv, out_md=None) -> pd.DataFrame:
    """Rule ``benchmark_summary``: mean, 95% bootstrap CI and chance per method, variant, subject, metric and
    clip group (all / with a scene cut / without); ``score_dirs`` are
    ``results/benchmark/<method>/<variant>/sub-XX``."""
    settings = _settings(settings)
    rows = []
    for d in map(Path, score_dirs):
        method, variant, subject = d.parent.parent.name, d.parent.name, d.name.removeprefix("sub-")
        df = pd.read_parquet(d / "metrics.parquet")
        for group, sel in (("all", df), ("with_cut", df[df["has_cut"]]), ("without_cut", df[~df["has_cut"]])):
            for m in metric_names(settings):
                v = sel[m].to_numpy(float)
                defined = v[np.isfinite(v)]  # an undefined value (NaN) leaves its clip out, counted in `excluded`
                lo, hi = semantic.bootstrap_ci(defined, n_boot=settings.bootstrap, seed=settings.seed)
                rows.append({"method": method, "variant": variant, "subject": subject, "clips": group, "metric": m,
                             "n": len(defined), "excluded": len(v) - len(defined),
                             "mean": float(defined.mean()) if len(defined) else float("nan"), "ci_low": lo, "ci_high": hi,
                             "chance": chance_level(m, settings)})  # fmt: skip
        s = json.loads((d / "set.json").read_text())
        lo, hi = s["fvd_ci"] or (float("nan"), float("nan"))
        rows.append({"method": method, "variant": variant, "subject": subject, "clips": "all", "metric": "fvd", "n": s["clips"],
                     "excluded": 0, "mean": s["fvd"], "ci_low": lo, "ci_high": hi, "chance": float("nan")})  # fmt: skip
    out = pd.DataFrame(rows)
    out.to_csv(out_csv, index=False)
    if out_md is not None:
        Path(out_md).write_text(markdown_table(out))
    return out


def markdown_table(summary: pd.DataFrame) -> str:
    """The all-clips rows as one Markdown table: a row per method, variant and subject, "mean [lo, hi] (chance)"."""
    s = summary[summary["clips"] == "all"]
    metrics = list(dict.fromkeys(s["metric"]))
    head = "| method | variant | subject | " + " | ".join(metrics) + " |\n|---|---|---|" + "---|" * len(metrics) + "\n"
    lines = []
    for (meth, v, sub), g in s.groupby(["method", "variant", "subject"], sort=True):
        cells = []
        for m in metrics:
            r = g[g["metric"] == m].iloc[0]
            c = "" if np.isnan(r["chance"]) else f" ({r['chance']:.3f})"
            x = f" ({int(r['excluded'])} of {int(r['n'] + r['excluded'])} clips excluded)" if r["excluded"] else ""
            cells.append(f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]{c}{x}")
        lines.append(f"| {meth} | {v} | {sub} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + ("\n\nmean [95% bootstrap CI over clips] (chance level) (clips excluded where the metric "
                                      "is undefined for them); FVD: VideoMAE features.\n")  # fmt: skip
