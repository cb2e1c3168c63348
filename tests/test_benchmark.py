"""Cine-Benchmark metrics (cinebrain.benchmark) against known answers, hand formulas and the libraries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinebrain.benchmark import pixel, semantic


def _texture(h=64, w=96, seed=0):
    """A smooth random RGB texture (Farneback needs structure at several scales)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.random((h + 40, w + 40, 3)), sigma=(3, 3, 0))
    x = (x - x.min()) / (x.max() - x.min())
    return (x * 255).astype(np.uint8)


def _moving(frames=6, step=1, seed=0):
    """A clip whose content moves `step` pixels to the right per frame (crops of one texture)."""
    t = _texture(seed=seed)
    return np.stack([t[20:84, 20 - k * step : 116 - k * step] for k in range(frames)])


def test_identical_clips():
    clip = _moving()
    assert pixel.ssim_rgb(clip, clip) == pytest.approx(1.0)
    assert pixel.ssim_gray(clip, clip) == pytest.approx(1.0)
    assert pixel.epe(clip, clip) == 0.0
    assert pixel.psnr(clip, clip) == pixel.PSNR_CAP == 100.0  # Mind-Animator's cap, not infinity
    assert pixel.hue_cosine(clip, clip) == pytest.approx(1.0) and pixel.hue_pearson(clip, clip) == pytest.approx(1.0)


def test_psnr_capped_per_frame_and_hue_skips_undefined_frames():
    clip = _moving()
    noisy = clip.copy()
    noisy[1:] ^= 8  # frame 0 identical (100 dB), the others 8 grey levels off everywhere (30.07 dB)
    assert pixel.psnr(clip, noisy) == pytest.approx((100 + (len(clip) - 1) * 10 * np.log10(255**2 / 64)) / len(clip))
    gray = np.full_like(clip, 128)  # achromatic: hue 0 everywhere, so the hue cosine is undefined
    mixed = np.concatenate([gray[:2], clip[2:]])
    assert pixel.hue_cosine(mixed, mixed) == pytest.approx(1.0)  # the two gray frames are left out
    assert np.isnan(pixel.hue_cosine(gray, gray)) and np.isnan(pixel.hue_pearson(gray, clip))


