"""The clip dataset (cinebrain.data): windows against the synthetic truth, errors, leakage, torch access."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinebrain.data import (
    ClipDataset,
    DatasetError,
    DataSettings,
    LeakageError,
    build_split,
)
from cinebrain.fmri.normalise import alignment, column_stats, write_roi_timeseries, zscore

from .conftest import CAPTION_RESOURCES, ROI_DIR, SMALL

LAG = 4.0


def _inventory(synth) -> pd.DataFrame:
    truth = json.loads((synth / "truth/synth.json").read_text())
    inv = pd.DataFrame(truth["runs"]).rename(columns={"n_volumes": "n_volumes"})
    inv["TR"] = 0.8
    inv["split"] = np.where(inv["episode"] == "ep03", "test", "train")  # split.test_episodes: 1 (of 3)
    return inv


def _eeg_fif(synth, sub, run, path):
    """A clean-EEG FIF as eeg_clean writes it (64 EEG channels, volume annotations), from the truth."""
    import mne

    t = np.load(synth / f"truth/sub-{sub}/sub-{sub}_task-movie_run-{run}_eeg.npz")
    info = mne.create_info([f"E{i + 1}" for i in range(64)] + ["ECG"], float(t["sfreq"]), ["eeg"] * 64 + ["ecg"])
    raw = mne.io.RawArray(np.vstack([t["clean"], t["clean_ecg"][None]]), info, verbose="error")
    raw.set_annotations(mne.Annotations(t["markers"] / t["sfreq"], 0.0, "Response/R128"))
    raw.save(path, verbose="error")


@pytest.fixture(scope="module")
def inputs(synth, clips, tmp_path_factory):
    """Per-run inputs of sub-01 and sub-02: visual ROI series (extracted, z-scored) and clean EEG."""
    from cinebrain.fmri.extract import RoiExtractor
    from cinebrain.fmri.rois import select

    out = tmp_path_factory.mktemp("runs")
    inv = _inventory(synth)
    sel = select(["visual"], ROI_DIR)
    fmri, eeg = {}, {}
    for _, r in inv.iterrows():
        sub, run = r["subject"], int(r["run"])
        base = f"sub-{sub}_task-movie_run-{run}"
        data, _ = RoiExtractor(sel).transform(synth / f"bids/derivatives/fmriprep/sub-{sub}/func/{base}_space-fsLR_den-91k_bold.dtseries.nii",
                                              tr=0.8, n_volumes=int(r["n_volumes"]))  # fmt: skip
        z, _ = zscore(data, *column_stats([data]))
        fmri[(sub, run)] = out / f"{base}_desc-roi_bold.npy"
        write_roi_timeseries(fmri[(sub, run)], z, alignment(float(r["onset"]), 0.8, len(z), LAG, SMALL.episode_seconds))
        eeg[(sub, run)] = out / f"{base}_desc-clean_eeg.fif"
        _eeg_fif(synth, sub, run, eeg[(sub, run)])
    return {"inventory": inv, "fmri": fmri, "eeg": eeg, "sel": sel}


def _build(inputs, clips, out, subject="01", split="train", inventory=None, fmri=None, **settings):
    inv = inputs["inventory"] if inventory is None else inventory
    runs = inv[inv["subject"] == subject]["run"].astype(int)
    return build_split(subject, split, inventory=inv, clips=clips / "clips.parquet",
                       fmri_runs={r: (fmri or inputs["fmri"])[(subject, r)] for r in runs},
                       eeg_runs={r: inputs["eeg"][(subject, r)] for r in runs},
                       settings=DataSettings(**settings), out=out)  # fmt: skip


@pytest.fixture(scope="module")
def train01(inputs, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "sub-01" / "train"
    _build(inputs, clips, out)
    return out


def test_shapes_and_manifest(train01, inputs):
    man = pd.read_parquet(train01 / "manifest.parquet")
    fmri, eeg = np.load(train01 / "fmri.npy", mmap_mode="r"), np.load(train01 / "eeg.npy", mmap_mode="r")
    # sub-01 trains on ep01 only (ep03 is the test episode): 10 clips of 4 s, 5 TRs, 4,000 EEG samples
    assert len(man) == 10 and set(man["episode"]) == {"ep01"} and (man["row"] == np.arange(10)).all()
    assert fmri.shape == (10, 5, len(inputs["sel"].indices)) and eeg.shape == (10, 64, 4000)
    assert fmri.dtype == eeg.dtype == np.float32
    # clip k takes volumes First + 5k ... + 4, First = round((1.6 s onset + 4 s lag) / 0.8 s) = 7
    assert man["fmri_start"].tolist() == [7 + 5 * k for k in range(10)]
    info = json.loads((train01 / "dataset.json").read_text())
    assert info["TestEpisodes"] == ["ep03"] and info["Dropped"] == []


def test_fmri_windows_hold_the_lagged_response(synth, train01, inputs):
    """Each window's pattern matches the noise-free response at those volumes, not the unlagged ones."""
    from cinebrain.synth.fmri import noise_free_bold

    m = np.load(synth / "truth/sub-01/sub-01_fmri-model.npz")
    r = np.load(synth / "truth/sub-01/sub-01_task-movie_run-1_fmri.npz")
    truth = noise_free_bold(r["region_signal"], m["parcels"], m["gains"], m["baseline"])[:, inputs["sel"].indices]
    truth = (truth - truth.mean(0)) / truth.std(0)
    fmri = np.load(train01 / "fmri.npy")
    man = pd.read_parquet(train01 / "manifest.parquet")

    def corr(shift):
        out = []
        for i, s in enumerate(man["fmri_start"] - shift):
            a, b = fmri[i].ravel(), truth[max(s, 0) : max(s, 0) + 5].ravel()
            out.append(np.corrcoef(a, b)[0, 1])
        return np.median(out)

    lagged, unlagged = corr(0), corr(5)  # 5 volumes = the 4-s haemodynamic lag
    assert lagged > 0.7 and lagged - unlagged > 0.3, (lagged, unlagged)


