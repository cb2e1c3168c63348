"""Write the synthetic dataset: raw BIDS, fMRIPrep-style derivatives, stimuli and the ground truth.

Layout of ``OUT``::

    bids/                          raw BIDS (validates with zero errors)
      dataset_description.json, README, participants.tsv/json, task-movie_{bold,eeg}.json
      sub-XX/anat/sub-XX_T1w.nii.gz
      sub-XX/func/sub-XX_task-movie_run-R_{bold.nii.gz,events.tsv}
      sub-XX/eeg/sub-XX_task-movie_run-R_{eeg.vhdr,eeg.vmrk,eeg.eeg,eeg.json,channels.tsv,events.tsv}
      sub-XX/eeg/sub-XX_space-CapTrak_{electrodes.tsv,coordsystem.json}
      stimuli/epNN.mp4, stimuli/epNN_captions.tsv
      derivatives/fmriprep/sub-XX/func/
        sub-XX_task-movie_run-R_space-fsLR_den-91k_bold.dtseries.nii (+ .json)
        sub-XX_task-movie_run-R_desc-confounds_timeseries.tsv (+ .json)
    truth/                         what generated everything (outside the BIDS tree)
      synth.json                   parameters, episode assignment, run list
      stimuli/epNN_features.parquet      per-frame stimulus features
      sub-XX/sub-XX_fmri-model.npz       per-grayordinate parcel, gain, baseline; region weights
      sub-XX/..._run-R_fmri.npz          noise-free region signals and design matrix
      sub-XX/..._run-R_eeg.npz           clean EEG/ECG, volume onsets, R-peaks, blinks, topographies

Episode assignment mirrors CineBrain: every subject watches the shared episodes (the last ones, which
the default split puts in the test set) and some episodes are seen by one subject only.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import eeg as eeg_model
from . import fmri as fmri_model
from . import stimuli as stim
from .settings import SynthConfig

TASK = "movie"
BIDS_VERSION = "1.10.0"


def episode_names(n: int) -> list[str]:
    return [f"ep{i + 1:02d}" for i in range(n)]


def assign_episodes(n_subjects: int, n_episodes: int) -> dict[str, list[str]]:
    """Subject label -> episodes watched, in viewing order.

    The first ``min(n_subjects, n_episodes - 1)`` episodes are private (one subject each, round robin);
    the rest are shared by all subjects.
    """
    eps = episode_names(n_episodes)
    n_private = min(n_subjects, n_episodes - 1)
    private, shared = eps[:n_private], eps[n_private:]
    out = {}
    for s in range(n_subjects):
        mine = [e for i, e in enumerate(private) if i % n_subjects == s]
        out[f"{s + 1:02d}"] = mine + shared
    return out


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _tsv(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")


def _n_volumes(cfg: SynthConfig) -> int:
    # The run ends tail_seconds after the film (rounded up to a whole volume), as scans do, so that
    # the haemodynamic response to the film's last clip is recorded.
    return int(math.ceil((cfg.n_dummy * cfg.tr + cfg.episode_seconds + cfg.tail_seconds) / cfg.tr - 1e-9))


def _write_top_level(bids: Path, cfg: SynthConfig, subjects: list[str], rng) -> None:
    _json(bids / "dataset_description.json", {
        "Name": "cinebrain synthetic EEG-fMRI film dataset",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "License": "CC0",
        "Authors": ["cinebrain developers"],
        "GeneratedBy": [{"Name": "cinebrain synth", "Description": f"seed {cfg.seed}"}],
    })  # fmt: skip
    (bids / "README").write_text(
        "Synthetic simultaneous EEG-fMRI recordings of subjects watching procedurally generated films,\n"
        "written by `cinebrain synth` to imitate the CineBrain dataset (TR 0.8 s, 64-channel EEG + ECG in\n"
        "BrainVision format with one R128 marker per volume). The films are in stimuli/, with one\n"
        "ground-truth caption per scene. derivatives/fmriprep holds what fMRIPrep --cifti-output 91k\n"
        "would write. The ground truth that generated the data is kept outside this tree.\n"
    )
    _tsv(bids / "participants.tsv", pd.DataFrame({
        "participant_id": [f"sub-{s}" for s in subjects],
        "age": rng.integers(20, 35, len(subjects)),
        "sex": rng.choice(["M", "F"], len(subjects)),
        "handedness": ["right"] * len(subjects),
    }))  # fmt: skip
    _json(bids / "participants.json", {
        "age": {"Description": "age of the participant", "Units": "year"},
        "sex": {"Description": "sex of the participant", "Levels": {"M": "male", "F": "female"}},
        "handedness": {"Description": "handedness of the participant"},
    })  # fmt: skip
    _json(bids / f"task-{TASK}_bold.json", {
        "TaskName": TASK,
        "TaskDescription": "Passive viewing of film episodes with sound.",
        "RepetitionTime": cfg.tr,
        "Manufacturer": "Siemens",
        "MagneticFieldStrength": 3,
    })  # fmt: skip
    _json(bids / f"task-{TASK}_eeg.json", {
        "TaskName": TASK,
        "TaskDescription": "Passive viewing of film episodes with sound, inside the MRI scanner.",
        "EEGReference": "Cz",
        "SamplingFrequency": cfg.eeg_sfreq,
        "PowerLineFrequency": cfg.line_freq,
        "SoftwareFilters": "n/a",
        "CapManufacturer": "EGI",
        "CapManufacturersModelName": "GSN-HydroCel-64",
        "EEGChannelCount": 64,
        "ECGChannelCount": 1,
        "RecordingType": "continuous",
    })  # fmt: skip
    _json(bids / "events.json", {
        "trial_type": {"Description": "what started", "Levels": {"movie": "film episode onset"}},
        "stim_file": {"Description": "film file, relative to stimuli/"},
        "episode": {"Description": "stimulus episode identifier"},
        "sample": {"Description": "EEG sample of the onset (EEG events only)"},
    })  # fmt: skip
    (bids / ".bidsignore").write_text("derivatives/\n")


def _write_eeg_sidecars(eeg_dir: Path, base: str, sim: dict, cfg: SynthConfig) -> None:
    names = sim["ch_names"]
    _tsv(eeg_dir / f"{base}_channels.tsv", pd.DataFrame({
        "name": names,
        "type": ["EEG"] * 64 + ["ECG"],
        "units": ["µV"] * len(names),
        "low_cutoff": ["n/a"] * len(names),
        "high_cutoff": ["n/a"] * len(names),
        "status": ["good"] * len(names),
    }))  # fmt: skip
    _json(eeg_dir / f"{base}_eeg.json", {
        "TaskName": TASK,
        "SamplingFrequency": cfg.eeg_sfreq,
        "RecordingDuration": round(sim["data"].shape[1] / cfg.eeg_sfreq, 6),
    })  # fmt: skip
    onset = sim["stim_onset_eeg"]
    _tsv(eeg_dir / f"{base}_events.tsv", pd.DataFrame({
        "onset": [onset], "duration": [cfg.episode_seconds], "trial_type": ["movie"],
        "sample": [int(round(onset * cfg.eeg_sfreq))],
    }))  # fmt: skip


def _write_electrodes(eeg_dir: Path, subject: str) -> None:
    names, pos = eeg_model.montage_positions()
    _tsv(eeg_dir / f"sub-{subject}_space-CapTrak_electrodes.tsv",
         pd.DataFrame({"name": names, "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2]}))  # fmt: skip
    _json(eeg_dir / f"sub-{subject}_space-CapTrak_coordsystem.json", {
        "EEGCoordinateSystem": "CapTrak",
        "EEGCoordinateUnits": "m",
        "EEGCoordinateSystemDescription": "MNE head frame (RAS from nasion and preauriculars); template "
                                          "GSN-HydroCel-64 positions, not digitised.",
    })  # fmt: skip


def generate(out, cfg: SynthConfig | None = None, progress: bool = True, *, roi_dir) -> dict:
    """Write the synthetic dataset under ``out`` (see module docstring). Deterministic for ``cfg.seed``.
    ``roi_dir``: the ROI sets (the workflow's resources/rois/) whose visual and auditory areas carry the
    simulated signal.

    ``out`` is written atomically: everything goes to ``out.tmp`` first and is renamed at the end.
    Returns the run table (also in ``truth/synth.json``).  ``cfg.shape`` cc2017 writes the cc2017 release's
    layout instead (:func:`cinebrain.synth.cc2017.generate_cc2017`), ``betas`` a per-clip betas dataset
    (:func:`cinebrain.synth.betas.generate_betas`).
    """
    from ..fmri import grayordinates as go

    cfg = cfg or SynthConfig()
    if cfg.shape == "cc2017":  # the fMRI-only release layout with repeats
        from .cc2017 import generate_cc2017

        return generate_cc2017(out, cfg, progress, roi_dir=roi_dir)
    if cfg.shape == "betas":  # a beta vector per video (BOLD Moments, Human Actions)
        from .betas import generate_betas

        return generate_betas(out, cfg, progress, roi_dir=roi_dir)
    areas = fmri_model.brain_areas(roi_dir)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    bids, truth = tmp / "bids", tmp / "truth"
    (bids / "stimuli").mkdir(parents=True)
    (truth / "stimuli").mkdir(parents=True)

    episodes = episode_names(cfg.episodes)
    assignment = assign_episodes(cfg.subjects, cfg.episodes)
    n_vol = _n_volumes(cfg)
    onset = cfg.n_dummy * cfg.tr

    n_frames_total = int(round(cfg.episode_seconds * cfg.fps)) * cfg.episodes
    features = {}
    with tqdm(total=n_frames_total, desc="synth: films", unit="frame", disable=not progress) as bar:
        for e, ep in enumerate(episodes):
            rng = np.random.default_rng([cfg.seed, 1, e])
            scenes = stim.make_scenes(cfg.episode_seconds, rng)
            feats = stim.write_episode(bids / "stimuli" / f"{ep}.mp4", scenes, cfg.episode_seconds, cfg.fps,
                                       cfg.height, cfg.width, cfg.audio_sfreq, rng, progress=bar)  # fmt: skip
            feats.to_parquet(truth / "stimuli" / f"{ep}_features.parquet")
            _tsv(bids / "stimuli" / f"{ep}_captions.tsv", stim.captions_table(scenes))
            features[ep] = feats

    parcels, labels = go.mmp_parcels()
    runs = []
    n_runs = sum(len(v) for v in assignment.values())
    top_rng = np.random.default_rng([cfg.seed, 0])
    _write_top_level(bids, cfg, list(assignment), top_rng)
    fmriprep = bids / "derivatives" / "fmriprep"
    _json(fmriprep / "dataset_description.json", {
        "Name": "fMRIPrep - fMRI PREProcessing workflow (synthetic stand-in)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "23.2.0",
                         "Description": "written by cinebrain synth in fMRIPrep's --cifti-output 91k layout"}],
    })  # fmt: skip

    with tqdm(total=n_runs, desc="synth: runs", unit="run", disable=not progress) as bar:
        for s, (sub, eps) in enumerate(assignment.items()):
            rng = np.random.default_rng([cfg.seed, 2, s])
            model = fmri_model.subject_model(parcels, labels, areas, rng)
            weights, gains, baseline, motion_coef = (model[k] for k in ("weights", "gains", "baseline", "motion_coef"))
            sub_truth = truth / f"sub-{sub}"
            sub_truth.mkdir(parents=True)
            fmri_model.save_subject_model(sub_truth / f"sub-{sub}_fmri-model.npz", parcels, model)
            (bids / f"sub-{sub}" / "anat").mkdir(parents=True)
            fmri_model.t1w_image(rng).to_filename(bids / f"sub-{sub}" / "anat" / f"sub-{sub}_T1w.nii.gz")
            for r, ep in enumerate(eps, start=1):
                base = f"sub-{sub}_task-{TASK}_run-{r}"
                run_rng = np.random.default_rng([cfg.seed, 3, s, r])
                sim = fmri_model.simulate_run(features[ep], cfg.fps, onset, n_vol, cfg.tr, parcels, weights,
                                              gains, baseline, motion_coef, run_rng)  # fmt: skip
                func = bids / f"sub-{sub}" / "func"
                func.mkdir(parents=True, exist_ok=True)
                gs_pct = (sim["confounds"]["global_signal"].to_numpy() / baseline.mean() - 1) * 100
                fmri_model.raw_bold_image(gs_pct, cfg.tr, run_rng).to_filename(func / f"{base}_bold.nii.gz")
                _tsv(func / f"{base}_events.tsv", pd.DataFrame({
                    "onset": [onset], "duration": [cfg.episode_seconds], "trial_type": ["movie"],
                    "stim_file": [f"{ep}.mp4"], "episode": [ep],
                }))  # fmt: skip
                deriv = fmriprep / f"sub-{sub}" / "func"
                deriv.mkdir(parents=True, exist_ok=True)
                go.write_dtseries(deriv / f"{base}_space-fsLR_den-91k_bold.dtseries.nii", sim["bold"], cfg.tr)
                _json(deriv / f"{base}_space-fsLR_den-91k_bold.dtseries.json", {
                    "RepetitionTime": cfg.tr, "grayordinates": "91k", "space": "HCP grayordinates",
                    "surface": "fsLR", "surface_density": "32k", "volume": "MNI152NLin6Asym",
                })  # fmt: skip
                _tsv(deriv / f"{base}_desc-confounds_timeseries.tsv", sim["confounds"])
                _json(deriv / f"{base}_desc-confounds_timeseries.json", fmri_model.confounds_metadata(sim["confounds"]))
                np.savez_compressed(sub_truth / f"{base}_fmri.npz", region_signal=sim["region_signal"],
                                    design=sim["design"])  # fmt: skip

                params = eeg_model.EEGScanParams(tr=cfg.tr, line_freq=cfg.line_freq)
                esim = eeg_model.simulate_run(features[ep], cfg.fps, onset, n_vol, cfg.eeg_sfreq, run_rng, params)
                eeg_dir = bids / f"sub-{sub}" / "eeg"
                eeg_dir.mkdir(parents=True, exist_ok=True)
                eeg_model.write_brainvision(esim, eeg_dir, f"{base}_eeg")
                _write_eeg_sidecars(eeg_dir, base, esim, cfg)
                np.savez(sub_truth / f"{base}_eeg.npz", clean=esim["clean"], clean_ecg=esim["clean_ecg"],
                         vol_onsets=esim["vol_onsets"], markers=esim["markers"], r_peaks=esim["r_peaks"],
                         blinks=esim["blinks"], stim_onset_eeg=esim["stim_onset_eeg"],
                         gradient_topography=esim["gradient_topography"],
                         bcg_topography=esim["bcg_topography"], slice_freq=esim["slice_freq"],
                         sfreq=esim["sfreq"])  # fmt: skip
                runs.append({"subject": sub, "run": r, "episode": ep, "n_volumes": n_vol, "onset": onset})
                bar.update(1)
            _write_electrodes(bids / f"sub-{sub}" / "eeg", sub)

    manifest = {"config": asdict(cfg), "task": TASK, "assignment": assignment, "runs": runs,
                "n_volumes": n_vol, "stimulus_onset": onset}  # fmt: skip
    _json(truth / "synth.json", manifest)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return manifest
