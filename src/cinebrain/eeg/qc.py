"""QC of the EEG chain: power spectra and harmonic power (scanner artifacts), and PREP's bad-channel criteria."""

from __future__ import annotations

import numpy as np


def psd(data: np.ndarray, sfreq: float, fmax: float | None = None, max_seconds: float = 120.0, picks=None):
    """Welch PSD (V^2/Hz) per channel (rows ``picks``), 0.24-Hz resolution at 1 kHz, on at most ``max_seconds``
    from the middle of the recording (QC only: two minutes pin the artifact peaks down, and keep memory and
    time small; the excerpt is cut before the rows are picked, so the full data is never copied)."""
    from scipy.signal import welch

    span = int(max_seconds * sfreq)
    if data.shape[1] > span:
        mid = data.shape[1] // 2
        data = data[:, mid - span // 2 : mid + span // 2]
    if picks is not None:
        data = data[picks]
    n_fft = int(2 ** np.ceil(np.log2(4 * sfreq)))
    f, p = welch(data, fs=sfreq, nperseg=min(n_fft, data.shape[1]), axis=-1)
    if fmax is not None:
        keep = f <= fmax
        f, p = f[keep], p[..., keep]
    return f, p


def harmonic_power(freqs: np.ndarray, psd: np.ndarray, f0: float, n_harm: int = 5, width: float = 0.3) -> float:
    """Median over channels of the mean PSD (dB re 1 uV^2/Hz) at ``f0`` and its harmonics (+-``width`` Hz)."""
    sel = np.zeros(len(freqs), bool)
    for h in range(1, n_harm + 1):
        sel |= np.abs(freqs - h * f0) <= width
    if not sel.any():
        return float("nan")
    return float(10 * np.log10(np.median(psd[:, sel].mean(1)) / 1e-12))


def detect_bad_channels(data: np.ndarray, sfreq: float, names: list[str], *, deviation_z: float = 5.0,
                        correlation: float = 0.4, window_s: float = 1.0) -> dict[str, str]:  # fmt: skip
    """PREP's flat, deviation and correlation criteria; returns {channel: reason}."""
    bads = {}
    sd = data.std(1)
    med = np.median(sd)
    for i in np.flatnonzero(sd < 1e-3 * med + 1e-15):
        bads[names[i]] = "flat"
    amp = 0.7413 * (np.percentile(data, 75, axis=1) - np.percentile(data, 25, axis=1))  # robust SD (IQR)
    mad = 1.4826 * np.median(np.abs(amp - np.median(amp)))
    z = (amp - np.median(amp)) / (mad if mad > 0 else 1.0)
    for i in np.flatnonzero(np.abs(z) > deviation_z):
        bads.setdefault(names[i], f"deviation (robust z {z[i]:.1f})")
    w = int(window_s * sfreq)
    n_win = data.shape[1] // w
    if n_win >= 1:
        x = data[:, : n_win * w].reshape(len(names), n_win, w)
        x = x - x.mean(-1, keepdims=True)
        norm = np.linalg.norm(x, axis=-1)
        norm[norm == 0] = np.inf
        xs = x / norm[..., None]
        corr = np.abs(np.einsum("iwt,jwt->wij", xs, xs))  # (windows, ch, ch)
        idx = np.arange(len(names))
        corr[:, idx, idx] = 0
        max_corr = np.median(corr.max(-1), axis=0)
        for i in np.flatnonzero(max_corr < correlation):
            bads.setdefault(names[i], f"correlation (median max r {max_corr[i]:.2f})")
    return bads