def test_eeg_windows_start_at_the_clip(synth, train01):
    """The EEG window of clip k starts k * 4 s after the film onset in the EEG (within one sample)."""
    t = np.load(synth / "truth/sub-01/sub-01_task-movie_run-1_eeg.npz")
    man = pd.read_parquet(train01 / "manifest.parquet")
    eeg = np.load(train01 / "eeg.npy", mmap_mode="r")
    onset = float(t["stim_onset_eeg"]) * float(t["sfreq"])
    expected = onset + 4000 * man["clip_index"].to_numpy()
    assert np.abs(man["eeg_start"].to_numpy() - expected).max() <= 1
    for i in (0, 4, 9):
        s = int(man["eeg_start"].iloc[i])
        np.testing.assert_array_equal(eeg[i], t["clean"][:, s : s + 4000].astype(np.float32))


def test_clip_past_the_end_of_a_run(inputs, clips, tmp_path):
    """A run whose scan stops 5 volumes early: clip 9's window runs out; error, or dropped on request."""
    short = dict(inputs["fmri"])
    src = inputs["fmri"][("01", 1)]
    data = np.load(src)[:52]
    side = json.loads(src.with_suffix(".json").read_text()) | {"NumberOfVolumes": 52}
    short[("01", 1)] = tmp_path / src.name
    write_roi_timeseries(short[("01", 1)], data, side)
    out = tmp_path / "ds"
    with pytest.raises(DatasetError, match=r"clip ep01_clip-0009 of sub-01 run 1 extends past the end of the run: it "
                                           r"needs fMRI volumes 52-56 \(lag 4.0 s\) but the run has 52.*data.incomplete: drop"):  # fmt: skip
        _build(inputs, clips, out, fmri=short)
    assert not out.exists() and not (tmp_path / "ds.tmp").exists()
    man = _build(inputs, clips, out, fmri=short, incomplete="drop")
    assert len(man) == 9 and "ep01_clip-0009" not in set(man["clip"])
    assert json.loads((out / "dataset.json").read_text())["Dropped"][0]["clip"] == "ep01_clip-0009"


