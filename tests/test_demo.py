"""The demo's own configuration (config/config.yaml), the whole workflow: what `make demo` shows."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from .conftest import REPO
from .tiny_workflow import smk


@pytest.fixture(scope="module")
def demo_benchmark(tmp_path_factory):
    """The whole demo (config/config.yaml) through the benchmark and the methods' summary: the benchmark's."""
    wd = tmp_path_factory.mktemp("demo")
    shutil.copy(REPO / "config/config.yaml", wd / "config.yaml")
    smk(wd, "results/benchmark/summary.csv", "results/methods/summary.csv", "results/audio_benchmark/summary.csv",
        "--cores", "2")  # fmt: skip
    return wd, pd.read_csv(wd / "results/benchmark/summary.csv", dtype={"subject": str})


def _row(s, method, variant, metric, condition="reconstruction", subject="pooled"):
    r = s[(s["method"] == method) & (s["variant"] == variant) & (s["metric"] == metric) & (s["clips"] == "all")
          & (s["condition"] == condition) & (s["subject"] == subject)]  # fmt: skip
    assert len(r) == 1, (method, variant, metric, condition, subject)
    return r.iloc[0]


@pytest.mark.workflow
def test_demo_encoders_fusion_beats_chance_and_both_ablations(demo_benchmark):
    """Issue 6's demo target, on the demo's own configuration: the synthetic fMRI carries the background,
    shape and motion, the EEG the shape's colour, and the (pretrained) tiny CLIP's embeddings depend on
    both, so CineSync with both modalities must beat chance clearly and each single-modality ablation."""
    wd, _ = demo_benchmark
    s = pd.read_csv(wd / "results/methods/summary.csv")
    s = s[s["method"] == "cinesync"]
    assert len(s) == 6 and (s["test_clips"] == 30).all() and (s["train_clips"] == 60).all()
    fused = s[s["variant"] == "cinesync"]
    # clearly above chance for every subject: 2-way (chance 0.5) and top-5 among the 30 test clips (chance 1/6)
    assert (fused["two_way"] > 0.65).all(), fused
    assert (fused["brain_to_video_top5"] > 2 * fused["chance_brain_to_video_top5"]).all(), fused
    # above both ablations, averaged over the subjects
    mean = s.groupby("variant")["two_way"].mean()
    assert mean["cinesync"] > mean["cinesync_fmri"] + 0.01 and mean["cinesync"] > mean["cinesync_eeg"] + 0.01, mean
    # each ablation learns something too (its modality carries part of the picture)
    assert mean["cinesync_fmri"] > 0.55 and mean["cinesync_eeg"] > 0.55, mean


@pytest.mark.workflow
def test_demo_decodes_beyond_its_controls_and_below_its_ceiling(demo_benchmark):
    """Issue 19's acceptance on the demo (pooled over subjects, paired 95% intervals by clip): CineSync's
    reconstructions beat the shuffled-brain control on strict 2-way video identification (+0.207 [+0.107,
    +0.308] measured) and frame identification (+0.158 [+0.091, +0.227]), are closer in mean colour
    (CIEDE2000) to their clips than both controls are (-9.9 and -4.3), and more similar (SSIM) than the
    shuffled-brain control; the shipped world's generator renders a caption's colour and background (not
    yet its shape or motion: README) — the caption ceiling is identified by both trained judges above chance (strict 2-way, the interval above 0.5) and
    beats both controls on strict 2-way video identification and on mean colour (not necessarily the
    reconstructions: the brain carries where the shape is, a caption does not; 0.69 against 0.68 / 0.68);
    ground-truth copies score at the top."""
    _, s = demo_benchmark
    for metric, better, ctrl in (("video_2way_strict", 1, "shuffled_brain"), ("frame_2way_strict", 1, "shuffled_brain"),
                                 ("colour_delta_e", -1, "shuffled_brain"), ("colour_delta_e", -1, "no_brain"),
                                 ("ssim_rgb", 1, "shuffled_brain")):  # fmt: skip
        d = _row(s, "cinesync", "cinesync", metric, f"reconstruction - {ctrl}")
        assert min(better * d["ci_low"], better * d["ci_high"]) > 0, (metric, ctrl, d.to_dict())
    for sub in ("01", "02"):  # the ceiling's clips are every subject's test clips
        for metric in ("video_2way_strict", "frame_2way_strict"):
            assert _row(s, "ceiling", "caption", metric, subject=sub)["ci_low"] > 0.5, (metric, sub)
        for metric, better, beaten in (("video_2way_strict", 1, ("shuffled_brain", "no_brain")),
                                       ("colour_delta_e", -1, ("shuffled_brain", "no_brain"))):  # fmt: skip
            ceiling = _row(s, "ceiling", "caption", metric, subject=sub)["mean"]
            for cond in beaten:
                assert better * ceiling > better * _row(s, "cinesync", "cinesync", metric, cond)["mean"], (metric, sub, cond)
    for sub in ("01", "02"):
        gt = s[(s["method"] == "ceiling") & (s["variant"] == "ground_truth") & (s["subject"] == sub) & (s["clips"] == "all")]
        by = gt.set_index("metric")["mean"]
        assert by["ssim_rgb"] == 1 and by["psnr"] == 100 and by["colour_delta_e"] == 0
        assert (by.filter(like="way_strict") == 1).all() and (by.filter(like="way_mindvideo") == 1).all()


@pytest.mark.workflow
def test_demo_shuffled_control_is_near_chance_under_the_strict_convention(demo_benchmark):
    """With trained judges the shuffled-brain control — each clip scored against the reconstruction of a clip at
    least 3 clips away (another scene) — is identified near chance by the video and the frame classifier (strict
    2-way, pooled over subjects: within 0.1 of 0.5; the reconstructions score 0.68-0.69, a control that leaked
    the clip's own brain input would too). Not "0.5 inside the 95% interval": one derangement of 30 clips is a
    noisy draw, and the judges favour some classes, so a partner's reconstruction is not exactly exchangeable
    with the clip's own class (measured: 0.568 [0.489, 0.641] video, 0.494 [0.451, 0.540] frame; with
    neighbours allowed as partners the frame control came to 0.539 and to a lower end of 0.507 in a CI run).
    The no-brain control is one video scored against every clip: not asserted (the README reports it)."""
    _, s = demo_benchmark
    for metric in ("video_2way_strict", "frame_2way_strict"):
        r = _row(s, "cinesync", "cinesync", metric, "shuffled_brain")
        assert abs(r["mean"] - r["chance"]) <= 0.1, (metric, r.to_dict())



@pytest.mark.workflow
def test_demo_audio_decoder_hears_the_scene_s_tone_beyond_its_controls(demo_benchmark):
    """Issue 23's acceptance on the demo (pooled over subjects, paired 95% intervals by clip): the audio
    encoders identify the transcript above chance, and the reconstruction's dominant frequency is closer to
    the scene's tone than the shuffled-brain and no-brain controls' are (measured: 4.29 semitones against
    6.30 and 6.70, differences -2.01 [-3.48, -0.42] and -2.40 [-3.68, -1.23]); its DTW mel-cepstral distortion
    is lower than the shuffled control's too (-1.98 [-3.39, -0.69])."""
    wd, _ = demo_benchmark
    enc = pd.read_csv(wd / "results/methods/summary.csv")
    enc = enc[enc["method"] == "cinesync_audio"]
    assert len(enc) == 2 and (enc["retrieval_target"] == "text").all() and (enc["two_way"] > 0.65).all(), enc
    s = pd.read_csv(wd / "results/audio_benchmark/summary.csv", dtype={"subject": str})
    for metric, ctrl in (("peak_semitones", "shuffled_brain"), ("peak_semitones", "no_brain"), ("mcd", "shuffled_brain")):
        d = _row(s, "cinesync_audio", "cinesync", metric, f"reconstruction - {ctrl}")
        assert d["ci_high"] < 0, (metric, ctrl, d.to_dict())
