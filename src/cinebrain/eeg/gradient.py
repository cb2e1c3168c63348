"""MR-gradient artifact removal: average artifact subtraction (AAS) with sub-sample alignment, and an
optional optimal basis set (OBS) for the residuals.

The scanner repeats the same gradient waveform every volume, so the artifact of volume ``k`` is estimated
by averaging the ``n_template`` volumes around it (Allen et al. 2000; FMRIB's ``fmrib_fastr``).  The
scanner and amplifier clocks are not locked: volumes start at fractional EEG samples and the markers are
rounded.  We fit the exact onsets as a straight line through the marker samples (a constant clock
ratio: sub-sample precision from hundreds of markers), bring every epoch onto a common grid with a
windowed-sinc fractional delay, average there, and shift the template back to each epoch's own offset
before subtracting it.  ``fmrib_fastr`` instead upsamples the whole recording 10x; a fractional-delay
filter per epoch aligns to a continuous offset at a fraction of the memory and time, which is what lets
an 18-minute, 65-channel run fit the 30-s budget.

MNE 1.13 ships AAS as :func:`mne.preprocessing.remove_fmri_gradient_artifact`; it is offered here as
``eeg.gradient.method: mne_aas`` (:func:`remove_gradient_mne`), and the project's method stays the default
for measured reasons (``make bench``, benchmarks/bench_eeg_methods.py, on a CineBrain-size synthetic run):
MNE aligns epochs to whole samples, so a template built from volumes whose onsets fall at different
fractions of a sample does not match any of them; it leaves the first and last ``window`` volumes
uncorrected, detrends each epoch, and requires volumes evenly spaced to ``tr_tol`` samples, which a
scanner/amplifier clock drift breaks over a long run.  Measured on the 18-min run (EEG-to-residual power over
the interior volumes): -2.5 dB here against MNE's -27.2 dB with the clocks 25 ppm apart, -2.1 against -3.2 dB
with them locked, -2.3 against -29.4 dB over the whole scan, in 1.4 s against 41 s.

OBS (Niazy et al. 2005): the residuals left by AAS, high-passed above ``obs_hp`` Hz so that the EEG
itself stays out, are decomposed per channel by PCA over epochs; the first ``n_obs`` components are fitted
to each epoch's residual and subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: taps of the fractional-delay filter (Kaiser-windowed sinc, beta 8): error ~1e-4 of the amplitude to 0.6 fs/2
N_TAPS = 16


def fit_onsets(markers: np.ndarray) -> tuple[np.ndarray, float]:
    """Sub-sample volume onsets: the least-squares line through the marker samples, and its slope (TR in samples).

    Rounded markers jitter by up to half a sample around the true onsets; the fitted line has the
    clock ratio, and what error is left (a few hundredths of a sample) grows linearly with the volume
    index, which the sliding template, centred on each volume, absorbs.
    """
    k = np.arange(len(markers), dtype=np.float64)
    slope, intercept = np.polyfit(k, markers.astype(np.float64), 1)
    return intercept + slope * k, float(slope)


def _frac_filters(frac: np.ndarray, beta: float = 8.0) -> np.ndarray:
    """(len(frac), N_TAPS) windowed-sinc filters: ``x(t + f) = sum_m h[m] x[t + m]``, m = -N_TAPS/2+1 .. N_TAPS/2.

    The Kaiser window is evaluated at the taps' continuous distance from the interpolated point; with
    16 taps the error is about 1e-4 of the amplitude from DC to 300 Hz at 1 kHz.
    """
    half = N_TAPS // 2
    x = np.arange(-half + 1, half + 1)[None, :] - np.asarray(frac, np.float64)[:, None]
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, 1.0))) / np.i0(beta)
    h = np.sinc(x) * window
    return h / h.sum(1, keepdims=True)


def _apply_taps(win: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``out[k, c, j] = sum_t h[k, t] win[k, c, j + t]``: each epoch's window through its own filter."""
    view = np.lib.stride_tricks.sliding_window_view(win, N_TAPS, axis=-1)  # (K, C, L, T), no copy
    # a broadcast matmul (BLAS) is ~30x faster than the equivalent einsum here
    return np.matmul(view, h.astype(np.float32)[:, None, :, None])[..., 0]


