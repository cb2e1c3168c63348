"""ICA for residual cardiac and ocular artifacts, with a components table the user can edit.

As in mne-bids-pipeline: the ICA is fitted (picard) on a 1-Hz high-passed copy of the EEG, decimated to
about ``decim_sfreq`` (50 Hz by default: 54,000 samples for an 18-minute run, hundreds per unmixing weight); components whose time courses are phase-locked to the ECG (:meth:`ICA.find_bads_ecg`,
CTPS) or correlated with frontal channels used as EOG proxies (:meth:`ICA.find_bads_eog`) are marked
``bad`` in ``..._desc-components.tsv`` (columns ``component, type, description, status,
status_description, ecg_score, eog_score``).  Rule ``eeg_clean`` removes exactly the ``bad`` rows of that
file, so editing ``status`` there (and re-running Snakemake, which sees the newer file) overrides the
automatic choice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TSV_COLUMNS = ["component", "type", "description", "status", "status_description", "ecg_score", "eog_score"]


def eog_proxies(raw, n: int = 2) -> list[str]:
    """The ``n`` most anterior EEG channels (largest y in head coordinates): where blinks are largest."""
    import mne

    picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
    pos = np.array([raw.info["chs"][i]["loc"][:3] for i in picks])
    if not np.isfinite(pos).all() or np.allclose(pos, 0):
        raise ValueError("no electrode positions to choose frontal EOG proxies; fix: set eeg.ica.eog_channels")
    return [raw.ch_names[picks[i]] for i in np.argsort(pos[:, 1])[::-1][:n]]


def decimated_copy(raw, sfreq: float, ecg_channel: str | None):
    """EEG (+ ECG) at about ``sfreq``, by keeping every k-th sample.

    The EEG is already low-passed (30 Hz in CineBrain), so decimating it needs no further filter; the
    broadband ECG is low-passed first (0.4 x the new rate) so that its QRS complexes do not alias.
    """
    import mne
    from scipy.signal import butter, sosfiltfilt

    picks = mne.pick_types(raw.info, eeg=True, ecg=bool(ecg_channel), exclude=[])
    k = max(1, int(round(raw.info["sfreq"] / sfreq)))
    data = raw.get_data(picks=picks)
    if ecg_channel and k > 1:
        i = [raw.ch_names[p] for p in picks].index(ecg_channel)
        sos = butter(4, 0.4 * raw.info["sfreq"] / k, fs=raw.info["sfreq"], output="sos")
        data[i] = sosfiltfilt(sos, data[i])
    info = mne.pick_info(raw.info, picks)
    # MNE decimates epochs but not Raw, and Raw.resample would filter again: keep the channel info
    # (positions for the EOG proxies and topographies) and state the new rate
    with info._unlock():
        info["sfreq"] = raw.info["sfreq"] / k
        info["lowpass"] = min(info["lowpass"], info["sfreq"] / 2)
    return mne.io.RawArray(data[:, ::k].copy(), info, verbose="error")


def fit_ica(raw, settings, ecg_channel: str | None, n_interpolated: int = 0):
    """Fit picard ICA on a high-passed, decimated copy; return (ica, components table).

    ``n_interpolated`` channels were interpolated from the others: the data's rank is lower by as many,
    so the number of components is capped accordingly.
    """
    import mne

    cfg = settings.ica
    fit_raw = decimated_copy(raw, float(cfg.decim_sfreq), ecg_channel)
    fit_raw.filter(cfg.l_freq, None, picks="eeg", verbose="error")
    n_comp = cfg.n_components
    n_eeg = len(mne.pick_types(fit_raw.info, eeg=True, exclude="bads"))
    ica = mne.preprocessing.ICA(
        n_components=min(int(n_comp), n_eeg - n_interpolated) if isinstance(n_comp, int) else n_comp,
        # Picard-O with extended score functions: converges like extended Infomax to the same solutions,
        # in a third of the iterations of the non-orthogonal version (Ablin et al. 2018)
        method="picard", fit_params={"ortho": True, "extended": True, "tol": 1e-4},
        max_iter=int(cfg.max_iter), rng=cfg.random_state,
    )  # fmt: skip
    ica.fit(fit_raw, picks="eeg", verbose="error")
    n = ica.n_components_
    ecg_idx, ecg_scores = [], np.zeros(n)
    if ecg_channel:
        ecg_idx, ecg_scores = ica.find_bads_ecg(fit_raw, ch_name=ecg_channel, method="ctps",
                                                threshold=cfg.ecg_threshold, verbose="error")  # fmt: skip
    eog_names = list(cfg.eog_channels or ()) or eog_proxies(fit_raw)
    eog_idx, eog_scores = ica.find_bads_eog(fit_raw, ch_name=eog_names, threshold=float(cfg.eog_threshold),
                                            verbose="error")  # fmt: skip
    eog_scores = np.max(np.abs(np.atleast_2d(eog_scores)), axis=0)
    rows = []
    for i in range(n):
        why = []
        if i in ecg_idx:
            why.append(f"ecg (CTPS {np.abs(ecg_scores[i]):.2f})")
        if i in eog_idx:
            why.append(f"eog proxies {'/'.join(eog_names)} (|r| {eog_scores[i]:.2f})")
        rows.append({
            "component": i, "type": "ica", "description": "ICA component", "status": "bad" if why else "good",
            "status_description": ("auto: " + "; ".join(why)) if why else "auto",
            "ecg_score": round(float(np.abs(ecg_scores[i])), 4), "eog_score": round(float(eog_scores[i]), 4),
        })  # fmt: skip
    return ica, pd.DataFrame(rows, columns=TSV_COLUMNS)


def read_components(path, n_components: int) -> list[int]:
    """The ``bad`` components of a (possibly edited) components TSV; clear errors for a broken edit."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t")
    missing = {"component", "status"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: columns {sorted(missing)} missing; fix: restore the header "
                         f"({', '.join(TSV_COLUMNS)})")  # fmt: skip
    status = table["status"].astype(str).str.strip().str.lower()
    wrong = sorted(set(status) - {"good", "bad"})
    if wrong:
        raise ValueError(f"{path}: status must be 'good' or 'bad', found {wrong}; fix: correct the edited rows")
    comps = table["component"].astype(int)
    out_of_range = comps[(comps < 0) | (comps >= n_components)].tolist()
    if out_of_range:
        raise ValueError(f"{path}: component(s) {out_of_range} do not exist (the ICA has {n_components}); fix: "
                         "correct the component column")  # fmt: skip
    return sorted(comps[status == "bad"].tolist())
