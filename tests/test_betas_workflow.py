"""The whole workflow on the tiny per-clip betas replica (conftest.betas_workdir): the betas adapter, fmri_betas,
a beta vector per clip in the clip dataset, Brain Netflix and the benchmark.  Its own file, for pytest-xdist."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


@pytest.mark.workflow
def test_betas_replica_runs_raw_to_benchmark_through_brain_netflix(betas_workdir):
    wd = betas_workdir
    inv = pd.read_parquet(wd / "results/bids/inventory.parquet")
    assert len(inv) == 4 * 2 + 2 * 3 and inv["beta_row"].tolist() == list(range(14)) and (inv["modalities"] == "fmri").all()
    # no per-run series, no EEG: the subject's beta vectors, ROI columns z-scored over its 8 training rows
    assert not list((wd / "results/fmri/sub-01").glob("*_run-*")) and not (wd / "results/eeg").exists()
    betas = np.load(wd / "results/fmri/sub-01/sub-01_desc-betas_bold.npy")
    side = json.loads((wd / "results/fmri/sub-01/sub-01_desc-betas_bold.json").read_text())
    assert betas.shape == (14, 8405) and side["TrainingRows"] == 8
    np.testing.assert_allclose(betas[:8].mean(0), 0, atol=1e-4)  # rows 0-7 are the training videos
    # one beta vector per clip: training viewings kept, test viewings averaged
    train = json.loads((wd / "results/dataset/sub-01/train/dataset.json").read_text())
    test = json.loads((wd / "results/dataset/sub-01/test/dataset.json").read_text())
    assert train["fmri"]["Shape"] == [8, 1, 8405] and train["fmri"]["Kind"] == "betas"
    assert test["fmri"]["Shape"] == [2, 1, 8405] and test["Repeats"] == {"Mode": "average", "PerSample": [3], "Views": 6}
    rows = inv[inv["episode"] == "v005"]["beta_row"].tolist()
    man = pd.read_parquet(wd / "results/dataset/sub-01/test/manifest.parquet")
    k = int(np.flatnonzero(man["episode"] == "v005")[0])
    np.testing.assert_allclose(np.load(wd / "results/dataset/sub-01/test/fmri.npy")[k, 0], betas[rows].mean(0), atol=1e-5)
    # Brain Netflix trained on them, reconstructed the test videos, and was scored
    summary = pd.read_csv(wd / "results/benchmark/summary.csv")
    rec = summary[(summary["method"] == "brainflix") & (summary["condition"] == "reconstruction")
                  & (summary["clips"] == "all") & (summary["metric"] == "ssim_rgb")]  # fmt: skip
    assert len(rec) == 1 and rec["n"].iloc[0] == 2
    assert (wd / "results/report/run_traces.png").stat().st_size > 0
