"""Score every reconstruction of one decoder variant and subject against its ground-truth clip (rule
``benchmark_score``), and summarise all of them (rule ``benchmark_summary``).

Per clip (``metrics.parquet``): clip id, episode, scene-cut flag, and every metric —
``video_{n}way_{convention}`` / ``frame_{n}way_{convention}`` (top-``top_k``; frame-based: each frame
scored against its ground-truth frame, averaged over the frames), ``ctc``, ``ctc_mindanimator`` (Mind-Animator's CLIP-pcc: 0
where the video-level similarity of reconstruction and ground truth — the CLIP-pcc gate network's, or the CLIP's
mean frame embeddings' — is at or below ``ctc_threshold``: 0.6 as released, or its mean over the clips), ``dtc``, ``ssim_rgb``, ``ssim_gray``, ``psnr``,
``hue_cosine``, ``hue_pearson``, ``colour_delta_e``, ``epe``, ``dynamic_degree`` (1 when the clip moves by
VBench's rule: its mean is the dynamic degree) and ``motion_smoothness`` (:mod:`.motion`), when enabled
``epe_shuffle_p`` and ``ctc_shuffle_p`` (Mind-Animator's shuffle tests), and the convention ledger's
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
from . import motion, pixel, semantic
from .audio import AudioBenchmarkSettings
from .ceiling import CeilingSettings
from .motion import MotionSettings

PIXEL_METRICS = {"ssim_rgb": pixel.ssim_rgb, "ssim_gray": pixel.ssim_gray, "psnr": pixel.psnr,
                 "hue_cosine": pixel.hue_cosine, "hue_pearson": pixel.hue_pearson,
                 "colour_delta_e": pixel.colour_delta_e}  # fmt: skip
MOTION_METRICS = ("dynamic_degree", "motion_smoothness")
LOWER_IS_BETTER = {"colour_delta_e", "epe", "epe_shuffle_p", "ctc_shuffle_p", "epe_as_released", "fvd",
                   "wer", "cer", "lsd", "mcd", "mel_rmse", "peak_semitones", "fad"}  # the audio benchmark's (audio.py)
CONVENTIONS = ("mindvideo", "strict")


@dataclass(frozen=True)
class Networks:
    """The metric networks: folders or hub ids, loaded with from_pretrained."""

    video_classifier: str = setting("MCG-NJU/videomae-base-finetuned-kinetics", "VideoMAE on Kinetics-400")
    image_classifier: str = setting("google/vit-base-patch16-224", "ImageNet ViT")
    clip: str = setting("openai/clip-vit-large-patch14", "CLIP for CTC")
    dino: str = setting("facebook/dino-vitb16", "DINO for DTC")
    fvd: str = setting("MCG-NJU/videomae-base-finetuned-kinetics", "video features for the Frechet distance (not I3D)")
    ctc_gate: str | None = setting(None, "video-text model (X-CLIP class, get_video_features) whose reconstruction-"
                                   "ground truth cosine gates Mind-Animator's CLIP-pcc (the paper: ViFi-CLIP, a "
                                   "manual download); null: the CLIP's mean frame embeddings")  # fmt: skip


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
    ctc_threshold: float | None = setting(0.6, "Mind-Animator's CLIP-pcc: 0 where the gate's reconstruction-ground "
                                          "truth similarity is at or below this (the released code's 0.6); null: "
                                          "its mean over the test clips (appendix C.2's 'average level')")  # fmt: skip
    shuffle_n: int = setting(0, "frame-order shuffles per clip for the EPE shuffle test (0: off)", minimum=0)
    shuffle_gap: int = setting(3, "the shuffled-brain control pairs each clip with one at least this many clips away "
                               "in time (neighbours share their scene; 3 x 4-s clips: 8 s apart; 1: any other clip)",
                               minimum=1)  # fmt: skip
    bootstrap: int = setting(1000, "bootstrap resamples of the clips for the 95% intervals", minimum=10)
    fvd_bootstrap: int = setting(200, "bootstrap resamples for FVD's interval", minimum=0)
    seed: int = setting(0, "seed of the N-way trials, shuffles and bootstraps", minimum=0)
    metrics: tuple[str, ...] = setting((), "the per-clip metrics in the tables (empty: all)", uniqueItems=True)
    as_released: tuple[str, ...] = setting(tuple(pixel.AS_RELEASED), "metrics also reported as the papers' released "
                                           "code computes them (<metric>_as_released; the convention ledger)",
                                           items={"enum": list(pixel.AS_RELEASED)}, uniqueItems=True)  # fmt: skip
    motion: MotionSettings = section(MotionSettings)
    ceiling: CeilingSettings = section(CeilingSettings)
    audio: AudioBenchmarkSettings = section(AudioBenchmarkSettings)


def _settings(settings) -> BenchmarkSettings:
    """The ``benchmark`` section as :class:`BenchmarkSettings` (from a mapping: keys left out take defaults)."""
    return settings if isinstance(settings, BenchmarkSettings) else build(BenchmarkSettings, settings, "benchmark")


def all_metric_names(settings) -> list[str]:
    """Every per-clip metric the settings can produce, in table order."""
    settings = _settings(settings)
    names = [f"{level}_{n}way_{c}" for level in ("video", "frame") for n in settings.n_way
             for c in settings.conventions]  # fmt: skip
    names += ["ctc", "ctc_mindanimator", "dtc", *PIXEL_METRICS, "epe", *MOTION_METRICS]
    if settings.shuffle_n:
        names += ["epe_shuffle_p", "ctc_shuffle_p"]
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


def _read(path, base: Path, with_rate: bool = False):
    from ..stimuli import read_video

    p = Path(path)
    return read_video(p if p.is_absolute() else base / p, with_rate=with_rate)


def derangement(clips, seed: int = 0, min_gap: int = 1) -> dict:
    """The shuffled-brain control's fixed derangement of the test clips: clip -> the other clip whose brain
    input decodes it (a random permutation of the clips sorted by name — their order in time — drawn with
    ``seed``: the same clips get the same derangement for every method, variant and subject), each clip paired
    with one at least ``min_gap`` places away. Neighbouring clips often show the same scene, so a partner next
    door would be identified above chance by the judges (measured on the demo: frame 2-way 0.539 with any other
    clip); when no permutation keeps the gap (too few clips), any other clip is taken."""
    names = sorted(clips)
    n = len(names)
    if n < 2:
        return {}
    idx = np.arange(n)
    for gap in ((min_gap, 1) if min_gap > 1 else (1,)):
        rng = np.random.default_rng(seed)  # the fallback is the plain derangement of the seed
        # rejection sampling: a random permutation keeps every |i - perm(i)| >= gap with probability about
        # exp(-(2 gap - 1)) (0.007 for gap 3), whatever the number of clips
        for _ in range(20000):
            perm = rng.permutation(n)
            if (np.abs(perm - idx) >= gap).all():
                return {names[i]: names[j] for i, j in enumerate(perm)}
    raise RuntimeError(f"no derangement of {n} clips found")  # pragma: no cover - n >= 2 always has one


def condition_videos(recon_dir, table: pd.DataFrame, seed: int = 0, min_gap: int = 1, suffix: str = ".mp4") -> dict:
    """The videos each condition scores against the clips of ``table`` (a reconstructions.parquet), in its
    order: ``reconstruction`` (``<clip>.mp4``); ``shuffled_brain``, the reconstruction of the clip that the
    fixed :func:`derangement` assigns — a method's reconstruction depends on its clip only through the brain
    input (the contract; CineSync starts every clip from the same seeded noise), so this *is* the clip
    decoded from another clip's brain input; ``no_brain``, the video the table's ``no_brain`` column
    names (in the folder: the method's decode of the mean training brain feature), when it has one.
    ``suffix``: the reconstructions' file type (``.wav`` for the audio benchmark)."""
    recon_dir = Path(recon_dir)
    clips = list(table["clip"])
    out = {"reconstruction": [recon_dir / f"{c}{suffix}" for c in clips]}
    shuffle = derangement(clips, seed, min_gap)
    if shuffle and "no_brain" in table:  # a brain decoder (the ceilings have no brain input to shuffle)
        out["shuffled_brain"] = [recon_dir / f"{shuffle[c]}{suffix}" for c in clips]
        out["no_brain"] = [recon_dir / Path(p).name for p in table["no_brain"]]
    return out


class _Videos:
    """Each scored video's network outputs, computed once per file content (a control reuses the
    reconstructions', a ground-truth copy the ground truth's); its frames, flows and frame-pair flows (the
    shuffle test) kept for the last video read and for the ``recurring`` ones (the no-brain control: one
    video against every clip)."""

    def __init__(self, nets, base: Path, recurring=()):
        self.nets, self.base = nets, base
        self.outputs: dict = {}
        self.motion: dict = {}
        self._keys: dict = {}
        self._kept: dict = {p: None for p in recurring}
        self._last: tuple = (None, None)

    def key(self, path: Path) -> str:
        import hashlib

        if path not in self._keys:
            p = path if path.is_absolute() else self.base / path
            self._keys[path] = hashlib.sha256(p.read_bytes()).hexdigest()
        return self._keys[path]

    def _state(self, path: Path) -> dict:
        if path in self._kept:
            if self._kept[path] is None:
                self._kept[path] = {"frames": _read(path, self.base), "flows": None, "pairs": {}}
            return self._kept[path]
        if self._last[0] != path:
            self._last = (path, {"frames": _read(path, self.base), "flows": None, "pairs": {}})
        return self._last[1]

    def frames(self, path: Path):
        return self._state(path)["frames"]

    def flows(self, path: Path):
        st = self._state(path)
        if st["flows"] is None:
            st["flows"] = pixel.flows(st["frames"])
        return st["flows"]

    def set_flows(self, path: Path, flows) -> None:
        """The video's flows, known (a copy of the ground truth's)."""
        self._state(path)["flows"] = flows

    def pair_flows(self, path: Path) -> dict:
        return self._state(path)["pairs"]

    def motion_metrics(self, path: Path, fps: float, flow_fn, interpolate, farneback: bool) -> dict:
        """Dynamic degree (0/1) and motion smoothness of the video, once per file content (Farneback's flows
        of the EPE reused when VBench's 8-fps subsampling keeps every frame)."""
        key = self.key(path)
        if key not in self.motion:
            frames = self.frames(path)
            if farneback and len(motion.subsample(frames, fps)[0]) == len(frames):
                flow_fn = lambda _: self.flows(path)  # noqa: E731
            dynamic, _ = motion.is_dynamic(frames, fps, flow_fn)
            self.motion[key] = {"dynamic_degree": float(dynamic),
                                "motion_smoothness": motion.motion_smoothness(frames, interpolate)}  # fmt: skip
        return self.motion[key]

    def network_outputs(self, path: Path, frames) -> dict:
        key = self.key(path)
        if key not in self.outputs:
            n = self.nets
            self.outputs[key] = {"v": n.video_probs([frames]), "f": n.frame_probs(frames), "ce": n.clip_embeddings(frames),
                                 "de": n.dino_embeddings(frames), "fvd": n.video_features([frames])}  # fmt: skip
            if n.has_gate:
                self.outputs[key]["ge"] = n.gate_embeddings([frames])[0]
        return self.outputs[key]


def test_reconstructions(recon_dir, test_dir, kind: str = "", rule: str = "cinesync_reconstruct") -> pd.DataFrame:
    """The rows of ``recon_dir/reconstructions.parquet`` of the test split's clips (a ceiling's folder serves
    every subject: it may hold more); a test clip without one is a MetricInputError naming the rule."""
    table = pd.read_parquet(Path(recon_dir) / "reconstructions.parquet")
    test = pd.read_parquet(Path(test_dir) / "manifest.parquet")
    table = table[table["clip"].isin(set(test["clip"]))].reset_index(drop=True)
    missing = sorted(set(test["clip"]) - set(table["clip"]))
    if missing:
        raise pixel.MetricInputError(f"{recon_dir}: no {kind}reconstruction of {len(missing)} test clips ({', '.join(missing[:3])}"
                                     f"{', ...' if len(missing) > 3 else ''}); fix: rerun the method's reconstruction rule (e.g. {rule})")  # fmt: skip
    return table


def score_reconstructions(recon_dir, test_dir, *, networks: dict, settings, out_dir, device: str = "cpu",
                          base_dir=None, progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """Rule ``benchmark_score``: ``out_dir/metrics.parquet`` (one row per test clip and condition — the
    reconstruction and, for a brain decoder, its shuffled-brain and no-brain controls, see
    :func:`condition_videos`) and ``out_dir/set.json`` (FVD per condition)."""
    from tqdm.auto import tqdm

    from .networks import MetricNetworks

    recon_dir, out_dir = Path(recon_dir), Path(out_dir)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    table = test_reconstructions(recon_dir, test_dir)
    settings = _settings(settings)
    names = metric_names(settings)  # an unknown metric name stops here, before any work
    conditions = condition_videos(recon_dir, table, settings.seed, settings.shuffle_gap)
    for cond, paths in conditions.items():
        for clip, path in zip(table["clip"], paths, strict=True):
            if not (path if path.is_absolute() else base / path).exists():
                raise pixel.MetricInputError(f"{path}: the {cond.replace('_', '-')} video of clip {clip} is missing; fix: rerun "
                                             "the method's reconstruction rule (e.g. cinesync_reconstruct)")  # fmt: skip
    videos = _Videos(MetricNetworks(**networks, device=device, batch_size=settings.batch_size), base,
                     recurring=set(conditions.get("no_brain", ())))  # fmt: skip
    flow_fn = motion.flow_function(settings.motion, device)  # checks that RAFT has its weights
    interpolate = motion.interpolator(settings.motion.interpolation, flow_fn)
    farneback = settings.motion.flow == "farneback"
    n_ways, convs = settings.n_way, settings.conventions
    top_k, trials, seed = settings.top_k, settings.trials, settings.seed
    # One clip at a time (a CineBrain test set of 33 x 480 x 720 clips does not fit in memory twice): its
    # ground truth read once, then each condition's video: pixel and motion metrics, and network outputs.
    rows = {c: [] for c in conditions}
    gt_out = []
    for i, r in enumerate(tqdm(list(table.itertuples()), desc="scoring", disable=not progress)):
        gt, fps = _read(r.ground_truth, base, with_rate=True)
        gt_flow = pixel.flows(gt)
        gt_out.append(videos.network_outputs(Path(r.ground_truth), gt))
        for cond, paths in conditions.items():
            path = paths[i]
            rec = videos.frames(path)
            pixel.check_pair(gt, rec, where=str(path))
            row = {"clip": r.clip, "episode": r.episode, "has_cut": bool(r.has_cut), "condition": cond}
            row.update({k: f(gt, rec) for k, f in PIXEL_METRICS.items()})
            # the ground-truth ceiling's video is its ground truth: the same flows, EPE 0, and no frame order
            # can have an EPE below 0, so its shuffle test is 0 without the 32 x shuffle_n flows
            identical = np.array_equal(gt, rec)
            if identical:
                videos.set_flows(path, gt_flow)
            row["epe"] = float(np.linalg.norm(gt_flow - videos.flows(path), axis=-1).mean())
            row.update(videos.motion_metrics(path, fps, flow_fn, interpolate, farneback))
            if "epe_shuffle_p" in names:
                row["epe_shuffle_p"] = 0.0 if identical else pixel.epe_shuffle_p(gt, rec, settings.shuffle_n, seed, gt_flow,
                                                                                 videos.pair_flows(path))  # fmt: skip
            for m in settings.as_released:
                if f"{m}_as_released" in names:  # those benchmark.metrics leaves out are not computed
                    row[f"{m}_as_released"] = pixel.AS_RELEASED[m][0](gt, rec)
            videos.network_outputs(path, rec)
            rows[cond].append(row)
    threshold = settings.ctc_threshold
    vg = np.concatenate([o["v"] for o in gt_out])
    fg = np.concatenate([o["f"] for o in gt_out])
    n_f = len(gt_out[0]["f"]) if gt_out else 0
    frames, set_level = [], {"clips": len(table), "fvd_network": networks.get("fvd")}
    for cond, paths in conditions.items():
        df = pd.DataFrame(rows[cond])
        outs = [videos.outputs[videos.key(p)] for p in paths]
        vr = np.concatenate([o["v"] for o in outs])
        fr = np.concatenate([o["f"] for o in outs])
        # semantic level: video-based on whole clips, frame-based on every frame against its GT frame; the same
        # trials (seed) for every condition, so that the controls' differences are paired trial by trial
        for n in n_ways:
            for c in convs:
                df[f"video_{n}way_{c}"] = semantic.n_way_top_k(vr, vg, n, top_k, c, trials, seed)
                per_frame = semantic.n_way_top_k(fr, fg, n, top_k, c, trials, seed).reshape(len(df), n_f)
                df[f"frame_{n}way_{c}"] = per_frame.mean(1)  # = per frame index over clips, then over indices
        # temporal consistency of the reconstructions (CLIP, DINO); Mind-Animator's gated variant, gated by
        # the clip-level CLIP similarity (mean frame embedding) of reconstruction and ground truth
        df["ctc"] = [semantic.temporal_consistency(o["ce"]) for o in outs]
        sim = [_cos(g["ge"], o["ge"]) if "ge" in o else _cos(g["ce"].mean(0), o["ce"].mean(0))
               for g, o in zip(gt_out, outs, strict=True)]  # fmt: skip
        gate = float(np.mean(sim)) if threshold is None else threshold
        df["ctc_mindanimator"] = [semantic.temporal_consistency_gated(o["ce"], v, gate)
                                  for o, v in zip(outs, sim, strict=True)]  # fmt: skip
        if settings.shuffle_n:
            df["ctc_shuffle_p"] = [semantic.ctc_shuffle_p(o["ce"], settings.shuffle_n, seed) for o in outs]
        df["dtc"] = [semantic.temporal_consistency(o["de"]) for o in outs]
        frames.append(df[["clip", "episode", "has_cut", "condition", *names]])
        set_level[cond] = _fvd(np.concatenate([o["fvd"] for o in gt_out]), np.concatenate([o["fvd"] for o in outs]),
                               settings.fvd_bootstrap, seed)  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    with atomic_dir(out_dir) as tmp:
        df.to_parquet(tmp / "metrics.parquet")
        (tmp / "set.json").write_text(json.dumps(set_level, indent=1))
    return df


def reuse_scores(reference_dir, reference_test_dir, test_dir, out_dir) -> bool:
    """A ceiling's scores for a subject whose test clips (in order) are those of a subject already scored
    (``reference_dir`` with its ``reference_test_dir``): a copy of them — the same videos, clips and
    settings give the same scores (the N-way trials and bootstraps are seeded by ``benchmark.seed``).
    Returns False, writing nothing, when the clips differ (then the subject is scored itself)."""
    import shutil

    clips = [list(pd.read_parquet(Path(d) / "manifest.parquet")["clip"]) for d in (reference_test_dir, test_dir)]
    if clips[0] != clips[1]:
        return False
    with atomic_dir(out_dir) as tmp:
        for name in ("metrics.parquet", "set.json"):
            shutil.copy2(Path(reference_dir) / name, tmp / name)
    return True


def _fvd(fa: np.ndarray, fb: np.ndarray, n_boot: int, seed: int) -> dict:
    """FVD of two feature sets with a bootstrap interval over the clips (resampled in pairs)."""
    fvd = semantic.frechet_distance(fa, fb) if len(fa) >= 2 else float("nan")
    draws = np.random.default_rng(seed).integers(0, len(fa), (n_boot, len(fa)))
    boots = [semantic.frechet_distance(fa[i], fb[i]) for i in draws if len(np.unique(i)) >= 2]
    ci = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))] if boots else None
    return {"fvd": fvd, "fvd_ci": ci}


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


