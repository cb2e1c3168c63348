"""The synthetic dataset against its ground truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from cinebrain.fmri.grayordinates import mmp_parcels
from cinebrain.synth import SynthConfig, generate
from cinebrain.synth import fmri as fm
from cinebrain.synth.dataset import assign_episodes
from cinebrain.synth.eeg import montage_positions

from .conftest import ROI_DIR, SMALL


def _run(synth: Path, sub="01", run=1):
    base = f"sub-{sub}_task-movie_run-{run}"
    bids = synth / "bids"
    return {
        "base": base,
        "bold": bids / f"sub-{sub}/func/{base}_bold.nii.gz",
        "dts": bids / f"derivatives/fmriprep/sub-{sub}/func/{base}_space-fsLR_den-91k_bold.dtseries.nii",
        "conf": bids / f"derivatives/fmriprep/sub-{sub}/func/{base}_desc-confounds_timeseries.tsv",
        "vhdr": bids / f"sub-{sub}/eeg/{base}_eeg.vhdr",
        "events": bids / f"sub-{sub}/func/{base}_events.tsv",
        "truth_eeg": synth / f"truth/sub-{sub}/{base}_eeg.npz",
        "truth_fmri": synth / f"truth/sub-{sub}/{base}_fmri.npz",
        "model": synth / f"truth/sub-{sub}/sub-{sub}_fmri-model.npz",
    }


def test_bids_validator_zero_errors(synth):
    exe = Path(__import__("sys").executable).with_name("bids-validator-deno")
    res = subprocess.run([str(exe), "--format", "json", str(synth / "bids")], capture_output=True, text=True)
    report = json.loads(res.stdout)
    errors = [i for i in report["issues"]["issues"] if i["severity"] == "error"]
    assert errors == [], errors[:3]
    assert sorted(report["summary"]["subjects"]) == ["01", "02"]
    assert set(report["summary"]["modalities"]) >= {"EEG", "MRI"}


def test_episode_assignment_shares_some_and_not_others():
    a = assign_episodes(2, 4)
    assert a == {"01": ["ep01", "ep03", "ep04"], "02": ["ep02", "ep03", "ep04"]}
    assert assign_episodes(3, 2) == {"01": ["ep01", "ep02"], "02": ["ep02"], "03": ["ep02"]}


def test_dtseries_layout_and_volumes(synth):
    r = _run(synth)
    img = nib.load(r["dts"])
    series, bm = img.header.get_axis(0), img.header.get_axis(1)
    n_vol = json.loads((synth / "truth/synth.json").read_text())["n_volumes"]
    assert img.shape == (n_vol, 91282)
    assert series.step == pytest.approx(SMALL.tr)
    assert len(bm) == 91282 and bm.nvertices["CIFTI_STRUCTURE_CORTEX_LEFT"] == 32492
    assert nib.load(r["bold"]).shape[3] == n_vol
    conf = pd.read_csv(r["conf"], sep="\t")
    assert len(conf) == n_vol
    for col in ["trans_x", "rot_z", "framewise_displacement", "csf", "white_matter", "global_signal",
                "a_comp_cor_00", "trans_x_derivative1", "trans_x_power2"]:  # fmt: skip
        assert col in conf


def _nuisance(conf: pd.DataFrame) -> np.ndarray:
    """Intercept, linear trend and the six motion parameters (not the global signal: it holds the stimulus)."""
    n = len(conf)
    motion = conf[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]].to_numpy()
    return np.c_[np.ones(n), np.linspace(-1, 1, n), motion]


def test_visual_regions_follow_hrf_convolved_visual_features(synth):
    from nilearn.glm.first_level import spm_hrf

    r = _run(synth)
    data = np.asarray(nib.load(r["dts"]).get_fdata(dtype=np.float32))
    parcels, labels = mmp_parcels()
    classes = fm.region_classes(labels, fm.brain_areas(ROI_DIR))
    feats = pd.read_parquet(synth / "truth/stimuli/ep01_features.parquet")
    n_vol = data.shape[0]
    onset = SMALL.n_dummy * SMALL.tr
    # HRF-convolved features computed here, independently of the generator's design_matrix.
    hrf = spm_hrf(1.0, oversampling=SMALL.fps)

    def convolved(cols):
        n_grid = int(np.ceil(n_vol * SMALL.tr * SMALL.fps)) + 1
        x = np.zeros((n_grid, len(cols)))
        start = int(round(onset * SMALL.fps))
        v = feats[cols].to_numpy(float)
        v = (v - v.mean(0)) / np.where(v.std(0) > 0, v.std(0), 1)
        x[start : start + len(v)] = v[: n_grid - start]
        c = np.stack([np.convolve(x[:, j], hrf)[:n_grid] for j in range(len(cols))], 1)
        return c[np.round(np.arange(n_vol) * SMALL.tr * SMALL.fps).astype(int)]

    conf = pd.read_csv(r["conf"], sep="\t")
    nuis = _nuisance(conf)
    w = np.load(r["model"])["weights"]
    vis_cols = [fm.ALL_FEATURES.index(c) for c in fm.VISUAL_FEATURES]
    aud_cols = [fm.ALL_FEATURES.index(c) for c in fm.AUDIO_FEATURES]
    Cv, Ca = convolved(fm.VISUAL_FEATURES), convolved(fm.AUDIO_FEATURES)

    def residual(y):
        beta, *_ = np.linalg.lstsq(nuis, y, rcond=None)
        return y - nuis @ beta

    def corr(cls, C, cols):
        return np.median([np.corrcoef(residual(data[:, parcels == p].mean(1)), residual(C @ w[p, cols]))[0, 1]
                          for p, c in classes.items() if c == cls])  # fmt: skip

    # Visual regions follow their HRF-convolved visual features; auditory regions the sound.
    assert corr("visual", Cv, vis_cols) > 0.9
    assert corr("auditory", Ca, aud_cols) > 0.9
    # Control: visual regions do not follow another region's visual prediction.
    vis = [p for p, c in classes.items() if c == "visual"]
    shuffled = np.median([np.corrcoef(residual(data[:, parcels == p].mean(1)), residual(Cv @ w[q, vis_cols]))[0, 1]
                          for p, q in zip(vis, np.roll(vis, 7), strict=True)])  # fmt: skip
    assert abs(shuffled) < 0.5
    # Each grayordinate's noise-free signal is exactly the truth's region signal scaled by its gain.
    truth = np.load(r["truth_fmri"])
    model = np.load(r["model"])
    nf = fm.noise_free_bold(truth["region_signal"], model["parcels"], model["gains"], model["baseline"])
    v = np.flatnonzero(np.isin(parcels, vis))[:500]
    corr = [np.corrcoef(nf[:, i], data[:, i])[0, 1] for i in v]
    assert np.median(corr) > 0.5


def test_hippocampus_follows_scene_cuts(synth):
    r = _run(synth)
    data = np.asarray(nib.load(r["dts"]).get_fdata(dtype=np.float32))
    parcels, labels = mmp_parcels()
    hip = [i for i, n in labels.items() if n.startswith("hippocampus")]
    y = data[:, np.isin(parcels, hip)].mean(1)
    conf = pd.read_csv(r["conf"], sep="\t")
    nuis = _nuisance(conf)
    y = y - nuis @ np.linalg.lstsq(nuis, y, rcond=None)[0]
    design = np.load(r["truth_fmri"])["design"]
    cut = design[:, fm.ALL_FEATURES.index("cut")]
    cut = cut - nuis @ np.linalg.lstsq(nuis, cut, rcond=None)[0]
    assert np.corrcoef(y, cut)[0, 1] > 0.7


def test_volume_markers_match_bold_and_truth(synth):
    truth = json.loads((synth / "truth/synth.json").read_text())
    for run in truth["runs"]:
        r = _run(synth, run["subject"], run["run"])
        raw = mne.io.read_raw_brainvision(r["vhdr"], preload=False, verbose="error")
        on = raw.annotations.onset[raw.annotations.description == "Response/R128"]
        t = np.load(r["truth_eeg"])
        assert len(on) == nib.load(r["bold"]).shape[3] == run["n_volumes"]
        np.testing.assert_array_equal(np.round(on * raw.info["sfreq"]).astype(int), t["markers"])
        # markers are the rounded fractional volume onsets; consecutive spacing ~ TR with clock drift
        assert np.all(np.abs(t["markers"] - t["vol_onsets"]) <= 0.5)
        assert np.diff(t["vol_onsets"]).mean() == pytest.approx(SMALL.tr * SMALL.eeg_sfreq, rel=1e-4)


def _lowpass(x, f, sfreq):
    return sosfiltfilt(butter(4, f, fs=sfreq, output="sos"), x, axis=-1)


def test_eeg_artifacts_are_where_the_truth_says(synth):
    r = _run(synth)
    raw = mne.io.read_raw_brainvision(r["vhdr"], preload=True, verbose="error")
    t = np.load(r["truth_eeg"])
    sf = float(t["sfreq"])
    data = raw.get_data()
    eeg = data[:64]
    clean = t["clean"].astype(np.float64)
    art = eeg - clean
    # MR gradient: power at the slice frequency (45 Hz) dwarfs that of the clean EEG (> 1000x).
    f, p_raw = welch(eeg, sf, nperseg=int(4 * sf))
    _, p_clean = welch(clean, sf, nperseg=int(4 * sf))
    k = np.argmin(np.abs(f - float(t["slice_freq"])))
    assert np.median(p_raw[:, k] / p_clean[:, k]) > 1e3
    # ... and only while the scanner runs: before the first volume the recording is (almost) clean.
    sl = float(t["slice_freq"])
    narrow = sosfiltfilt(butter(4, [sl - 2, sl + 2], btype="band", fs=sf, output="sos"), art, axis=-1)
    first = int(t["markers"][0])
    pre_rms = narrow[:, int(0.3 * sf) : first - int(0.3 * sf)].std()
    scan_rms = narrow[:, first + int(0.3 * sf) : first + int(1.5 * sf)].std()
    assert scan_rms > 30 * pre_rms
    # Ballistocardiogram: low-passed artifact averaged 300 ms after the truth's R-peaks vs random times.
    low = _lowpass(art, 15, sf)
    rp = (t["r_peaks"] * sf).astype(int) + int(0.3 * sf)
    rp = rp[(rp > 0) & (rp < low.shape[1])]
    rng = np.random.default_rng(0)
    rand = rng.integers(0, low.shape[1], len(rp))
    bcg_amp = np.abs(low[:, rp].mean(1)).max()
    assert bcg_amp > 20e-6 and bcg_amp > 4 * np.abs(low[:, rand].mean(1)).max()
    # The ECG channel peaks at the truth's R-peaks (clean ECG: the R wave is the maximum of each beat).
    ce = t["clean_ecg"]
    for r_s in t["r_peaks"][1:-1]:
        i = int(round(r_s * sf))
        assert np.argmax(ce[i - 50 : i + 50]) == pytest.approx(50, abs=1)
    # Blinks: frontal channels swing by ~150 uV 150 ms after each truth blink onset.
    names = raw.ch_names[:64]
    _, pos = montage_positions()
    frontal = np.argmax(pos[:, 1])  # the most anterior electrode
    bl = (t["blinks"] * sf).astype(int) + int(0.15 * sf)
    assert len(bl) >= 2
    assert np.mean(low[frontal, bl]) > 60e-6
    # Line noise at 50 Hz: a peak in the artifact spectrum before the scan starts (during the scan the
    # gradient's lines at multiples of 1/TR = 1.25 Hz fall on 50 Hz too).
    f2, pa = welch(art[:, : first - 10], sf, nperseg=int(sf))
    k50, k40 = np.argmin(np.abs(f2 - 50)), np.argmin(np.abs(f2 - 40))
    assert np.median(pa[:, k50] / pa[:, k40]) > 10
    assert names[0] == "E1"


def test_clean_eeg_has_evoked_responses_at_cuts(synth):
    r = _run(synth)
    t = np.load(r["truth_eeg"])
    sf = float(t["sfreq"])
    feats = pd.read_parquet(synth / "truth/stimuli/ep01_features.parquet")
    cuts = float(t["stim_onset_eeg"]) + feats.loc[feats["cut"] == 1, "time"].to_numpy()
    clean = _lowpass(t["clean"].astype(np.float64), 30, sf)
    _, pos = montage_positions()
    occ = np.argsort(pos[:, 1])[:6]  # most posterior electrodes
    ep = np.stack([clean[occ, int(c * sf) : int(c * sf) + int(0.4 * sf)].mean(0) for c in cuts])
    erp = ep.mean(0)
    n1 = erp[int(0.08 * sf) : int(0.12 * sf)].min()
    p2 = erp[int(0.18 * sf) : int(0.22 * sf)].max()
    assert n1 < -1e-6 and p2 > 2e-6


def test_clean_eeg_frame_rate_topography_follows_the_colour(synth):
    """The EEG's colour code: the response at the frame rate (12 Hz here) has one topography per colour."""
    from cinebrain.synth.stimuli import COLOURS

    r = _run(synth)
    t = np.load(r["truth_eeg"])
    sf, s0 = float(t["sfreq"]), float(t["stim_onset_eeg"])
    feats = pd.read_parquet(synth / "truth/stimuli/ep01_features.parquet")
    clean = t["clean"].astype(np.float64)
    topo, colour = [], []
    for _, sc in feats.groupby("scene"):  # per scene: the frame-rate Fourier coefficient of every channel
        a, b = int((s0 + sc["time"].iloc[0]) * sf), int((s0 + sc["time"].iloc[-1]) * sf)
        tt = np.arange(a, b) / sf - s0
        topo.append(np.abs(clean[:, a:b] @ np.exp(-2j * np.pi * SMALL.fps * tt)) / (b - a))
        colour.append([c for c in COLOURS if sc[f"colour_{c}"].iloc[0] == 1][0])
    topo = np.array(topo) / np.linalg.norm(topo, axis=1, keepdims=True)
    colour = np.array(colour)
    # nearest-neighbour across scenes: a scene's topography is closest to one of a scene of the same colour
    sim = topo @ topo.T
    np.fill_diagonal(sim, -np.inf)
    has_pair = np.array([(colour == c).sum() > 1 for c in colour])
    assert has_pair.sum() >= 3
    assert (colour[sim.argmax(1)] == colour)[has_pair].mean() > 0.8


