"""Report figures of the benchmark (rule ``benchmark_summary``): per-metric panels and best/median/worst clips."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..plotting import plot_reconstructions, pyplot


def _name_key(name: str) -> str:
    """A method's name as the papers' tables and our runs are matched: lower case, letters and digits only, "*"
    as "star" ("CineSync-fMRI" and cinesync_fmri -> cinesyncfmri, "CineSync*" -> cinesyncstar)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("*", "star"))


def run_keys(method: str, variant: str) -> tuple[str, str]:
    """Our run's names in the papers' terms: its variant (cinesync_fmri, and cinesync_audio's cinesync_star as the
    paper's "CineSync*"), and the method followed by the variant (mindanimator's no_motion ->
    mindanimatornomotion, the paper's "Mind-Animator-noMotion")."""
    return _name_key(variant), _name_key(method) + _name_key(variant)


def _paper_rows(published: pd.DataFrame, method: str, variant: str) -> pd.DataFrame:
    """The published rows of our run (method, variant), matched by :func:`run_keys`."""
    return published[published["method"].map(_name_key).isin(run_keys(method, variant))]


def published_comparison(summary: pd.DataFrame, published, dataset: str) -> pd.DataFrame:
    """Every published row of ``dataset`` (``resources/published_results.csv``) beside our number for the same
    method and metric where we have one: the reconstruction's mean over all test clips, pooled over subjects
    when there are several, with its 95% bootstrap interval (``ours``, ``ci_low``, ``ci_high``, ``run``,
    ``subject``); NaN where no run of ours matches."""
    pub = pd.read_csv(published)
    pub = pub[pub["dataset"] == dataset].reset_index(drop=True)
    rec = summary[(summary["condition"] == "reconstruction") & (summary["clips"] == "all")]
    ours = {}
    for (meth, v), g in rec.groupby(["method", "variant"]):
        subs = set(g["subject"].astype(str))
        g = g[g["subject"].astype(str) == ("pooled" if "pooled" in subs else sorted(subs)[0])]
        for r in g.itertuples():
            for key in run_keys(meth, v):
                ours.setdefault((key, r.metric), (r.mean, r.ci_low, r.ci_high, f"{meth}/{v}", str(r.subject)))
    rows = []
    for r in pub.itertuples():
        mean, lo, hi, run, sub = ours.get((_name_key(r.method), r.metric), (np.nan, np.nan, np.nan, "", ""))
        rows.append({"source": r.source, "method": r.method, "metric": r.metric, "published": r.value, "ours": mean,
                     "ci_low": lo, "ci_high": hi, "run": run, "subject": sub, "note": r.note})  # fmt: skip
    return pd.DataFrame(rows, columns=["source", "method", "metric", "published", "ours", "ci_low", "ci_high", "run",
                                       "subject", "note"])  # fmt: skip