CONTROLS = ("shuffled_brain", "no_brain")


def _summary_rows(df: pd.DataFrame, settings, names=None, **key) -> list[dict]:
    """Per condition, clip group and metric (``names``, default :func:`metric_names`): mean, 95% bootstrap
    interval over clips, chance, n, excluded; and per control, the paired difference reconstruction -
    control (by clip, where both are defined)."""
    rows = []
    names = metric_names(settings) if names is None else list(names)
    by_cond = {c: g.set_index(["subject", "clip"]) for c, g in df.groupby("condition", sort=False)}
    rec = by_cond.get("reconstruction")
    sets = dict(by_cond)
    for ctrl in CONTROLS:
        if rec is not None and ctrl in by_cond:
            sets[f"reconstruction - {ctrl}"] = None
    for cond, g in sets.items():
        for group in ("all", "with_cut", "without_cut"):
            for m in names:
                if g is None:  # a paired difference
                    ctrl = by_cond[cond.split(" - ")[1]]
                    sel = rec if group == "all" else rec[rec["has_cut"] == (group == "with_cut")]
                    v = sel[m].to_numpy(float) - ctrl.loc[sel.index, m].to_numpy(float)
                    chance = 0.0 if np.isfinite(chance_level(m, settings)) else float("nan")
                else:
                    sel = g if group == "all" else g[g["has_cut"] == (group == "with_cut")]
                    v = sel[m].to_numpy(float)
                    chance = chance_level(m, settings)
                defined = v[np.isfinite(v)]  # an undefined value (NaN) leaves its clip out, counted in `excluded`
                lo, hi = semantic.bootstrap_ci(defined, n_boot=settings.bootstrap, seed=settings.seed)
                rows.append({**key, "condition": cond, "clips": group, "metric": m, "n": len(defined),
                             "excluded": len(v) - len(defined), "mean": float(defined.mean()) if len(defined) else float("nan"),
                             "ci_low": lo, "ci_high": hi, "chance": chance})  # fmt: skip
    return rows