def _shifted_epochs(data: np.ndarray, starts: np.ndarray, frac: np.ndarray, length: int) -> np.ndarray:
    """(K, C, length) epochs sampled at ``starts + frac + j`` (j = 0 .. length-1), by windowed-sinc interpolation.

    ``data`` must hold ``N_TAPS`` samples of margin around every epoch (the caller pads).
    """
    half = N_TAPS // 2
    h = _frac_filters(frac)  # x(t + frac) = sum_m h[m] x[t + m], m = -half+1 .. half
    idx = starts[:, None] + np.arange(-half + 1, length + half)[None, :]  # (K, length + N_TAPS - 1)
    win = data[:, idx].astype(np.float32).transpose(1, 0, 2)  # (K, C, L + T - 1)
    return _apply_taps(win, h)


@dataclass
class GradientResult:
    onsets: np.ndarray  # fitted sub-sample onsets (samples)
    tr_samples: float
    template_length: int
    volume_average_before: np.ndarray  # (C, L): volume-locked average before correction (aligned)
    volume_average_after: np.ndarray


def remove_gradient(
    data: np.ndarray,
    markers: np.ndarray,
    *,
    n_template: int = 21,
    obs: int = 0,
    obs_hp: float = 70.0,
    sfreq: float = 1000.0,
    chunk: int = 8,
    n_jobs: int = 1,
    progress=None,
) -> GradientResult:
    """Subtract the gradient artifact from ``data`` (C, N) in place; ``markers`` are volume-onset samples.

    Epoch ``k`` covers ``[floor(onset_k), floor(onset_k) + L)`` with ``L = ceil(TR samples)``; where two
    consecutive epochs overlap (at most one sample), the sample is corrected once, by the later epoch.
    """
    onsets, tr_samples = fit_onsets(np.asarray(markers))
    length = int(np.ceil(tr_samples))
    starts = np.floor(onsets).astype(np.int64)
    frac = onsets - starts
    n_ch, n = data.shape
    # epochs are taken with a margin of M samples on each side, so that shifting the template back to an
    # epoch's own offset interpolates from real neighbouring artifact, not from padding
    margin = N_TAPS
    lo_pad = max(0, margin + N_TAPS - int(starts[0]))
    hi_pad = max(0, int(starts[-1]) + length + margin + N_TAPS - n)
    st = starts + lo_pad - margin
    ext = length + 2 * margin
    k_all = len(onsets)
    n_template = min(n_template | 1, k_all if k_all % 2 else k_all - 1)  # odd, at most the number of volumes
    # each sample is corrected once: epoch k ends where epoch k + 1 starts (they overlap by <= 1 sample)
    ends = np.minimum(np.minimum(starts + length, n), np.r_[starts[1:], n])
    counts = np.maximum(ends - starts, 0)
    kk = np.repeat(np.arange(k_all), counts)  # epoch of every corrected sample
    jj = np.arange(kk.size) - np.repeat(np.cumsum(counts) - counts, counts)  # its offset in the epoch
    pos = starts[kk] + jj
    before = np.zeros((n_ch, length))
    after = np.zeros((n_ch, length))

    def correct(c0: int) -> None:
        c1 = min(n_ch, c0 + chunk)
        block = data[c0:c1].astype(np.float32)
        if lo_pad or hi_pad:
            block = np.pad(block, ((0, 0), (lo_pad, hi_pad)), mode="edge")
        aligned = _shifted_epochs(block, st, frac, ext)  # (K, c, ext): epochs on the common grid
        before[c0:c1] = aligned[:, :, margin : margin + length].mean(0)
        template = sliding_template(aligned, n_template)
        if obs > 0:
            template += _obs_fit(aligned - template, obs, obs_hp, sfreq)
        del aligned
        # back to each epoch's own offset: the artifact at sample starts_k + i is the template at i - frac_k
        back = _shifted_epochs_template(template, 1.0 - frac, length, margin)  # (K, c, L)
        del template
        data[c0:c1, pos] -= back[kk, :, jj].T
        del back
        # volume-locked average after correction, on the nearest samples (QC only)
        ok = starts + length <= n
        after[c0:c1] = data[c0:c1][:, starts[ok, None] + np.arange(length)[None, :]].mean(1)
        if progress is not None:
            progress.update(c1 - c0)

    # channel chunks are independent: run them on n_jobs threads (BLAS and most of numpy release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        list(pool.map(correct, range(0, n_ch, chunk)))
    return GradientResult(onsets, tr_samples, length, before, after)


