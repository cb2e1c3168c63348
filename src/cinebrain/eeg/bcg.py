"""Ballistocardiogram (BCG) removal: QRS detection on the ECG, then template subtraction locked to the R-peaks.

R-peaks come from MNE's QRS detector (:func:`mne.preprocessing.find_ecg_events`, band-pass 5-35 Hz and an
adaptive threshold), refined to the ECG's own maximum within +-``refine_ms`` so that the beat times are not
shifted by the detector's filter.  The pulse artifact of beat ``k`` is then estimated from the beats around
it (FMRIB's ``fmrib_pas``, Niazy et al. 2005):

``average``
    the mean of the ``n_template`` neighbouring beats (Allen et al. 1998);
``obs``
    an optimal basis set: per channel, the mean beat and the first ``n_obs`` principal components of all
    beats, fitted to each beat by least squares.

MNE offers the QRS detector, and since 1.10 PCA-OBS (:func:`mne.preprocessing.apply_pca_obs`), offered here
as ``eeg.bcg.method: mne_pca_obs`` (:func:`remove_bcg_mne`).  The sliding average stays the default: on a
CineBrain-size synthetic run (benchmarks/bench_eeg_methods.py, ``make bench``) it leaves less pulse artifact
than MNE's PCA-OBS, whose basis is fitted on the whole run and cannot follow slow changes of the pulse
(18-min run, EEG-to-residual power: +4.3 dB against -0.9 dB, in 1.4 s against 380 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ECGError(ValueError):
    """No usable ECG for BCG removal."""


def detect_r_peaks(ecg: np.ndarray, sfreq: float, *, refine_ms: float = 40.0) -> np.ndarray:
    """R-peak sample indices of an ECG trace (V), via MNE's QRS detector, refined to the local maximum."""
    import mne
    from scipy.signal import butter, sosfiltfilt

    # the detector works on 5-35 Hz: run it at ~250 Hz (4x faster at 1 kHz), then refine at the full rate
    k = max(1, int(sfreq // 250))
    low = sosfiltfilt(butter(4, 0.4 * sfreq / k, fs=sfreq, output="sos"), ecg) if k > 1 else ecg
    info = mne.create_info(["ECG"], sfreq / k, ["ecg"])
    raw = mne.io.RawArray(low[None, ::k].astype(np.float64), info, verbose="error")
    events, _, _ = mne.preprocessing.find_ecg_events(raw, ch_name="ECG", verbose="error")
    peaks = (events[:, 0] - raw.first_samp) * k
    if len(peaks) == 0:
        return peaks.astype(np.int64)
    # the detector reports the filtered signal's peak; take the raw R-wave's extremum nearby (its polarity
    # is the sign of the largest excursion at the detected beats)
    w = int(round(refine_ms * sfreq / 1000))
    idx = np.clip(peaks[:, None] + np.arange(-w, w + 1)[None, :], 0, len(ecg) - 1)
    seg = ecg[idx] - np.median(ecg[idx], axis=1, keepdims=True)
    sign = 1.0 if np.median(seg.max(1)) >= np.median(-seg.min(1)) else -1.0
    refined = idx[np.arange(len(peaks)), np.argmax(sign * seg, axis=1)]
    return np.unique(refined)


@dataclass
class BCGResult:
    r_peaks: np.ndarray
    window: tuple[int, int]  # samples before and after each R-peak that an epoch spans
    average_before: np.ndarray  # (C, window) R-peak-locked average before subtraction
    average_after: np.ndarray


def remove_bcg(
    data: np.ndarray,
    r_peaks: np.ndarray,
    sfreq: float,
    *,
    method: str = "average",
    n_template: int = 21,
    n_obs: int = 3,
    channels=None,
    n_jobs: int = 1,
) -> BCGResult:
    """Subtract the pulse artifact from ``data`` (C, N) in place.

    Epochs span ``[R - 0.3 RR, R + 0.7 RR]`` with RR the median beat interval; where consecutive epochs
    overlap, each sample is corrected once: epoch k ends where epoch k + 1 starts.  ``channels``: the rows
    to correct (default all).
    """
    if method not in ("average", "obs"):
        raise ValueError(f"eeg.bcg.method is '{method}'; fix: use 'average', 'obs' or 'mne_pca_obs' (remove_bcg_mne)")
    n_ch, n = data.shape
    rr = float(np.median(np.diff(r_peaks))) if len(r_peaks) > 1 else sfreq
    pre, post = int(round(0.3 * rr)), int(round(0.7 * rr))
    length = pre + post
    keep = (r_peaks - pre >= 0) & (r_peaks + post <= n)
    peaks = r_peaks[keep]
    k_all = len(peaks)
    if k_all < 3:
        raise ECGError(f"only {k_all} heartbeats found; BCG removal needs a beating ECG")
    idx = (peaks - pre)[:, None] + np.arange(length)[None, :]  # (K, L)
    # the span each epoch corrects: up to the start of the next beat's epoch
    starts = peaks - pre
    ends = np.minimum(starts + length, np.r_[starts[1:], n])
    counts = ends - starts
    kk = np.repeat(np.arange(k_all), counts)  # beat of every corrected sample
    jj = np.arange(kk.size) - np.repeat(np.cumsum(counts) - counts, counts)  # its offset in the epoch
    pos = starts[kk] + jj
    rows = np.arange(n_ch) if channels is None else np.asarray(channels)
    before = np.zeros((len(rows), length))
    after = np.zeros((len(rows), length))
    chunk = 8

    def correct(i0: int) -> None:
        sel = rows[i0 : i0 + chunk]
        ep = data[sel][:, idx]  # (c, K, L)
        before[i0 : i0 + len(sel)] = ep.mean(1)
        if method == "average":
            from .gradient import sliding_template

            template = sliding_template(ep.transpose(1, 0, 2), n_template | 1).transpose(1, 0, 2)
        else:
            template = np.empty_like(ep)
            for c in range(len(sel)):
                mean = ep[c].mean(0)
                _, _, vt = np.linalg.svd(ep[c] - mean, full_matrices=False)
                basis = np.vstack([mean[None, :], vt[:n_obs]])  # (p + 1, L)
                coef, *_ = np.linalg.lstsq(basis.T, ep[c].T, rcond=None)
                template[c] = (basis.T @ coef).T
        corrected = data[sel]
        corrected[:, pos] -= template[:, kk, jj]
        data[sel] = corrected
        after[i0 : i0 + len(sel)] = corrected[:, idx].mean(1)

    # channel chunks are independent: n_jobs threads (numpy and BLAS release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        list(pool.map(correct, range(0, len(rows), chunk)))
    return BCGResult(r_peaks, (pre, post), before, after)


def beat_window(r_peaks: np.ndarray, sfreq: float) -> tuple[int, int]:
    """Samples before and after an R-peak that its epoch spans: 0.3 and 0.7 of the median beat interval."""
    rr = float(np.median(np.diff(r_peaks))) if len(r_peaks) > 1 else sfreq
    return int(round(0.3 * rr)), int(round(0.7 * rr))


def beat_average(data: np.ndarray, r_peaks: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """(C, pre + post) R-peak-locked average of ``data`` (QC), over the beats whose epoch fits the data."""
    pre, post = window
    peaks = r_peaks[(r_peaks - pre >= 0) & (r_peaks + post <= data.shape[1])]
    return data[:, (peaks - pre)[:, None] + np.arange(pre + post)[None, :]].mean(1)


def remove_bcg_mne(raw, r_peaks: np.ndarray, *, n_obs: int = 3, picks=None, n_jobs: int = 1) -> BCGResult:
    """MNE's PCA-OBS (:func:`mne.preprocessing.apply_pca_obs`, Niazy et al. 2005) on ``picks`` of ``raw``, in place."""
    import mne

    sf = raw.info["sfreq"]
    rows = np.arange(len(raw.ch_names)) if picks is None else np.asarray(picks)
    if len(r_peaks) < 3:
        raise ECGError(f"only {len(r_peaks)} heartbeats found; BCG removal needs a beating ECG")
    window = beat_window(r_peaks, sf)
    before = beat_average(raw._data[rows], r_peaks, window)  # noqa: SLF001
    mne.preprocessing.apply_pca_obs(raw, picks=[raw.ch_names[i] for i in rows], qrs_times=r_peaks / sf,
                                    n_components=n_obs, n_jobs=n_jobs, copy=False, verbose="error")  # fmt: skip
    after = beat_average(raw._data[rows], r_peaks, window)  # noqa: SLF001
    return BCGResult(r_peaks, window, before, after)