def summarise(score_dirs, settings, out_csv, out_md=None, names=None, note: str | None = None) -> pd.DataFrame:
    """Rule ``benchmark_summary``: per method, variant, subject, condition, clip group (all / with a scene cut /
    without) and metric, the mean, 95% bootstrap CI and chance; the paired differences of the reconstruction
    to each control (``condition`` "reconstruction - shuffled_brain", "reconstruction - no_brain"; their
    ``chance`` column is 0 for the N-way metrics: a control is at chance); and the same pooled over
    subjects (``subject`` "pooled", clips paired within each subject). ``score_dirs`` are
    ``results/benchmark/<method>/<variant>/sub-XX``. ``names``: the per-clip metrics (default: the video
    benchmark's); the set-level metric of each ``set.json`` (FVD, or the audio benchmark's FAD) is added,
    and ``note`` replaces the Markdown table's footnote."""
    settings = _settings(settings)
    rows, runs = [], {}
    for d in map(Path, score_dirs):
        method, variant, subject = d.parent.parent.name, d.parent.name, d.name.removeprefix("sub-")
        df = pd.read_parquet(d / "metrics.parquet").assign(subject=subject)
        runs.setdefault((method, variant), []).append(df)
        rows += _summary_rows(df, settings, names, method=method, variant=variant, subject=subject)
        for cond, s in json.loads((d / "set.json").read_text()).items():
            if isinstance(s, dict):
                metric = "fvd" if "fvd" in s else "fad"
                lo, hi = s[f"{metric}_ci"] or (float("nan"), float("nan"))
                rows.append({"method": method, "variant": variant, "subject": subject, "condition": cond, "clips": "all",
                             "metric": metric, "n": int((df["condition"] == cond).sum()), "excluded": 0,
                             "mean": s[metric], "ci_low": lo, "ci_high": hi, "chance": float("nan")})  # fmt: skip
    for (method, variant), dfs in runs.items():
        if len(dfs) > 1:
            rows += _summary_rows(pd.concat(dfs, ignore_index=True), settings, names, method=method, variant=variant,
                                  subject="pooled")  # fmt: skip
    out = pd.DataFrame(rows)
    out.to_csv(out_csv, index=False)
    if out_md is not None:
        Path(out_md).write_text(markdown_table(out, note))
    return out


