"""Dataset adapters (cinebrain.datasets): the cc2017 replica read into the inventory, its bad inputs, the
start-up checks of fMRI-only datasets, and the stimulus-activated voxel selection against known truth."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest

from cinebrain.bids import BIDSDatasetError, InventoryOptions
from cinebrain.datasets import build_inventory, dataset_files
from cinebrain.synth.settings import SynthConfig

from .conftest import ROI_DIR

CC = SynthConfig(shape="cc2017", subjects=1, episodes=2, episode_seconds=10, test_segments=2, train_repeats=2,
                 test_repeats=3, height=32, width=48, fps=8, seed=3)  # fmt: skip
OPTS = InventoryOptions(tr=2.0, test_episodes=["test1", "test2"])


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    from cinebrain.synth import generate

    out = tmp_path_factory.mktemp("cc2017") / "synth"
    generate(out, CC, progress=False, roi_dir=ROI_DIR)
    return out / "cc2017"


@pytest.fixture
def replica_copy(replica, tmp_path):
    return shutil.copytree(replica, tmp_path / "cc2017")


def test_replica_has_the_release_layout(replica):
    runs = sorted(p.relative_to(replica).as_posix() for p in replica.rglob("*.dtseries.nii"))
    assert runs[0] == "subject1/fmri/seg1/cifti/seg1_1_Atlas.dtseries.nii" and len(runs) == 2 * 2 + 2 * 3
    assert {p.name for p in (replica / "stimuli").glob("*.mp4")} == {"seg1.mp4", "seg2.mp4", "test1.mp4", "test2.mp4"}
    files = dataset_files("cc2017", replica)
    assert len(files) == 10 + 4 and not any(f.endswith(".tsv") for f in files)


def test_cc2017_inventory(replica):
    inv = build_inventory("cc2017", replica, OPTS)
    assert len(inv) == 10 and inv["run"].tolist() == list(range(1, 11)) and (inv["subject"] == "01").all()
    assert inv.groupby("episode")["repeat"].max().to_dict() == {"seg1": 2, "seg2": 2, "test1": 3, "test2": 3}
    assert set(inv.loc[inv["split"] == "test", "episode"]) == {"test1", "test2"}
    assert (inv["modalities"] == "fmri").all() and (inv["eeg"] == "").all() and (inv["TR"] == 2.0).all()
    # the release's volumes: 1 before the film (training segments, test1), 2 (the other test segments), 4 after
    by = inv.set_index(["episode", "repeat"])
    assert by.loc[("seg1", 1), "n_volumes"] == 1 + 5 + 4 and by.loc[("seg1", 1), "onset"] == 2.0
    assert by.loc[("test2", 3), "n_volumes"] == 2 + 5 + 4 and by.loc[("test2", 3), "onset"] == 4.0
    assert by.loc[("seg2", 2), "dtseries"] == "subject1/fmri/seg2/cifti/seg2_2_Atlas.dtseries.nii"
    assert by.loc[("seg2", 2), "stimulus"] == "stimuli/seg2.mp4"


def test_a_segment_whose_volume_count_disagrees_with_its_film(replica_copy):
    from cinebrain.fmri.grayordinates import N_GRAYORDINATES, write_dtseries

    bad = replica_copy / "subject1/fmri/seg2/cifti/seg2_1_Atlas.dtseries.nii"
    write_dtseries(bad, np.ones((14, N_GRAYORDINATES), np.float32), 2.0)  # 14 volumes; the film needs 10-11
    with pytest.raises(BIDSDatasetError) as err:
        build_inventory("cc2017", replica_copy, OPTS)
    msg = str(err.value)
    assert str(bad) in msg and "14 volumes, but its film stimuli/seg2.mp4 lasts 10.0 s" in msg
    assert "should have 10-11" in msg and "do not belong together" in msg and "dataset.cc2017.lead_volumes" in msg
    assert "1 problem(s)" in msg


def test_a_repeat_without_its_film(replica_copy):
    (replica_copy / "stimuli/test2.mp4").unlink()
    with pytest.raises(BIDSDatasetError) as err:
        build_inventory("cc2017", replica_copy, OPTS)
    msg = str(err.value)
    # every repeat of the segment is named, with the missing film and the fix
    assert msg.count("segment test2") == 3 and "test2_3_Atlas.dtseries.nii" in msg
    assert f"{replica_copy / 'stimuli/test2.mp4'} is missing" in msg and "dataset.cc2017.film" in msg


def test_wrong_tr_and_wrong_root(replica, tmp_path):
    with pytest.raises(BIDSDatasetError, match=r"(?s)TR is 2 s, not the configured dataset.tr = 0.8 s.*dataset.tr: 2.0"):
        build_inventory("cc2017", replica, InventoryOptions(tr=0.8, test_episodes=["test1", "test2"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BIDSDatasetError, match="no run matches dataset.cc2017.cifti"):
        build_inventory("cc2017", tmp_path / "empty", OPTS)
    with pytest.raises(ValueError, match="lacks repeat"):
        build_inventory("cc2017", replica, OPTS, cc2017={"cifti": "subject{subject}/{segment}.nii"})


def test_duplicate_runs_are_named(replica_copy):
    a = replica_copy / "subject1/fmri/seg1/cifti/seg1_1_Atlas.dtseries.nii"
    shutil.copyfile(a, replica_copy / "subject1/fmri/seg1/cifti/seg1_2_Atlas.dtseries.nii")
    with pytest.raises(BIDSDatasetError, match="byte-identical"):
        build_inventory("cc2017", replica_copy, OPTS)


# --- start-up checks ---------------------------------------------------------------------------------------


def _cc2017_config():
    from .tiny_workflow import CC2017

    return copy.deepcopy(CC2017)


def _problems(cfg) -> str:
    from cinebrain.config import ConfigError, check_config

    from .conftest import REPO

    try:
        check_config(cfg, REPO / "config/launch")
    except ConfigError as exc:
        return str(exc)
    return ""


def test_the_cc2017_workflow_config_is_valid():
    from cinebrain.config import validate_config

    cfg = _cc2017_config()
    validate_config(cfg)
    assert _problems(cfg) == ""


def test_methods_reading_eeg_stop_an_fmri_only_run():
    cfg = _cc2017_config()
    cfg["methods"]["cinesync"]["variants"] = ["cinesync", "cinesync_fmri"]
    cfg["methods"]["cinesync_audio"] = {"enabled": True, "variants": ["cinesync_eeg"]}
    msg = _problems(cfg)
    assert "methods.cinesync: cinesync reads fmri, eeg" in msg and "fix: set methods.cinesync.variants: [cinesync_fmri]" in msg
    assert "methods.cinesync_audio: cinesync_eeg reads eeg, but the dataset has no eeg" in msg and "methods.cinesync_audio.enabled: false" in msg


def test_cc2017_needs_precomputed_series_without_confounds():
    cfg = _cc2017_config()
    cfg["fmriprep"] = {"runner": "docker"}
    cfg["fmri"] = {"confounds": {"enabled": True}}
    cfg["dataset"]["modalities"] = ["fmri", "eeg"]
    msg = _problems(cfg)
    assert "fmriprep.runner: precomputed" in msg and "fmri.confounds.enabled: false" in msg
    assert "dataset.modalities lists eeg, which the cc2017 adapter's data do not have" in msg
    cfg = _cc2017_config()
    cfg["synth"]["shape"] = "bids"
    assert "dataset.bids_root must be 'results/synth/bids'" in _problems(cfg)


# --- stimulus-activated voxel selection ------------------------------------------------------------------


def test_activation_finds_the_voxels_whose_response_repeats():
    """60 of 300 voxels carry the same response in both repeats of every segment; the rest are noise."""
    from scipy.stats import ttest_1samp

    from cinebrain.fmri.activation import segment_z, select_activated

    rng = np.random.default_rng(0)
    z = []
    for _ in range(6):  # segments
        signal = rng.normal(size=(120, 60))
        reps = [np.c_[signal + rng.normal(0, 0.8, (120, 60)), rng.normal(size=(120, 240))] for _ in range(2)]
        zs = segment_z(reps)
        # Fisher z of the Pearson correlation, column by column
        assert zs[5] == pytest.approx(np.arctanh(np.corrcoef(reps[0][:, 5], reps[1][:, 5])[0, 1]))
        z.append(zs)
    res = select_activated(np.stack(z), alpha=0.05)
    assert np.flatnonzero(res["mask"]).tolist() == list(range(60))
    ref = ttest_1samp(np.stack(z), 0.0, axis=0, alternative="greater")
    np.testing.assert_allclose(res["p"], ref.pvalue)
    assert res["threshold"] == pytest.approx(0.05 / 300)
    # three repeats: the mean of the three pairs' z
    three = [rng.normal(size=(50, 4)) for _ in range(3)]
    pairs = [np.arctanh(np.corrcoef(three[i][:, 0], three[j][:, 0])[0, 1]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert segment_z(three)[0] == pytest.approx(np.mean(pairs))


def test_activation_needs_repeated_segments():
    from cinebrain.fmri.activation import ActivationError, select_activated

    with pytest.raises(ActivationError, match="at least 2"):
        select_activated(np.zeros((1, 10)))


def test_activated_set_joins_the_column_table(tmp_path):
    import json

    from cinebrain.fmri.activation import add_activated_set
    from cinebrain.fmri.rois import column_subset, write_columns

    write_columns(["visual", "hippocampus"], tmp_path / "cols.json", ROI_DIR)
    doc = add_activated_set(json.loads((tmp_path / "cols.json").read_text()),
                            {"Columns": [3, 5, 8400], "Within": ["visual"], "Subject": "01"})  # fmt: skip
    (tmp_path / "ds.json").write_text(json.dumps(doc))
    assert column_subset(tmp_path / "ds.json", ["activated"]).tolist() == [3, 5, 8400]
    assert len(column_subset(tmp_path / "ds.json", ["visual"])) == 8405


def test_activation_on_a_replica_selects_the_driven_cortex(tmp_path):
    """A cc2017 replica of 6 training segments of 40 s seen twice: the synthetic film drives the visual areas,
    not the hippocampus; the selection within both finds visual columns and no hippocampal one."""
    import json

    from cinebrain.fmri.activation import activation_subject
    from cinebrain.fmri.extract import RoiExtractor
    from cinebrain.fmri.normalise import alignment, column_stats, write_roi_timeseries, zscore
    from cinebrain.fmri.rois import select, write_columns
    from cinebrain.synth import generate

    cfg = SynthConfig(shape="cc2017", subjects=1, episodes=6, episode_seconds=40, test_segments=1, train_repeats=2,
                      test_repeats=1, height=32, width=48, fps=8, seed=5)  # fmt: skip
    generate(tmp_path / "synth", cfg, progress=False, roi_dir=ROI_DIR)
    root = tmp_path / "synth/cc2017"
    inv = build_inventory("cc2017", root, InventoryOptions(tr=2.0, test_episodes=["test1"]))
    inv.to_parquet(tmp_path / "inventory.parquet")
    sel = write_columns(["visual", "hippocampus"], tmp_path / "cols.json", ROI_DIR)
    runs = {}
    for r in inv[inv["split"] == "train"].itertuples():
        data, _ = RoiExtractor(select(["visual", "hippocampus"], ROI_DIR)).transform(root / r.dtseries, tr=2.0,
                                                                                   n_volumes=r.n_volumes)  # fmt: skip
        z, _ = zscore(data, *column_stats([data]))
        runs[r.run] = tmp_path / f"run-{r.run}_desc-roi_bold.npy"
        write_roi_timeseries(runs[r.run], z, alignment(r.onset, 2.0, len(z), 4.0, r.stimulus_duration))
    doc = activation_subject("01", inventory=tmp_path / "inventory.parquet", runs=runs, columns=tmp_path / "cols.json",
                             settings={"enabled": True, "within": ["visual", "hippocampus"]}, out=tmp_path / "act.json",
                             figure=tmp_path / "act.png")  # fmt: skip
    sets = np.asarray(sel.table["roi_sets"])[doc["Columns"]]
    assert doc["Tested"] == 8405 + 1559 and doc["Segments"] == [f"seg{i}" for i in range(1, 7)]
    assert doc["Selected"] > 400 and set(sets) == {"visual"}  # measured: 529 at 6 segments of 20 volumes
    assert json.loads((tmp_path / "act.json").read_text())["Selected"] == doc["Selected"]
    assert (tmp_path / "act.png").stat().st_size > 0


def test_an_empty_activated_set_is_named_when_a_method_asks_for_it(tmp_path):
    import json

    from cinebrain.fmri.activation import add_activated_set
    from cinebrain.fmri.rois import RoiError, column_subset, write_columns

    write_columns(["hippocampus"], tmp_path / "cols.json", ROI_DIR)
    doc = add_activated_set(json.loads((tmp_path / "cols.json").read_text()),
                            {"Columns": [], "Within": ["hippocampus"], "Subject": "01"})  # fmt: skip
    (tmp_path / "ds.json").write_text(json.dumps(doc))
    with pytest.raises(RoiError, match="activated hold no column .*fmri_activation"):
        column_subset(tmp_path / "ds.json", ["activated"])


def test_silent_films_stop_whatever_needs_audio():
    cfg = _cc2017_config()
    cfg["stimuli"]["audio_rates"] = []
    assert _problems(cfg) == ""  # the cc2017 workflow needs no audio
    cfg["captions"] = {"sources": [{"name": "asr", "backend": "whisper", "model": "x"}]}
    cfg["methods"]["cinesync_audio"] = {"enabled": True, "variants": ["cinesync_fmri"],
                                        "decoder": {"variants": ["cinesync_fmri"]}}  # fmt: skip
    msg = _problems(cfg)
    assert "captions.sources asr transcribe the clips' audio, but stimuli.audio_rates is empty" in msg
    assert "methods.cinesync_audio decodes the clips' audio" in msg


def test_inventory_command_reads_cc2017(replica, tmp_path):
    import pandas as pd

    from cinebrain.cli import main

    out = tmp_path / "inventory.parquet"
    assert main(["inventory", str(replica), str(out), "--adapter", "cc2017", "--tr", "2", "--test-episodes",
                 "test1,test2", "--modalities", "fmri"]) == 0  # fmt: skip
    assert len(pd.read_parquet(out)) == 10


def test_bids_dataset_without_eeg(bids_copy):
    """A BIDS film dataset without EEG: refused as EEG-fMRI (with the fix), read as fMRI-only."""
    for d in bids_copy.glob("sub-*/eeg"):
        shutil.rmtree(d)
    with pytest.raises(BIDSDatasetError, match=r"(?s)missing: every BOLD run needs its simultaneous EEG.*dataset.modalities: \[fmri\]"):
        build_inventory("bids", bids_copy, InventoryOptions())
    inv = build_inventory("bids", bids_copy, InventoryOptions(modalities=["fmri"]))
    assert (inv["modalities"] == "fmri").all() and (inv["eeg"] == "").all() and inv["eeg_sfreq"].isna().all()
    assert (inv["repeat"] == 1).all() and (inv["dtseries"] == "").all()


def test_bids_repeats_count_viewings_in_run_order():
    import pandas as pd

    from cinebrain.bids import repeats

    df = pd.DataFrame({"subject": ["01", "01", "01", "02", "01"], "run": [3, 1, 2, 1, 4],
                       "episode": ["ep1", "ep1", "ep2", "ep1", "ep1"]})  # fmt: skip
    assert repeats(df).tolist() == [2, 1, 1, 1, 3]


# --- per-clip betas --------------------------------------------------------------------------------------

BT = SynthConfig(shape="betas", subjects=2, episodes=4, episode_seconds=2, test_segments=2, train_repeats=2,
                 test_repeats=3, height=32, width=48, fps=8, seed=4)  # fmt: skip


@pytest.fixture(scope="module")
def betas(tmp_path_factory):
    from cinebrain.synth import generate

    out = tmp_path_factory.mktemp("betas") / "synth"
    generate(out, BT, progress=False, roi_dir=ROI_DIR)
    return out / "betas"


@pytest.fixture
def betas_copy(betas, tmp_path):
    return shutil.copytree(betas, tmp_path / "betas")


def test_betas_inventory(betas):
    inv = build_inventory("betas", betas, InventoryOptions(tr=2.0))
    assert len(inv) == 2 * (4 * 2 + 2 * 3) and set(inv["subject"]) == {"01", "02"}
    sub = inv[inv["subject"] == "02"]
    assert sub["beta_row"].tolist() == list(range(14)) and sub["run"].tolist() == list(range(1, 15))
    assert sub.groupby("episode")["repeat"].max().to_dict() == {"v001": 2, "v002": 2, "v003": 2, "v004": 2, "v005": 3,
                                                                 "v006": 3}  # fmt: skip
    assert set(inv.loc[inv["split"] == "test", "episode"]) == {"v005", "v006"}
    assert (inv["dtseries"] == inv["subject"].map(lambda s: f"sub-{s}/sub-{s}_betas.npy")).all()
    assert (inv["n_volumes"] == 1).all() and (inv["stimulus_duration"] == 2.0).all()
    files = dataset_files("betas", betas)
    assert len(files) == 2 * 2 + 6


def test_betas_carry_the_videos_signal(betas):
    """The synthetic betas: the visual columns' repeats agree far better than chance (the encoding model's signal)."""
    import pandas as pd

    v = np.load(betas / "sub-01/sub-01_betas.npy")
    table = pd.read_csv(betas / "sub-01/sub-01_betas.tsv", sep="\t")
    first = v[(table["repeat"] == 1).to_numpy() & (table["split"] == "train").to_numpy()]
    second = v[(table["repeat"] == 2).to_numpy() & (table["split"] == "train").to_numpy()]
    from cinebrain.fmri.rois import select

    vis = select(["visual"], ROI_DIR).indices
    r = np.corrcoef(first[:, vis].ravel(), second[:, vis].ravel())[0, 1]
    assert r > 0.3


def test_a_beta_table_with_missing_clips(betas_copy):
    v = np.load(betas_copy / "sub-01/sub-01_betas.npy")
    np.save(betas_copy / "sub-01/sub-01_betas.npy", v[:10])  # 4 of the 14 clips have no betas
    values = v.copy()
    values[3] = np.nan
    np.save(betas_copy / "sub-02/sub-02_betas.npy", values)
    with pytest.raises(BIDSDatasetError) as err:
        build_inventory("betas", betas_copy, InventoryOptions(tr=2.0))
    msg = str(err.value)
    assert "sub-01_betas.npy: 10 beta rows but sub-01_betas.tsv lists 14 clips: the clips from row 11 on" in msg
    assert "sub-02_betas.npy: 1 clip(s) have no finite beta (all NaN): v002" in msg and "2 problem(s)" in msg


def test_betas_bad_tables_and_videos(betas_copy):
    import pandas as pd

    (betas_copy / "stimuli/v003.mp4").unlink()
    t = pd.read_csv(betas_copy / "sub-02/sub-02_betas.tsv", sep="\t")
    t.loc[t["video"] == "v001", "split"] = "test"  # train for sub-01, test for sub-02
    t.to_csv(betas_copy / "sub-02/sub-02_betas.tsv", sep="\t", index=False)
    np.save(betas_copy / "sub-01/sub-01_betas.npy", np.zeros((14, 100), np.float32))
    with pytest.raises(BIDSDatasetError) as err:
        build_inventory("betas", betas_copy, InventoryOptions(tr=2.0))
    msg = str(err.value)
    assert "lists video v003, whose file" in msg and "v003.mp4 is missing" in msg
    assert "video v001 is train for one subject and test for another" in msg
    assert "shape (14, 100), not (rows, 91282) grayordinates" in msg
    t.drop(columns="split").to_csv(betas_copy / "sub-02/sub-02_betas.tsv", sep="\t", index=False)
    with pytest.raises(BIDSDatasetError, match="lacks the column"):
        build_inventory("betas", betas_copy, InventoryOptions(tr=2.0))