def write_published_comparison(table: pd.DataFrame, dataset: str, out_csv, out_md) -> None:
    """The comparison as CSV and as a Markdown table (one row per published number)."""
    table.to_csv(out_csv, index=False)
    lines = [f"Published results on {dataset} (resources/published_results.csv) beside ours: our mean over all "
             "test clips [95% bootstrap interval], pooled over subjects; our numbers come from the tiny models of "
             "this run and the metric definitions of cinebrain.benchmark (README, 'Benchmark').", "",
             "| source | method | metric | published | ours | our run |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in table.itertuples():
        mine = f"{r.ours:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]" if np.isfinite(r.ours) else ""
        lines.append(f"| {r.source} | {r.method} | {r.metric} | {r.published:g} | {mine} | {r.run} |")
    Path(out_md).write_text("\n".join(lines) + "\n")


def plot_benchmark(summary: pd.DataFrame, score_dirs, recon_dirs, published, out, clips_out,
                   dataset: str = "CineBrain") -> None:
    """Rule ``benchmark_summary``'s figures from the summary (:func:`cinebrain.benchmark.score.summarise`):
    one panel per metric — every clip's score (dots; orange: clips with a scene cut), the mean and 95%
    interval per method, variant and subject, the chance level (grey) and the published value on ``dataset``
    for the same method and variant (cross) — and each run's best, median and worst reconstruction by ``ssim_rgb``.
    ``score_dirs`` (``results/benchmark/<method>/<variant>/sub-XX``) and ``recon_dirs`` (the
    reconstruction folders they scored) pair up in order."""
    from ..stimuli import read_video

    per_clip = plot_metric_panels(summary, score_dirs, published, out, dataset=dataset)
    runs = list(per_clip)
    shown = []
    for run, recon in zip(runs, map(Path, recon_dirs), strict=True):
        df = per_clip[run]
        df = df.sort_values("ssim_rgb", ignore_index=True) if "ssim_rgb" in df else df
        table = pd.read_parquet(recon / "reconstructions.parquet").set_index("clip")
        for label, i in (("best", len(df) - 1), ("median", len(df) // 2), ("worst", 0)):
            clip = df["clip"].iloc[i]
            score = f" ssim {df['ssim_rgb'].iloc[i]:.2f}" if "ssim_rgb" in df else ""
            shown.append((f"{run[1]} {run[2]} {label}: {clip}{score}", read_video(table.loc[clip, "ground_truth"]),
                          read_video(recon / f"{clip}.mp4")))  # fmt: skip
    plot_reconstructions(shown, clips_out, n_frames=4, title="best, median and worst reconstructions (ssim_rgb)")


def plot_metric_panels(summary: pd.DataFrame, score_dirs, published, out, title: str = "Cine-Benchmark",
                       dataset: str = "CineBrain") -> dict:
    """One panel per metric of the summary (see :func:`plot_benchmark`); returns each run's per-clip
    reconstruction scores by (method, variant, sub-XX). The audio benchmark's figure too."""
    plt = pyplot()
    pub = pd.read_csv(published)
    pub = pub[pub["dataset"] == dataset]
    metrics = list(dict.fromkeys(summary["metric"]))
    runs = [(Path(d).parent.parent.name, Path(d).parent.name, Path(d).name) for d in score_dirs]
    scored = {r: pd.read_parquet(Path(d) / "metrics.parquet") for r, d in zip(runs, score_dirs, strict=True)}
    per_clip = {r: d[d["condition"] == "reconstruction"].reset_index(drop=True) for r, d in scored.items()}
    cols = 5
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    for ax, m in zip(axes.flat, metrics, strict=False):
        for x, run in enumerate(runs):
            meth, v, sub = run
            sel = summary[(summary["method"] == meth) & (summary["variant"] == v)
                          & (summary["subject"].astype(str) == sub.removeprefix("sub-"))
                          & (summary["metric"] == m) & (summary["clips"] == "all")].set_index("condition")  # fmt: skip
            s = sel.loc["reconstruction"]
            for cond, marker in (("shuffled_brain", "v"), ("no_brain", "^")):
                if cond in sel.index:
                    ax.plot(x + 0.25, sel.loc[cond, "mean"], marker, color="tab:purple", ms=4)
            if m in per_clip[run]:
                d = per_clip[run]
                vals = d[m].to_numpy(float)
                jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(vals))
                ax.scatter(x + jitter, vals, s=4, alpha=0.4, c=np.where(d["has_cut"], "tab:orange", "tab:blue"))
            # (max 0: a bootstrap interval of identical values can miss the mean by a rounding error)
            yerr = [[max(0.0, s["mean"] - s["ci_low"])], [max(0.0, s["ci_high"] - s["mean"])]]
            ax.errorbar(x, s["mean"], yerr=yerr, fmt="o", color="k", ms=4, capsize=3)
            if np.isfinite(s["chance"]):
                ax.plot([x - 0.35, x + 0.35], [s["chance"]] * 2, color="0.5", lw=2)
            p = _paper_rows(pub, meth, v)
            p = p[p["metric"] == m]
            if len(p):
                ax.plot(x, p["value"].iloc[0], "rx", ms=7)
        ax.set_title(m, fontsize=8)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels([f"{v}\n{sub}" for _, v, sub in runs], fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{title}: clips (dots; orange: with a scene cut), mean and 95% CI (black), controls' means "
                 f"(purple: v shuffled brain, ^ no brain), chance (grey), published on {dataset} (red x)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return per_clip


def plot_conditions(score_dir, recon_dir, ceiling_dir, out, seed: int = 0, min_gap: int = 1) -> None:
    """Rule ``benchmark_clips``: per test clip of one run, the middle frame of the ground truth, the
    reconstruction, the shuffled-brain control (the reconstruction of the clip the fixed derangement
    assigns), the no-brain control and the caption ceiling, with the clip's mean-colour difference
    (CIEDE2000) and strict 2-way video score under each."""
    from ..stimuli import read_video
    from .score import condition_videos

    plt = pyplot()
    recon_dir = Path(recon_dir)
    table = pd.read_parquet(recon_dir / "reconstructions.parquet")
    videos = condition_videos(recon_dir, table, seed, min_gap)
    if ceiling_dir is not None:
        videos["caption ceiling"] = [Path(ceiling_dir) / f"{c}.mp4" for c in table["clip"]]
    scores = pd.read_parquet(Path(score_dir) / "metrics.parquet").set_index(["condition", "clip"])
    strict = next((m for m in scores.columns if m.startswith("video_2way_strict")), None)
    columns = ["ground truth", *videos]
    fig, axes = plt.subplots(len(table), len(columns), figsize=(1.5 * len(columns), 1.1 * len(table) + 0.6),
                             squeeze=False)  # fmt: skip
    for i, r in enumerate(table.itertuples()):
        paths = [Path(r.ground_truth), *(v[i] for v in videos.values())]
        for j, (name, path) in enumerate(zip(columns, paths, strict=True)):
            ax = axes[i, j]
            clip = read_video(path)
            ax.imshow(clip[len(clip) // 2])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=7)
            if j == 0:
                ax.set_ylabel(f"{r.clip}{' (cut)' if r.has_cut else ''}", fontsize=5, rotation=0, ha="right", va="center")
            elif name in ("reconstruction", "shuffled_brain", "no_brain") and (name, r.clip) in scores.index:
                s = scores.loc[(name, r.clip)]
                label = f"dE {s['colour_delta_e']:.0f}" + (f" 2-way {s[strict]:.2f}" if strict else "")
                ax.set_xlabel(label, fontsize=5)
    fig.suptitle(f"{Path(score_dir).parent.parent.name} {Path(score_dir).parent.name} {Path(score_dir).name}: middle "
                 "frames; strict 2-way video identification and hue similarity per clip", fontsize=8)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))  # room for the title
    fig.savefig(out, dpi=100)
    plt.close(fig)