def markdown_table(summary: pd.DataFrame, note: str | None = None) -> str:
    """The all-clips rows as one Markdown table: a row per method, variant, subject and condition (the
    reconstruction, its controls and its paired differences to them), "mean [lo, hi] (chance)"."""
    s = summary[summary["clips"] == "all"]
    metrics = list(dict.fromkeys(s["metric"]))
    head = ("| method | variant | subject | condition | " + " | ".join(metrics) + " |\n|---|---|---|---|"
            + "---|" * len(metrics) + "\n")  # fmt: skip
    order = {c: i for i, c in enumerate(["reconstruction", *CONTROLS, *(f"reconstruction - {c}" for c in CONTROLS)])}
    s = s.assign(_order=s["condition"].map(order))
    lines = []
    for (meth, v, sub, _, cond), g in s.groupby(["method", "variant", "subject", "_order", "condition"], sort=True):
        cells = []
        for m in metrics:
            r = g[g["metric"] == m]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            c = "" if np.isnan(r["chance"]) or " - " in cond else f" ({r['chance']:.3f})"
            x = f" ({int(r['excluded'])} of {int(r['n'] + r['excluded'])} clips excluded)" if r["excluded"] else ""
            sign = "+" if " - " in cond else ""
            cells.append(f"{r['mean']:{sign}.3f} [{r['ci_low']:{sign}.3f}, {r['ci_high']:{sign}.3f}]{c}{x}")
        lines.append(f"| {meth} | {v} | {sub} | {cond} | " + " | ".join(cells) + " |")
    if note is not None:
        return head + "\n".join(lines) + "\n\n" + note + "\n"
    return head + "\n".join(lines) + (
        "\n\nmean [95% bootstrap CI over clips] (chance level) (clips excluded where the metric is undefined for them); "
        "\"reconstruction - <control>\": the mean paired difference by clip (lower is better for epe, epe_shuffle_p, "
        "colour_delta_e and fvd); shuffled_brain: each clip decoded from another test clip's brain input (a fixed derangement); "
        "no_brain: decoded from the mean training brain feature; method ceiling: the generator given the clip's "
        "caption (caption) and the ground-truth clip itself (ground_truth); subject pooled: every subject's clips "
        "together. FVD: VideoMAE features.\n")  # fmt: skip