def test_leakage_guard(inputs, clips, tmp_path):
    """ep01 is a test episode for sub-02 (e.g. a hand-edited inventory): sub-01 may not train on it."""
    inv = inputs["inventory"].copy()
    extra = inv[inv["subject"] == "02"].iloc[[0]].assign(episode="ep01", split="test", run=9)
    inv = pd.concat([inv, extra], ignore_index=True)
    out = tmp_path / "ds"
    with pytest.raises(LeakageError, match=r"10 clip\(s\) of test episode\(s\) \['ep01'\] would enter the training set "
                                           r"of sub-01"):  # fmt: skip
        _build(inputs, clips, out, inventory=inv)
    assert not out.exists() and not (tmp_path / "ds.tmp").exists()
    _build(inputs, clips, tmp_path / "test", split="test")  # the test split itself is fine


def test_settings_errors():
    with pytest.raises(ValueError, match="whole number of volumes"):
        _ = DataSettings(clip_seconds=4.2).n_volumes
    with pytest.raises(DatasetError, match="4.0-s clip is 1000.4 EEG samples"):
        DataSettings().n_samples(250.1)


def test_torch_dataset_and_targets(synth, clips, inputs, tiny_models, tmp_path):
    import torch

    from cinebrain.captions import caption_episode
    from cinebrain.features import embed_actions, embed_episode, encode_latents, read_features

    caps = tmp_path / "ep01.parquet"
    caption_episode(clips / "clips.parquet", "ep01", [{"name": "truth", "backend": "sidecar", "n": 2}],
                    {"backend": "wordlist", "source": "truth"}, sidecar_dir=synth / "bids/stimuli", **CAPTION_RESOURCES, out=caps,
                    out_categories=tmp_path / "ep01_categories.parquet")  # fmt: skip
    embed_episode(clips / "clips.parquet", caps, "ep01", model=str(tiny_models / "clip"), out=tmp_path / "e.safetensors")
    encode_latents(clips / "clips.parquet", "ep01", model=str(tiny_models / "cogvideox"), subfolder="vae", out=tmp_path / "l.safetensors")
    embed_actions(clips / "clips.parquet", "ep01", model=str(tiny_models / "xclip"), out=tmp_path / "a.safetensors")
    encode_latents(clips / "clips.parquet", "ep01", model=str(tiny_models / "wan"), subfolder="vae", out=tmp_path / "w.safetensors")
    runs = [1]
    # the fMRI stage's column table, with the visual columns split into two sets "a" and "b" (the dataset
    # carries it, and ClipDataset selects sets from it)
    import json

    from cinebrain.fmri.rois import write_columns

    write_columns(["visual"], tmp_path / "roi_columns.json", ROI_DIR)
    doc = json.loads((tmp_path / "roi_columns.json").read_text())
    n_cols = doc["NumberOfColumns"]
    doc["Columns"]["roi_sets"] = ["a"] * 100 + ["b"] * (n_cols - 100)
    doc["RoiSets"] = [{"name": "a"}, {"name": "b"}]
    (tmp_path / "roi_columns.json").write_text(json.dumps(doc))
    out = tmp_path / "deeper/than/results/ds"  # paths in the manifest do not depend on the folder's depth
    build_split("01", "train", inventory=inputs["inventory"], clips=clips / "clips.parquet",
                fmri_runs={r: inputs["fmri"][("01", r)] for r in runs}, eeg_runs={r: inputs["eeg"][("01", r)] for r in runs},
                settings=DataSettings(), captions={"ep01": caps}, categories={"ep01": tmp_path / "ep01_categories.parquet"},
                features={"embed": {"ep01": tmp_path / "e.safetensors"}, "latents": {"ep01": tmp_path / "l.safetensors"},
                          "action": {"ep01": tmp_path / "a.safetensors"}, "wan_latents": {"ep01": tmp_path / "w.safetensors"}},
                roi_columns=tmp_path / "roi_columns.json", out=out)  # fmt: skip
    man = pd.read_parquet(out / "manifest.parquet")
    assert not any(Path(p).is_absolute() for p in [*man["latents_file"], *man["video"]])  # relative to the dataset
    ds_a = ClipDataset(out, modalities=("fmri",), roi_sets=["a"])
    np.testing.assert_array_equal(ds_a[2]["fmri"].numpy(), np.load(out / "fmri.npy")[2][:, :100])
    assert ClipDataset(out, modalities=("fmri",), roi_sets=["b"])[0]["fmri"].shape == (5, n_cols - 100)
    assert ClipDataset(out, roi_sets=["a"]).resolve(man["video"].iloc[0]).exists()
    emb, _ = read_features(tmp_path / "e.safetensors")
    lat, _ = read_features(tmp_path / "l.safetensors")
    ds = ClipDataset(out, targets=("frames", "text", "latents", "categories"), text_index=1)
    item = ds[3]
    assert len(ds) == 10 and item["fmri"].shape == (5, len(inputs["sel"].indices)) and item["eeg"].shape == (64, 4000)
    np.testing.assert_array_equal(item["fmri"].numpy(), np.load(out / "fmri.npy")[3])
    np.testing.assert_array_equal(item["frames"].numpy(), emb["frames"][3])
    rows = np.flatnonzero(emb["text_clip"] == 3)
    np.testing.assert_array_equal(item["text"].numpy(), emb["text"][rows[1 % len(rows)]])
    np.testing.assert_array_equal(item["latents_mean"].numpy(), lat["mean"][3])
    assert item["categories"].shape == (15,) and item["categories"].dtype == torch.float32
    assert item["categories"].sum() >= 1  # every synthetic caption names a shape ("others")
    act, _ = read_features(tmp_path / "a.safetensors")
    np.testing.assert_array_equal(ClipDataset(out, modalities=(), targets=("action",))[3]["action"].numpy(), act["action"][3])
    wan, _ = read_features(tmp_path / "w.safetensors")
    item = ClipDataset(out, modalities=(), targets=("latents",), latents="wan_latents")[3]
    np.testing.assert_array_equal(item["latents_mean"].numpy(), wan["mean"][3])
    every = ClipDataset(out, modalities=("eeg",), targets=("text",))[3]
    assert "fmri" not in every and every["text"].shape == (len(rows), 16)
    with pytest.raises(ValueError, match="modality 'meg'"):
        ClipDataset(out, modalities=("meg",))
    part = ClipDataset(out, modalities=("fmri",), fmri_columns=[5, 0, 7])[3]["fmri"]
    np.testing.assert_array_equal(part.numpy(), np.load(out / "fmri.npy")[3][:, [5, 0, 7]])
    with pytest.raises(ValueError, match="fmri_columns must be a non-empty selection of the"):
        ClipDataset(out, fmri_columns=[10**7])
    (out / "roi_columns.json").unlink()
    with pytest.raises(ValueError, match=r"roi_columns.json: missing, so the dataset cannot select ROI sets \['a'\]; "
                                         r"fix: rebuild it"):  # fmt: skip
        ClipDataset(out, roi_sets=["a"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["eeg"].shape == (4, 64, 4000) and batch["latents_mean"].shape[0] == 4
    man.drop(columns=["action_file", "action_row", "wan_latents_file", "wan_latents_row"]).to_parquet(out / "manifest.parquet")
    with pytest.raises(ValueError, match="target 'action' needs features.*fix: set features.action.model"):
        ClipDataset(out, targets=("action",))  # built without features.action
    with pytest.raises(ValueError, match="'wan_latents_file' not in the manifest.*fix: set features.wan_vae.model"):
        ClipDataset(out, targets=("latents",), latents="wan_latents")



def test_film_stopped_early_leaves_its_unshown_clips_out(inputs, clips, tmp_path, capsys):
    """events.tsv says the film ran 20 s of its 40 s (the scan went on): clips after 20 s had no film."""
    inv = inputs["inventory"].copy()
    inv["played_duration"] = np.where((inv["subject"] == "01") & (inv["episode"] == "ep01"), 20.0, np.nan)
    man = _build(inputs, clips, tmp_path / "ds", inventory=inv)
    assert len(man) == 5 and man["end"].max() == pytest.approx(20.0)
    info = json.loads((tmp_path / "ds/dataset.json").read_text())
    assert len(info["Dropped"]) == 5 and "not shown: the film ran 20 s" in info["Dropped"][0]["reason"]
    assert "5 clip(s) left out" in capsys.readouterr().err


def _with_repeat(inputs, tmp_path):
    """sub-01's ep01 seen twice: run 1 and a second viewing, run 9, whose windows are 0.5 x run 1's + 1."""
    import shutil

    inv = inputs["inventory"].copy()
    first = inv[(inv["subject"] == "01") & (inv["run"] == 1)].iloc[0]
    second = first.copy()
    second["run"] = 9
    inv = pd.concat([inv, second.to_frame().T], ignore_index=True)
    inv["run"] = inv["run"].astype(int)
    inv["repeat"] = np.where(inv["run"] == 9, 2, 1)
    src = Path(inputs["fmri"][("01", 1)])
    dst = tmp_path / "sub-01_task-movie_run-9_desc-roi_bold.npy"
    np.save(dst, np.load(src) * 0.5 + 1.0)
    shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return inv, {**inputs["fmri"], ("01", 9): dst}


@pytest.mark.parametrize("mode", ["keep", "average"])
def test_repeats_kept_or_averaged(inputs, clips, tmp_path, mode):
    inv, fmri = _with_repeat(inputs, tmp_path)
    runs = [1, 9]
    out = tmp_path / mode
    man = build_split("01", "train", inventory=inv, clips=clips / "clips.parquet",
                      fmri_runs={r: fmri[("01", r)] for r in runs}, eeg_runs={},
                      settings=DataSettings(repeats={"train": mode}), out=out)  # fmt: skip
    data = np.load(out / "fmri.npy")
    one = np.load(fmri[("01", 1)])
    first = one[7:12]  # clip 0's volumes in run 1 (First = 7)
    info = json.loads((out / "dataset.json").read_text())
    if mode == "keep":  # a sample per viewing: 2 x 10 clips, the repeat named
        assert len(man) == 20 and sorted(man["repeat"].unique()) == [1, 2]
        np.testing.assert_allclose(data[man.index[(man["run"] == 9) & (man["clip_index"] == 0)][0]], first * 0.5 + 1, atol=1e-6)
        assert info["Repeats"] == {"Mode": "keep", "PerSample": [1], "Views": 20}
    else:  # one sample per clip, the mean of the two viewings' windows
        assert len(man) == 10 and (man["repeats"] == 2).all() and man["runs"].iloc[0] == "1,9"
        np.testing.assert_allclose(data[0], (first + first * 0.5 + 1) / 2, atol=1e-6)
        assert info["Repeats"] == {"Mode": "average", "PerSample": [2], "Views": 20}
    # no EEG runs: an fMRI-only dataset, and asking it for EEG says so
    assert not (out / "eeg.npy").exists() and info["eeg"] is None
    assert ClipDataset(out).modalities == ("fmri",)
    with pytest.raises(DatasetError, match="has no eeg .*fMRI-only dataset"):
        ClipDataset(out, modalities=("fmri", "eeg"))


def test_runs_with_and_without_eeg_in_one_split_are_refused(inputs, clips, tmp_path):
    inv, fmri = _with_repeat(inputs, tmp_path)
    with pytest.raises(DatasetError, match=r"runs \[9\] have no clean EEG but the others do"):
        build_split("01", "train", inventory=inv, clips=clips / "clips.parquet",
                    fmri_runs={r: fmri[("01", r)] for r in (1, 9)}, eeg_runs={1: inputs["eeg"][("01", 1)]},
                    settings=DataSettings(), out=tmp_path / "ds")  # fmt: skip
    assert not (tmp_path / "ds").exists()


def test_kept_repeats_in_the_test_split_are_refused(inputs, clips, tmp_path):
    inv, fmri = _with_repeat(inputs, tmp_path)
    inv = inv[(inv["subject"] == "01") & inv["run"].isin([1, 9])].assign(split="test")
    with pytest.raises(DatasetError, match="seen in several runs and data.repeats.test is keep.*data.repeats.test: average"):
        build_split("01", "test", inventory=inv, clips=clips / "clips.parquet",
                    fmri_runs={r: fmri[("01", r)] for r in (1, 9)}, eeg_runs={},
                    settings=DataSettings(repeats={"test": "keep"}), out=tmp_path / "ds")  # fmt: skip
    assert not (tmp_path / "ds").exists()