def sliding_template(epochs: np.ndarray, n_template: int) -> np.ndarray:
    """The mean of the ``n_template`` (odd) epochs centred on each epoch, along axis 0; at the ends the window
    stops at the first/last epochs (the template of epoch 0 is the mean of epochs 0 .. n_template - 1)."""
    from scipy.ndimage import uniform_filter1d

    half = n_template // 2
    out = uniform_filter1d(epochs, n_template, axis=0, mode="nearest")
    if len(epochs) > 2 * half:
        out[:half] = out[half]
        out[len(epochs) - half :] = out[len(epochs) - half - 1]
    return out


def _shifted_epochs_template(template: np.ndarray, shift: np.ndarray, length: int, margin: int) -> np.ndarray:
    """Sample template row k (index p = time onset_k + p - margin) at ``i - 1 + shift_k``: (K, c, length)."""
    half = N_TAPS // 2
    h = _frac_filters(shift)  # shift in (0, 1]
    idx = (margin - 1) + np.arange(-half + 1, length + half)
    return _apply_taps(template[:, :, idx].astype(np.float32), h)


def _obs_fit(residual: np.ndarray, n_comp: int, hp: float, sfreq: float) -> np.ndarray:
    """OBS: per channel, the first ``n_comp`` PCs of the high-passed residual epochs, fitted to each epoch."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, hp, btype="highpass", fs=sfreq, output="sos")
    hp_res = sosfiltfilt(sos, residual, axis=-1)  # (K, c, L)
    fitted = np.zeros_like(residual)
    for c in range(residual.shape[1]):
        x = hp_res[:, c, :]  # (K, L)
        cov = x.T @ x
        _, vecs = np.linalg.eigh(cov)
        basis = vecs[:, ::-1][:, :n_comp]  # (L, p)
        fitted[:, c, :] = (x @ basis) @ basis.T
    return fitted


def volume_average(data: np.ndarray, markers: np.ndarray, length: int) -> np.ndarray:
    """(C, length) average of ``data`` over the epochs starting at the (whole-sample) ``markers`` (QC)."""
    markers = np.asarray(markers, np.int64)
    ok = markers + length <= data.shape[1]
    return data[:, markers[ok, None] + np.arange(length)[None, :]].mean(1)


def remove_gradient_mne(raw, markers: np.ndarray, *, n_template: int = 21) -> GradientResult:
    """MNE's average artifact subtraction on every channel of ``raw`` (preloaded), in place.

    ``n_template`` volumes make the template as in :func:`remove_gradient` (``window`` = half before, half
    after); MNE's ``tr_tol`` is set to the largest deviation of a marker interval from their median, so that
    the markers the chain already accepted (``eeg.marker_tolerance``) are accepted here too.
    """
    import mne

    markers = np.asarray(markers, np.int64)
    _, tr_samples = fit_onsets(markers)
    length = int(np.ceil(tr_samples))
    d = np.diff(markers)
    tol = int(np.ceil(np.abs(d - np.median(d)).max())) if len(d) else 0
    half = max(1, (n_template | 1) // 2)
    before = volume_average(raw._data, markers, length)  # noqa: SLF001
    mne.preprocessing.remove_fmri_gradient_artifact(raw, markers, window=(half, half), tr_tol=tol,
                                                    picks=np.arange(len(raw.ch_names)), copy=False,
                                                    verbose="error")  # fmt: skip
    after = volume_average(raw._data, markers, length)  # noqa: SLF001
    return GradientResult(markers.astype(np.float64), tr_samples, length, before, after)