def test_colour_delta_e_is_the_mean_colour_difference():
    from skimage.color import deltaE_ciede2000, rgb2lab

    red, blue = np.zeros((2, 4, 6, 3), np.uint8), np.zeros((2, 4, 6, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    assert pixel.colour_delta_e(red, red) == 0
    expected = deltaE_ciede2000(rgb2lab(np.array([[[200, 0, 0]]]) / 255), rgb2lab(np.array([[[0, 0, 200]]]) / 255))[0, 0]
    assert pixel.colour_delta_e(red, blue) == pytest.approx(expected) and expected > 40
    half = red.copy()
    half[:, :, :3] = blue[:, :, :3]  # half red, half blue: the mean colour is what counts, not the layout
    assert pixel.colour_delta_e(half, half[:, :, ::-1]) == pytest.approx(0, abs=1e-9)


def test_convention_ledger_reproduces_the_released_quirks():
    """Each "as released" value by its definition: Mind-Animator's hue and EPE read RGB as BGR (hue: first
    6 frames; EPE: at 512 x 512), NEURONS' gray SSIM is the mean of the columns' 1-D SSIMs."""
    import cv2
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    gt = _moving()
    rec = np.clip(gt.astype(int) + rng.integers(-40, 40, gt.shape), 0, 255).astype(np.uint8)
    swap = (slice(None), slice(None), slice(None), slice(None, None, -1))
    assert pixel.hue_cosine_as_released(gt, rec) == pytest.approx(pixel.hue_cosine(gt[:6][swap], rec[:6][swap]))
    assert pixel.hue_cosine_as_released(gt, rec) != pytest.approx(pixel.hue_cosine(gt, rec), abs=1e-3)
    g, r = rgb2gray(gt[0]), rgb2gray(rec[0])
    columns = [structural_similarity(g[:, j], r[:, j], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0) for j in range(g.shape[1])]  # fmt: skip
    assert pixel.ssim_gray_as_released(gt[:1], rec[:1]) == pytest.approx(np.mean(columns))
    released = [structural_similarity(rgb2gray(a), rgb2gray(b), channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0) for a, b in zip(gt, rec, strict=True)]  # fmt: skip
    assert pixel.ssim_gray_as_released(gt, rec) == pytest.approx(np.mean(released), abs=1e-12)  # the vectorised form
    assert abs(pixel.ssim_gray_as_released(gt, rec) - pixel.ssim_gray(gt, rec)) > 0.01
    big = [np.stack([cv2.resize(f, (512, 512)) for f in c[:4]])[swap] for c in (gt, rec)]
    assert pixel.epe_as_released(gt[:4], rec[:4]) == pytest.approx(pixel.epe(*big))
    assert set(pixel.AS_RELEASED) == {"hue_cosine", "ssim_gray", "epe"}


def test_ssim_of_flat_frames_by_hand():
    # flat frames: no variance, so SSIM is the luminance term (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    a, b = np.full((2, 16, 16, 3), 100, np.uint8), np.full((2, 16, 16, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert pixel.ssim_rgb(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))
    ga, gb = 100 / 255, 120 / 255  # rgb2gray of a grey pixel is its value in [0, 1]
    c1 = 0.01**2
    assert pixel.ssim_gray(a, b) == pytest.approx((2 * ga * gb + c1) / (ga**2 + gb**2 + c1), rel=1e-4)


def test_psnr_by_hand_and_conventions_differ():
    clip = _moving()
    noisy = np.clip(clip.astype(int) + np.random.default_rng(1).integers(-20, 21, clip.shape), 0, 255).astype(np.uint8)
    mse = ((clip.astype(float) - noisy) ** 2).reshape(len(clip), -1).mean(1)
    assert pixel.psnr(clip, noisy) == pytest.approx(np.mean(10 * np.log10(255**2 / mse)))
    # the two SSIM conventions give different numbers for the same pair (why each is named)
    assert abs(pixel.ssim_rgb(clip, noisy) - pixel.ssim_gray(clip, noisy)) > 0.01


def test_hue_reads_rgb_as_rgb_and_pearson_differs_from_cosine():
    red, blue = np.zeros((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 4, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    assert pixel._hue(red[0]).max() == 0 and pixel._hue(blue[0]).min() == 120  # OpenCV hue (0..179) of RGB input
    # frames of saturated colours with hues 10..40 (OpenCV units), and the same shifted by +120: the hue
    # channels are linearly related, so Pearson is 1 (up to rounding) while the cosine is not
    import cv2

    h = np.random.default_rng(0).integers(10, 41, (3, 8, 8)).astype(np.uint8)
    hsv = np.stack([h, np.full_like(h, 255), np.full_like(h, 255)], -1)
    rgb = np.stack([cv2.cvtColor(f, cv2.COLOR_HSV2RGB) for f in hsv])
    hsv[..., 0] += 120
    shifted = np.stack([cv2.cvtColor(f, cv2.COLOR_HSV2RGB) for f in hsv])
    by_hand = np.mean([(a @ (a + 120)) / (np.linalg.norm(a) * np.linalg.norm(a + 120))
                       for a in h.reshape(3, -1).astype(float)])  # fmt: skip
    assert pixel.hue_cosine(rgb, shifted) == pytest.approx(by_hand, abs=1e-3) and by_hand < 0.97
    assert pixel.hue_pearson(rgb, shifted) > 0.999


def test_epe_of_a_known_shift():
    """Ground truth moving 1 px right per frame, reconstruction still: the end-point error is the GT's flow, ~1 px."""
    import cv2

    gt = _moving(step=1)
    still = np.repeat(gt[:1], len(gt), axis=0)
    flow = pixel.flows(gt)
    assert np.median(flow[..., 0]) == pytest.approx(1.0, abs=0.1) and abs(np.median(flow[..., 1])) < 0.1
    assert pixel.epe(gt, still) == pytest.approx(np.linalg.norm(flow, axis=-1).mean(), rel=1e-3)  # still: ~0 flow
    assert 0.8 < pixel.epe(gt, still) < 1.2
    # the same as OpenCV directly with Mind-Animator's parameters
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in gt]
    ref = cv2.calcOpticalFlowFarneback(g[0], g[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    np.testing.assert_array_equal(flow[0], ref)
    # twice the motion, twice the error
    assert pixel.epe(_moving(step=2), np.repeat(_moving(step=2)[:1], 6, axis=0)) == pytest.approx(2.0, abs=0.3)


def test_shuffle_test():
    gt = _moving(frames=8, step=2)
    assert pixel.shuffle_p(pixel.epe, gt, gt, n=20) == 0.0  # no order of the frames beats the true one
    # the frames in a scrambled order: about half of the random orders do better (measured 0.45-0.7)
    scrambled = gt[np.random.default_rng(3).permutation(len(gt))]
    assert 0.2 < pixel.shuffle_p(pixel.epe, gt, scrambled, n=20) < 0.9


def test_n_way_ties_are_broken_at_random():
    """A classifier that gives every class the same score lands exactly on chance (a `>` comparison that
    counts ties for the ground truth would give it 1.0 at any N), and a single tie counts half."""
    gt = np.random.default_rng(1).random((50, 100))
    flat = np.full((50, 100), 0.01)
    for n, k, conv in [(2, 1, "mindvideo"), (50, 1, "mindvideo"), (2, 1, "strict"), (50, 1, "strict"),
                       (50, 5, "mindvideo"), (10, 3, "strict")]:  # fmt: skip
        assert semantic.n_way_top_k(flat, gt, n, k, conv, trials=20) == pytest.approx(semantic.chance(n, k, conv))
    # 4 classes, the GT's class 0 tied with class 1 under the reconstruction: 2-way strict succeeds for sure
    # against classes 2 and 3, and half the time against class 1: 2/3 + 1/3 * 1/2
    rec, g = np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[0.9, 0.1, 0.0, 0.0]])
    assert semantic.n_way_top_k(rec, g, 2, 1, "strict", trials=30000)[0] == pytest.approx(5 / 6, abs=0.01)
    assert semantic.n_way_top_k(rec, g, 4, 2, "strict", trials=10)[0] == pytest.approx(1.0)  # one ahead, top-2


def test_mismatched_clips_are_a_clear_error():
    with pytest.raises(pixel.MetricInputError, match=r"rec.mp4: the reconstruction has 5 frames of 64 x 96 but the "
                                                     r"ground truth 6 of 64 x 96; fix:"):  # fmt: skip
        pixel.check_pair(_moving(), _moving()[:5], where="rec.mp4")
    with pytest.raises(pixel.MetricInputError, match="not uint8 RGB"):
        pixel.check_pair(_moving(), _moving().astype(float))


def test_n_way_perfect_and_random_predictors():
    rng = np.random.default_rng(0)
    gt = rng.random((1000, 100))
    assert (semantic.n_way_top_k(gt, gt, 50, trials=10) == 1).all()
    assert (semantic.n_way_top_k(gt, gt, 2, convention="strict", trials=10) == 1).all()
    for n, k, conv, expected in [(2, 1, "mindvideo", 0.75), (50, 1, "mindvideo", 3 / 52), (2, 1, "strict", 0.5),
                                 (50, 1, "strict", 0.02), (50, 5, "strict", 0.1)]:  # fmt: skip
        assert semantic.chance(n, k, conv) == pytest.approx(expected)
        # per clip the trials share the clip's scores, so clips vary a lot: 1,000 clips, a 99% interval
        scores = semantic.n_way_top_k(rng.random((1000, 100)), gt, n, k, conv, trials=20)
        lo, hi = semantic.bootstrap_ci(scores, level=0.99)
        assert lo <= expected <= hi, (n, k, conv, scores.mean(), lo, hi)
    # top-5 of the mindvideo convention: the exact chance against a simulation of exchangeable scores
    sim = np.mean([(rng.permutation(3 + 49)[:3].min() < 5) for _ in range(20000)])
    assert semantic.chance(50, 5, "mindvideo") == pytest.approx(sim, abs=0.01)
    with pytest.raises(ValueError, match="convention 'mindeye' does not exist"):
        semantic.chance(2, 1, "mindeye")


def test_bootstrap_ci_and_frechet_distance():
    rng = np.random.default_rng(0)
    v = rng.normal(0.3, 0.1, 400)
    lo, hi = semantic.bootstrap_ci(v)
    se = v.std() / np.sqrt(len(v))
    assert lo < v.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    a = rng.normal(size=(4000, 3))
    assert semantic.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    # Gaussians N(0, 1) and N(2, 2^2) in every dimension: (2 - 0)^2 + (2 - 1)^2 per dimension
    b = rng.normal(2, 2, size=(4000, 3))
    assert semantic.frechet_distance(a, b) == pytest.approx(3 * (4 + 1), rel=0.1)


def test_temporal_consistency():
    e = np.tile(np.array([[1.0, 2.0, 3.0]]), (5, 1))
    assert semantic.temporal_consistency(e) == pytest.approx(1.0)
    alt = np.array([[1, 0], [0, 1], [1, 0]], float)
    assert semantic.temporal_consistency(alt) == pytest.approx(0.0)
    assert semantic.temporal_consistency_gated(e, video_similarity=0.5) == 0.0
    assert semantic.temporal_consistency_gated(e, video_similarity=0.7) == pytest.approx(1.0)
    assert semantic.temporal_consistency_gated(e, video_similarity=0.6) == 0.0  # as released: "<= bar" scores 0


def test_ctc_shuffle_test_is_small_when_the_order_carries_the_consistency():
    angles = np.linspace(0, np.pi / 2, 12)  # embeddings turning steadily: adjacent frames most alike in order
    smooth = np.stack([np.cos(angles), np.sin(angles)], 1)
    assert semantic.ctc_shuffle_p(smooth, n=200, seed=0) == 0.0
    # no order: the clip's own order is one draw among the shuffles, so its p is uniform over clips (mean 1/2)
    rng = np.random.default_rng(0)
    ps = [semantic.ctc_shuffle_p(rng.normal(size=(12, 16)), n=100, seed=k) for k in range(40)]
    assert np.mean(ps) == pytest.approx(0.5, abs=0.12)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """4 test clips (moving textures, 9 frames at 32 x 48); reconstructions: copies of clips 0-1, a
    static clip 2 and noise for clip 3; tiny metric networks of the real classes."""
    import shutil

    import pandas as pd

    from cinebrain.stimuli import write_video
    from cinebrain.synth.models import (
        save_tiny_clip,
        save_tiny_dino,
        save_tiny_videomae,
        save_tiny_vit,
        save_tiny_xclip,
    )

    root = tmp_path_factory.mktemp("bench")
    nets = {"video_classifier": str(save_tiny_videomae(root / "videomae")), "image_classifier": str(save_tiny_vit(root / "vit")),
            "clip": str(save_tiny_clip(root / "clip")), "dino": str(save_tiny_dino(root / "dino")),
            "fvd": str(root / "videomae"), "ctc_gate": str(save_tiny_xclip(root / "xclip"))}  # fmt: skip
    (root / "gt").mkdir()
    (root / "recon/cinesync/sub-01").mkdir(parents=True)
    rows = []
    for i in range(4):
        clip = _moving(frames=9, step=1, seed=i)[:, :32, :48]
        write_video(root / f"gt/c{i}.mp4", clip, 8)
        rec = root / f"recon/cinesync/sub-01/c{i}.mp4"
        if i < 2:
            shutil.copy(root / f"gt/c{i}.mp4", rec)
        else:
            frames = np.repeat(clip[:1], 9, 0) if i == 2 else np.random.default_rng(i).integers(0, 256, clip.shape).astype(np.uint8)
            write_video(rec, frames, 8)
        rows.append({"clip": f"c{i}", "episode": "ep9", "has_cut": i == 3, "video": str(rec), "ground_truth": f"gt/c{i}.mp4",
                     "no_brain": str(root / "recon/cinesync/sub-01/no_brain.mp4")})  # fmt: skip
    write_video(root / "recon/cinesync/sub-01/no_brain.mp4", np.full((9, 32, 48, 3), 128, np.uint8), 8)
    pd.DataFrame(rows).to_parquet(root / "recon/cinesync/sub-01/reconstructions.parquet")
    (root / "test").mkdir()
    pd.DataFrame({"clip": [f"c{i}" for i in range(4)]}).to_parquet(root / "test/manifest.parquet")
    settings = {"n_way": [2, 50], "conventions": ["mindvideo", "strict"], "trials": 20, "shuffle_n": 5,
                "bootstrap": 200, "fvd_bootstrap": 20, "ctc_threshold": None}  # fmt: skip
    from cinebrain.benchmark.score import score_reconstructions

    df = score_reconstructions(root / "recon/cinesync/sub-01", root / "test", networks=nets, settings=settings,
                               out_dir=root / "benchmark/cinesync/cinesync/sub-01", base_dir=root)  # fmt: skip
    return root, df, settings, nets


def test_scores_per_clip(scored):
    from cinebrain.benchmark.score import metric_names

    root, scores, settings, _ = scored
    assert list(scores.columns) == ["clip", "episode", "has_cut", "condition", *metric_names(settings)]
    assert list(scores.groupby("condition", sort=False).size().items()) == [("reconstruction", 4), ("shuffled_brain", 4),
                                                                           ("no_brain", 4)]  # fmt: skip
    df = scores[scores["condition"] == "reconstruction"].reset_index(drop=True)
    perfect = df[df["clip"].isin(["c0", "c1"])]
    assert (perfect["ssim_rgb"] == 1).all() and (perfect["epe"] == 0).all() and (perfect["psnr"] == 100).all()
    # identical clips: the classifiers' probabilities coincide, every N-way trial succeeds
    assert (perfect.filter(like="way_") == 1).all().all()
    assert df.loc[2, "epe"] > 0.5 and df.loc[3, "ssim_rgb"] < 0.2  # static and noise
    assert (df["ctc"].between(-1, 1)).all() and (df.loc[:1, "dtc"] > 0.9).all()
    assert df.loc[0, "epe_shuffle_p"] == 0.0
    assert df["ctc_shuffle_p"].between(0, 1).all()
    # Mind-Animator's CLIP-pcc, gated by the X-CLIP's video similarity to the ground truth against its mean over
    # the clips: the exact copies pass the gate, and not every clip does
    assert (df.loc[:1, "ctc_mindanimator"] == df.loc[:1, "ctc"]).all()
    assert (df["ctc_mindanimator"] == 0).any()
    # motion (VBench's rules on Farneback flows): a moving copy is dynamic, the static clip is not and is
    # perfectly smooth, noise is neither smooth nor still; the grey no-brain video is still
    assert df["dynamic_degree"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert df.loc[2, "motion_smoothness"] == 1.0 and df.loc[3, "motion_smoothness"] < 0.9
    assert df.loc[0, "motion_smoothness"] > 0.95
    grey = scores[scores["condition"] == "no_brain"]
    assert (grey["dynamic_degree"] == 0).all() and (grey["motion_smoothness"] == 1).all()
    import json

    s = json.loads((root / "benchmark/cinesync/cinesync/sub-01/set.json").read_text())
    assert s["clips"] == 4 and np.isfinite(s["reconstruction"]["fvd"]) and s["reconstruction"]["fvd"] >= 0
    assert set(s) >= {"shuffled_brain", "no_brain"}


def test_controls_are_scored_on_the_same_clips(scored):
    """The shuffled-brain control of clip c is the reconstruction of the clip the fixed derangement assigns,
    scored against c's ground truth; the no-brain control is the method's one no-brain video against every
    clip's ground truth."""
    from cinebrain.benchmark.score import derangement
    from cinebrain.stimuli import read_video

    root, scores, _, _ = scored
    shuffle = derangement([f"c{i}" for i in range(4)])
    assert sorted(shuffle) == sorted(shuffle.values()) and all(k != v for k, v in shuffle.items())
    assert derangement(list(reversed(shuffle))) == shuffle  # the clips' order does not matter
    # partners at least 3 clips apart in time (neighbours share their scene); too few clips: any other clip
    names = [f"ep01_{i:03d}" for i in range(30)]
    far = derangement(names, seed=0, min_gap=3)
    assert all(abs(names.index(k) - names.index(v)) >= 3 for k, v in far.items()) and sorted(far.values()) == names
    assert far == derangement(names, seed=0, min_gap=3)
    assert derangement([f"c{i}" for i in range(4)], min_gap=3) == shuffle
    by = scores.set_index(["condition", "clip"])
    for clip, source in shuffle.items():
        gt = read_video(root / f"gt/{clip}.mp4")
        rec = read_video(root / f"recon/cinesync/sub-01/{source}.mp4")
        assert by.loc[("shuffled_brain", clip), "ssim_rgb"] == pytest.approx(pixel.ssim_rgb(gt, rec))
        assert by.loc[("shuffled_brain", clip), "epe"] == pytest.approx(pixel.epe(gt, rec), rel=1e-5)
        # the same classifier outputs and trials: the control's N-way score is the source reconstruction's
        # scored against this clip's ground truth
        grey = read_video(root / "recon/cinesync/sub-01/no_brain.mp4")
        assert by.loc[("no_brain", clip), "psnr"] == pytest.approx(pixel.psnr(gt, grey))
    # a perfect reconstruction (c0, c1) beats its controls on every pixel metric
    for clip in ("c0", "c1"):
        for ctrl in ("shuffled_brain", "no_brain"):
            assert by.loc[("reconstruction", clip), "ssim_rgb"] > by.loc[(ctrl, clip), "ssim_rgb"]


def test_summary_table_has_chance_levels_and_cut_split(scored, tmp_path):
    from cinebrain.benchmark.score import summarise

    root, _, settings, _ = scored
    out = summarise([root / "benchmark/cinesync/cinesync/sub-01"], settings, tmp_path / "summary.csv", tmp_path / "summary.md")
    out = out[out["condition"] == "reconstruction"]
    row = out[(out["metric"] == "video_2way_mindvideo") & (out["clips"] == "all")].iloc[0]
    assert row["chance"] == pytest.approx(0.75) and row["n"] == 4 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert out[(out["metric"] == "frame_50way_strict")]["chance"].iloc[0] == pytest.approx(0.02)
    assert set(out["clips"]) == {"all", "with_cut", "without_cut"}
    assert out[(out["clips"] == "with_cut") & (out["metric"] == "ssim_rgb")]["n"].iloc[0] == 1
    assert np.isnan(out[out["metric"] == "ssim_rgb"]["chance"]).all() and "fvd" in set(out["metric"])
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("| method | variant | subject | condition | video_2way_mindvideo") and "(0.750)" in md
    assert set(out["method"]) == {"cinesync"} and set(out["variant"]) == {"cinesync"}
    assert "| cinesync | cinesync | 01 | reconstruction - shuffled_brain | +" in md


def test_summary_paired_differences_and_pooled_subjects(scored, tmp_path):
    """"reconstruction - <control>" is the mean of the per-clip differences with a bootstrap interval;
    "pooled" takes every subject's clips together (here the same run twice: the same mean, 8 clips)."""
    import shutil

    from cinebrain.benchmark.score import controls_table, summarise

    root, scores, settings, _ = scored
    dirs = []
    for sub in ("01", "02"):
        dirs.append(tmp_path / f"cinesync/cinesync/sub-{sub}")
        shutil.copytree(root / "benchmark/cinesync/cinesync/sub-01", dirs[-1])
    out = summarise(dirs, settings, tmp_path / "s.csv")
    by = scores.set_index(["condition", "clip"])["ssim_rgb"]
    expected = (by["reconstruction"] - by["shuffled_brain"]).mean()
    sel = out[(out["metric"] == "ssim_rgb") & (out["clips"] == "all") & (out["condition"] == "reconstruction - shuffled_brain")]
    assert list(sel["subject"]) == ["01", "02", "pooled"] and list(sel["n"]) == [4, 4, 8]
    assert sel["mean"].to_numpy() == pytest.approx([expected] * 3)
    assert (sel["ci_low"] <= sel["mean"]).all() and (sel["mean"] <= sel["ci_high"]).all()
    table = controls_table(out)
    assert list(table["subject"].unique()) == ["pooled"] and {"beats_shuffled", "beats_no"} <= set(table.columns)
    # the fixture's perfect reconstructions (c0, c1) and grey no-brain video: closer in mean colour (lower dE)
    # and more similar (higher SSIM) than the no-brain control, whatever the metric's direction
    by_metric = table.set_index("metric")
    d = out[(out["subject"] == "pooled") & (out["clips"] == "all") & (out["condition"] == "reconstruction - no_brain")]
    for m in ("colour_delta_e", "ssim_rgb"):
        lo, hi = d.set_index("metric").loc[m, ["ci_low", "ci_high"]]
        sign = -1 if m == "colour_delta_e" else 1
        assert by_metric.loc[m, "beats_no"] == (min(sign * lo, sign * hi) > 0)


def test_summary_counts_clips_a_metric_is_undefined_for(scored, tmp_path):
    """A clip whose metric is undefined (NaN) leaves the mean but is counted and named, never dropped silently;
    perfect clips (PSNR 100 dB) stay in the PSNR mean."""
    import shutil

    from cinebrain.benchmark.score import summarise

    root, df, settings, _ = scored
    d = tmp_path / "cinesync/cinesync/sub-01"
    shutil.copytree(root / "benchmark/cinesync/cinesync/sub-01", d)
    m = pd.read_parquet(d / "metrics.parquet")
    m.loc[3, "hue_cosine"] = np.nan
    m.to_parquet(d / "metrics.parquet")
    out = summarise([d], settings, tmp_path / "s.csv", tmp_path / "s.md")
    out = out[out["condition"] == "reconstruction"]
    df = df[df["condition"] == "reconstruction"]
    hue = out[(out["metric"] == "hue_cosine") & (out["clips"] == "all")].iloc[0]
    assert (hue["n"], hue["excluded"]) == (3, 1) and hue["mean"] == pytest.approx(m["hue_cosine"][:3].mean())
    psnr = out[(out["metric"] == "psnr") & (out["clips"] == "all")].iloc[0]
    assert (psnr["n"], psnr["excluded"]) == (4, 0) and psnr["mean"] == pytest.approx(df["psnr"].mean())
    assert "(1 of 4 clips excluded)" in (tmp_path / "s.md").read_text()


def test_missing_or_mismatched_reconstruction_is_a_clear_error(scored, tmp_path):
    import shutil

    import pandas as pd

    from cinebrain.benchmark.score import score_reconstructions
    from cinebrain.stimuli import write_video

    root, _, settings, nets = scored
    recon = tmp_path / "recon"
    shutil.copytree(root / "recon/cinesync/sub-01", recon)
    man = pd.DataFrame({"clip": ["c0", "c1", "c2", "c3", "c4"]})
    (tmp_path / "test").mkdir()
    man.to_parquet(tmp_path / "test/manifest.parquet")
    kw = dict(networks=nets, settings=settings, out_dir=tmp_path / "out", base_dir=root)
    with pytest.raises(pixel.MetricInputError, match=r"no reconstruction of 1 test clips \(c4\); fix: rerun the method's reconstruction rule"):
        score_reconstructions(recon, tmp_path / "test", **kw)
    write_video(recon / "c1.mp4", np.zeros((7, 32, 48, 3), np.uint8), 8)
    with pytest.raises(pixel.MetricInputError, match=r"c1.mp4: the reconstruction has 7 frames of 32 x 48 but the ground truth 9"):
        score_reconstructions(recon, root / "test", **kw)
    assert not (tmp_path / "out").exists()


def test_report_figures(scored, tmp_path, monkeypatch):
    """The figures read the summary, the scores and the reconstructions they scored (declared inputs)."""
    from cinebrain.benchmark.report import plot_benchmark
    from cinebrain.benchmark.score import summarise

    from .conftest import REPO

    root, _, settings, _ = scored
    monkeypatch.chdir(root)  # ground-truth paths are relative to the workflow's folder
    scores = [root / "benchmark/cinesync/cinesync/sub-01"]
    s = summarise(scores, settings, tmp_path / "s.csv", tmp_path / "s.md")
    plot_benchmark(s, scores, [root / "recon/cinesync/sub-01"], REPO / "resources/published_results.csv",
                   tmp_path / "b.png", tmp_path / "c.png")  # fmt: skip
    assert (tmp_path / "b.png").stat().st_size > 0 and (tmp_path / "c.png").stat().st_size > 0
    from cinebrain.benchmark.report import plot_conditions

    plot_conditions(scores[0], root / "recon/cinesync/sub-01", root / "gt", tmp_path / "k.png")  # GT as "ceiling"
    assert (tmp_path / "k.png").stat().st_size > 0


def test_controls_command_prints_each_decoder_against_its_controls(scored, tmp_path, capsys):
    from cinebrain.benchmark.score import summarise
    from cinebrain.cli import main

    root, _, settings, _ = scored
    summarise([root / "benchmark/cinesync/cinesync/sub-01"], settings, tmp_path / "s.csv")
    assert main(["controls", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "minus_shuffled_brain" in out and "beats_shuffled" in out and "video_2way_strict" in out


def test_paper_rows_match_variants_by_name():
    import pandas as pd

    from cinebrain.benchmark.report import _paper_rows

    from .conftest import REPO

    pub = pd.read_csv(REPO / "resources/published_results.csv")
    for variant, method in [("cinesync", "CineSync"), ("cinesync_fmri", "CineSync-fMRI"), ("cinesync_eeg", "CineSync-EEG")]:
        rows = _paper_rows(pub, "cinesync", variant)
        assert len(rows) and set(rows["method"]) == {method}, variant


def test_published_rows_beside_ours(tmp_path):
    """The cc2017 comparison table: every published cc2017 row, ours beside the method's where we ran it."""
    import pandas as pd

    from cinebrain.benchmark.report import published_comparison, write_published_comparison

    from .conftest import REPO

    summary = pd.DataFrame([
        {"method": "mindanimator", "variant": "mindanimator", "subject": s, "condition": c, "clips": "all",
         "metric": "ssim_rgb", "mean": m, "ci_low": m - 0.1, "ci_high": m + 0.1}
        for s, c, m in [("01", "reconstruction", 0.5), ("pooled", "reconstruction", 0.4), ("pooled", "no_brain", 0.1)]])
    table = published_comparison(summary, REPO / "resources/published_results.csv", "cc2017")
    pub = pd.read_csv(REPO / "resources/published_results.csv")
    assert len(table) == (pub["dataset"] == "cc2017").sum()
    mine = table[(table["method"] == "Mind-Animator") & (table["metric"] == "ssim_rgb")]
    # both of the paper's Mind-Animator ssim rows (Tab. 2 of Mind-Animator, Tab. 1 of CineNeuron) get our pooled mean
    assert len(mine) == 2 and (mine["ours"] == 0.4).all() and (mine["run"] == "mindanimator/mindanimator").all()
    assert table.loc[table["method"] == "NeuroClips", "ours"].isna().all()
    write_published_comparison(table, "cc2017", tmp_path / "p.csv", tmp_path / "p.md")
    md = (tmp_path / "p.md").read_text()
    assert "| Mind-Animator (seed 002), Table 2 | Mind-Animator | ssim_rgb | 0.321 | 0.400 [0.300, 0.500] |" in md
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(table)


def test_published_results_table():
    import pandas as pd

    from .conftest import REPO

    pub = pd.read_csv(REPO / "resources/published_results.csv")
    assert {"source", "dataset", "method", "metric", "value"} <= set(pub.columns)
    cs = pub[(pub["source"].str.startswith("CineBrain")) & (pub["method"] == "CineSync")].set_index("metric")["value"]
    assert cs["video_2way_mindvideo"] == 0.909 and cs["ssim_rgb"] == 0.262 and cs["fvd"] == 52.78
    assert set(pub["dataset"]) == {"CineBrain", "cc2017", "BMD"}
    # Mind-Animator's Tab. 6 (its ablations) and NeuroCine's figures as numbers
    tab6 = pub[pub["source"] == "Mind-Animator (seed 002), Table 6"].set_index(["method", "metric"])["value"]
    assert tab6[("Mind-Animator-noMotion", "epe")] == 6.374 and tab6[("Mind-Animator-ablation-full", "ssim_rgb")] == 0.319
    assert len(tab6) == 4 * 8
    nc = pub[pub["method"] == "NeuroCine"].set_index("metric")["value"]
    assert nc["ssim_rgb"] == 0.225 and nc["video_50way_mindvideo"] == 0.217
    # Brain Netflix's Table 1: single- and multi-subject rows on both datasets, its N-way as Mind-Video's frames
    bf = pub[pub["source"] == "Brain Netflix (seed 004), Table 1"].set_index(["dataset", "method", "metric"])["value"]
    assert len(bf) == 16 and bf[("BMD", "Brainflix-multi-subject", "frame_50way_mindvideo")] == 0.165
    assert bf[("cc2017", "Brainflix", "ssim_rgb")] == 0.189 and bf[("cc2017", "Brainflix", "latent_mse")] == 0.681
    # CineBrain's Tab. B.1 (audio): four rows of seven metrics, CineSync* set beside the cinesync_star variant
    b1 = pub[pub["source"].str.contains("Tab. B.1", regex=False)].set_index(["method", "metric"])["value"]
    assert len(b1) == 4 * 7 and b1[("CineSync*", "wer")] == 1.383 and b1[("CineSync-EEG", "fad")] == 4.221
    assert b1[("CineSync", "mel_ssim")] == 0.814 and b1[("CineSync-fMRI", "mcd")] == 0.704
    from cinebrain.benchmark.report import _paper_rows

    assert set(_paper_rows(pub[pub["metric"] == "wer"], "cinesync_audio", "cinesync_star")["method"]) == {"CineSync*"}
    # the sibling papers' names: Mind-Animator's ablation, on cc2017
    abl = _paper_rows(pub[pub["dataset"] == "cc2017"], "mindanimator", "no_motion")
    assert set(abl["method"]) == {"Mind-Animator-noMotion"} and len(abl) == 8


def test_epe_shuffle_p_is_the_shuffle_test_of_epe():
    gt = _moving(frames=8, step=2)
    scrambled = gt[np.random.default_rng(3).permutation(len(gt))]
    for rec in (gt, scrambled):
        assert pixel.epe_shuffle_p(gt, rec, n=15, seed=4) == pixel.shuffle_p(pixel.epe, gt, rec, n=15, seed=4)
    # the ground truth itself: no order beats EPE 0 (score_reconstructions takes this without computing)
    assert pixel.epe_shuffle_p(gt, gt.copy(), n=15, seed=4) == 0.0
    # one reconstruction against several ground truths (the no-brain control): its pair flows are reused
    cache: dict = {}
    for g in (gt, scrambled, gt[::-1]):
        assert pixel.epe_shuffle_p(g, scrambled, n=15, seed=4, cache=cache) == pixel.shuffle_p(pixel.epe, g, scrambled, n=15, seed=4)
    assert 0 < len(cache) <= 8 * 7


def test_ceilings_one_video_per_clip_for_every_subject(tmp_path):
    """The ground-truth ceiling copies each test clip once for all subjects; the caption ceiling refuses a
    clip without a caption and a pipeline without a text encoder, naming the fix."""
    import json

    import pandas as pd

    from cinebrain.benchmark.ceiling import caption_ceiling, ground_truth_copies
    from cinebrain.stimuli import read_video, write_video
    from cinebrain.synth.models import save_tiny_cogvideox

    clips = {f"c{i}": _moving(frames=9, step=1, seed=i)[:, :32, :48] for i in range(3)}
    for name, frames in clips.items():
        write_video(tmp_path / f"{name}.mp4", frames, 8)
    tests = []
    for sub, names in (("01", ["c0", "c1"]), ("02", ["c1", "c2"])):  # c1: a clip both subjects saw
        d = tmp_path / f"sub-{sub}/test"
        d.mkdir(parents=True)
        pd.DataFrame({"clip": names, "episode": "ep9", "has_cut": False, "video": [f"../../{n}.mp4" for n in names],
                      "caption": ["A red circle moves left across a navy background."] * 2}).to_parquet(d / "manifest.parquet")
        (d / "dataset.json").write_text(json.dumps({"Subject": sub}))
        tests.append(d)
    assert ground_truth_copies(test_dirs=tests, out_dir=tmp_path / "gt") == 3
    table = pd.read_parquet(tmp_path / "gt/reconstructions.parquet")
    assert list(table["clip"]) == ["c0", "c1", "c2"]
    assert (read_video(tmp_path / "gt/c2.mp4") == read_video(tmp_path / "c2.mp4")).all()
    settings = {"generator": str(save_tiny_cogvideox(tmp_path / "no_text")), "sampling": {"steps": 1}}
    with pytest.raises(ValueError, match="not a text-to-video CogVideoX pipeline.*fix: set benchmark.ceiling.generator"):
        caption_ceiling(test_dirs=tests, out_dir=tmp_path / "caption", settings=settings, device="cpu")
    man = pd.read_parquet(tests[1] / "manifest.parquet").assign(caption=[None, "x"])
    man.to_parquet(tests[1] / "manifest.parquet")
    with pytest.raises(ValueError, match=r"test clips without a caption \(c1\); fix"):
        caption_ceiling(test_dirs=tests[1:], out_dir=tmp_path / "caption", settings=settings, device="cpu")
    assert not (tmp_path / "caption").exists()


def test_a_shared_test_set_reuses_the_ceiling_scores(scored, tmp_path):
    """A ceiling is the same videos for every subject: a subject with the same test clips (in order) gets a
    copy of the scores of the subject scored before; other clips are scored, nothing copied."""
    import shutil

    import pandas as pd

    from cinebrain.benchmark.score import reuse_scores

    root, _, _, _ = scored
    ref = root / "benchmark/cinesync/cinesync/sub-01"
    shutil.copytree(root / "test", tmp_path / "same")
    assert reuse_scores(ref, root / "test", tmp_path / "same", tmp_path / "out")
    for name in ("metrics.parquet", "set.json"):
        assert (tmp_path / "out" / name).read_bytes() == (ref / name).read_bytes()
    (tmp_path / "other").mkdir()
    pd.DataFrame({"clip": ["c1", "c0", "c2", "c3"]}).to_parquet(tmp_path / "other/manifest.parquet")  # another order
    assert not reuse_scores(ref, root / "test", tmp_path / "other", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