def controls_table(summary: pd.DataFrame, metrics=("video_2way_strict", "frame_2way_strict", "colour_delta_e", "hue_cosine",
                                                   "ssim_rgb")) -> pd.DataFrame:
    """What a reader checks first: per method and variant (pooled over subjects when there are several),
    each metric's reconstruction, controls, paired differences and ceilings, "mean [lo, hi]"; and
    ``beats_shuffled`` / ``beats_no_brain``: whether the paired 95% interval of the difference excludes 0
    in the better direction."""
    s = summary[(summary["clips"] == "all") & summary["metric"].isin(metrics)]
    pooled = s[s["subject"].astype(str) == "pooled"]
    keys = set(zip(pooled["method"], pooled["variant"], strict=True))
    s = pd.concat([pooled, s[[(m, v) not in keys for m, v in zip(s["method"], s["variant"], strict=True)]]])
    ceilings = s[s["method"] == "ceiling"].groupby(["variant", "metric"])["mean"].mean()
    rows = []
    for (meth, var, sub, m), g in s[s["method"] != "ceiling"].groupby(["method", "variant", "subject", "metric"],
                                                                          sort=True):  # fmt: skip
        g = g.set_index("condition")
        if "reconstruction" not in g.index:
            continue
        sign = -1 if m in LOWER_IS_BETTER else 1
        row = {"method": meth, "variant": var, "subject": sub, "metric": m}
        for cond in ("reconstruction", *CONTROLS):
            if cond in g.index:
                row[cond] = f"{g.loc[cond, 'mean']:.3f} [{g.loc[cond, 'ci_low']:.3f}, {g.loc[cond, 'ci_high']:.3f}]"
        for ctrl in CONTROLS:
            d = f"reconstruction - {ctrl}"
            if d in g.index:
                row[f"minus_{ctrl}"] = f"{g.loc[d, 'mean']:+.3f} [{g.loc[d, 'ci_low']:+.3f}, {g.loc[d, 'ci_high']:+.3f}]"
                # the whole interval on the better side of 0
                row[f"beats_{ctrl.removesuffix('_brain')}"] = bool(min(sign * g.loc[d, "ci_low"], sign * g.loc[d, "ci_high"]) > 0)
        for c in ("caption", "ground_truth"):
            if (c, m) in ceilings.index:
                row[f"ceiling_{c}"] = f"{ceilings[(c, m)]:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)
