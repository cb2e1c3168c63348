"""The demo's own configuration (config/config.yaml) through the encoders: what `make demo` shows."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from .conftest import REPO
from .tiny_workflow import smk


@pytest.mark.workflow
def test_demo_encoders_fusion_beats_chance_and_both_ablations(tmp_path):
    """Issue 6's demo target, on the demo's own configuration: the synthetic fMRI carries the background,
    shape and motion, the EEG the shape's colour, and the (pretrained) tiny CLIP's embeddings depend on
    both, so CineSync with both modalities must beat chance clearly and each single-modality ablation."""
    shutil.copy(REPO / "config/config.yaml", tmp_path / "config.yaml")
    smk(tmp_path, "results/methods/summary.csv", "--cores", "2")
    s = pd.read_csv(tmp_path / "results/methods/summary.csv")
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