def test_stimuli_and_captions(synth):
    from cinebrain.stimuli import media_duration

    bids = synth / "bids"
    for ep in ["ep01", "ep02", "ep03"]:
        assert media_duration(bids / f"stimuli/{ep}.mp4") == pytest.approx(SMALL.episode_seconds, abs=0.1)
        cap = pd.read_csv(bids / f"stimuli/{ep}_captions.tsv", sep="\t")
        feats = pd.read_parquet(synth / f"truth/stimuli/{ep}_features.parquet")
        assert len(cap) == feats["scene"].nunique() == feats["cut"].sum() + 1
        assert cap["caption"].str.contains(" moves ").all()
    import av

    with av.open(str(bids / "stimuli/ep01.mp4")) as c:
        assert c.streams.video[0].height == SMALL.height and c.streams.audio
    ev = pd.read_csv(bids / "sub-01/func/sub-01_task-movie_run-1_events.tsv", sep="\t")
    assert ev.loc[0, "onset"] == pytest.approx(SMALL.n_dummy * SMALL.tr) and ev.loc[0, "stim_file"] == "ep01.mp4"


def _digest(root: Path) -> dict[str, str]:
    """Every file's hash, except the H.264 films (see test_deterministic_for_a_seed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".mp4"}  # fmt: skip


def test_deterministic_for_a_seed(tmp_path):
    """The same seed writes the same dataset. The films are compared by their decoded frames: PyAV 18.1's
    libx264 does not always write the same bitstream for the same frames (README, "Known problems"),
    so their bytes may differ while the pictures agree to within the codec's rounding."""
    from cinebrain.stimuli import read_video

    cfg = SynthConfig(subjects=1, episodes=2, episode_seconds=8, eeg_sfreq=250, seed=3, height=32, width=48, fps=8)
    generate(tmp_path / "a", cfg, progress=False, roi_dir=ROI_DIR)
    generate(tmp_path / "b", cfg, progress=False, roi_dir=ROI_DIR)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    films = sorted((tmp_path / "a").rglob("*.mp4"))
    assert len(films) == 2
    for film in films:
        a, b = read_video(film), read_video(tmp_path / "b" / film.relative_to(tmp_path / "a"))
        assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() < 1.0, film
    generate(tmp_path / "c", SynthConfig(**{**cfg.__dict__, "seed": 4}), progress=False, roi_dir=ROI_DIR)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert not (tmp_path / "a.tmp").exists()
