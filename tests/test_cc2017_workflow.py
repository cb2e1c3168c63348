"""The whole workflow on the tiny cc2017-shaped replica (conftest.cc2017_workdir): fMRI only, TR 2 s, repeats, the
cc2017 adapter, the stimulus-activated columns, every method that reads the fMRI alone, the published cc2017 rows.
Its own file, so that pytest-xdist (--dist loadfile) runs it beside the tiny workflow's tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


@pytest.mark.workflow
def test_cc2017_replica_runs_raw_to_benchmark_for_every_fmri_method(cc2017_workdir):
    """The cc2017-shaped replica (fMRI only, TR 2 s, repeats) from the release layout to the benchmark, through
    every method that reads the fMRI alone; no EEG stage runs."""
    wd = cc2017_workdir
    inv = pd.read_parquet(wd / "results/bids/inventory.parquet")
    # 2 training segments seen twice, 1 test segment seen 3 times
    assert len(inv) == 7 and (inv["modalities"] == "fmri").all() and (inv["eeg"] == "").all()
    assert inv.groupby("episode")["repeat"].max().to_dict() == {"seg1": 2, "seg2": 2, "test1": 3}
    assert not (wd / "results/eeg").exists() and not (wd / "logs/eeg").exists()
    # 2-s clips at TR 2 s: one volume each, 4 s after the clip (film onset 2 s: volume 3 for clip 0)
    side = json.loads((wd / "results/fmri/sub-01/sub-01_task-movie_run-1_desc-roi_bold.json").read_text())
    assert side["FirstStimulusVolume"] == 3
    train = json.loads((wd / "results/dataset/sub-01/train/dataset.json").read_text())
    test = json.loads((wd / "results/dataset/sub-01/test/dataset.json").read_text())
    assert train["fmri"]["Shape"][:2] == [20, 1] and train["Repeats"] == {"Mode": "keep", "PerSample": [1], "Views": 20}
    assert test["fmri"]["Shape"][:2] == [5, 1] and test["Repeats"] == {"Mode": "average", "PerSample": [3], "Views": 15}
    assert train["eeg"] is None and not (wd / "results/dataset/sub-01/train/eeg.npy").exists()
    # the averaged test window is the mean of the three viewings' volumes
    runs = inv[inv["episode"] == "test1"]["run"].tolist()
    views = [np.load(wd / f"results/fmri/sub-01/sub-01_task-movie_run-{r}_desc-roi_bold.npy")[3] for r in runs]
    np.testing.assert_allclose(np.load(wd / "results/dataset/sub-01/test/fmri.npy")[0, 0], np.mean(views, 0), atol=1e-5)
    # the stimulus-activated columns, a set of the subject's dataset
    act = json.loads((wd / "results/fmri/sub-01/sub-01_desc-activated_columns.json").read_text())
    assert act["Segments"] == ["seg1", "seg2"] and act["Tested"] == 8405
    cols = json.loads((wd / "results/dataset/sub-01/train/roi_columns.json").read_text())
    assert [s["name"] for s in cols["RoiSets"]] == ["visual", "activated"]
    assert (wd / "results/report/fmri/sub-01_activation.png").stat().st_size > 0
    # every fMRI-capable method trained, reconstructed and was scored
    summary = pd.read_csv(wd / "results/benchmark/summary.csv")
    ran = set(zip(summary["method"], summary["variant"], strict=True))
    assert {("cinesync", "cinesync_fmri"), ("cineneuron", "cineneuron"), ("mindanimator", "mindanimator"),
            ("neurocine", "neurocine"), ("brainflix", "brainflix"), ("ceiling", "caption")} <= ran  # fmt: skip
    rec = summary[(summary["condition"] == "reconstruction") & (summary["clips"] == "all")]
    assert (rec.loc[rec["metric"] == "ssim_rgb", "n"] == 5).all()
    # the published cc2017 rows beside ours
    pub = pd.read_csv(wd / "results/benchmark/published.csv")
    assert pub["source"].str.contains("Mind-Animator").any() and "CineBrain" not in " ".join(pub["source"])
    ours = pub[(pub["method"] == "Mind-Animator") & (pub["metric"] == "ssim_rgb")]
    assert ours["ours"].notna().all() and (ours["run"] == "mindanimator/mindanimator").all()
    assert "Published results on cc2017" in (wd / "results/benchmark/published.md").read_text()
    assert (wd / "results/report/run_traces.png").stat().st_size > 0
