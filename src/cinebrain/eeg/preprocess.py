"""The EEG cleaning chain of one run, up to the ICA fit (rule ``eeg_preprocess``).

Steps, in order, each configurable (config ``eeg``; :class:`EEGSettings`):

1. read the BIDS EEG with mne-bids; check the volume markers against the BOLD run (count, spacing), the
   channel layout against the montage, the data for NaNs, and the filters against the sampling rate;
2. MR-gradient removal (:mod:`cinebrain.eeg.gradient`), on every channel including the ECG;
3. ballistocardiogram removal (:mod:`cinebrain.eeg.bcg`) locked to R-peaks found on the ECG;
4. resampling, band-pass and notch filters on the EEG channels (MNE; the ECG stays broadband);
5. bad channels: flat, deviating or uncorrelated channels (the criteria of PREP, Bigdely-Shamlo et al. 2015,
   as in pyprep's ``NoisyChannels``: robust z of the amplitude > 5, median window correlation < 0.4),
   interpolated with MNE's spherical splines;
6. ICA (picard) on a 1-Hz high-passed, decimated copy; the components correlated with the ECG (CTPS) and
   with frontal EOG proxies are marked in a TSV that the user may edit (:mod:`cinebrain.eeg.ica`).

What each step did, and power spectra and locked averages for the report, go to a QC ``.npz``/JSON.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np


class EEGInputError(ValueError):
    """An EEG recording (or config) that the chain cannot process; names the file, the problem and the fix."""


@dataclass
class EEGSettings:
    """The ``eeg`` section of the config (see config/config.yaml for each key)."""

    montage: str = "GSN-HydroCel-64_1.0"
    ecg_channel: str = "ECG"
    marker_tolerance: float = 0.005  # relative deviation of a marker interval from the TR
    gradient: dict = field(default_factory=lambda: {"enabled": True, "n_template": 21, "obs": 0})
    bcg: dict = field(default_factory=lambda: {"enabled": True, "method": "average", "n_template": 21, "n_obs": 3})
    sfreq: float = 1000.0
    l_freq: float | None = 0.1
    h_freq: float | None = 30.0
    notch: list[float] = field(default_factory=lambda: [50.0])
    bad_channels: dict = field(default_factory=lambda: {"enabled": True, "deviation_z": 5.0, "correlation": 0.4})
    ica: dict = field(default_factory=lambda: {
        "enabled": True, "n_components": 20, "l_freq": 1.0, "decim_sfreq": 50.0, "max_iter": 500,
        "ecg_threshold": "auto", "eog_threshold": 3.0, "eog_channels": None, "random_state": 97,
    })  # fmt: skip

    @classmethod
    def from_config(cls, section: dict) -> EEGSettings:
        base = cls()
        kw = {}
        for k, v in section.items():
            if k not in cls.__dataclass_fields__:
                continue
            default = getattr(base, k)
            kw[k] = {**default, **v} if isinstance(default, dict) and isinstance(v, dict) else v
        return cls(**kw)


# ------------------------------------------------------------------------------------------ reading


def read_run(bids_root, subject: str, task: str, run: int, session=None):
    """The run's raw EEG (preloaded, float64) through mne-bids, with channel types from channels.tsv."""
    import mne_bids

    path = mne_bids.BIDSPath(root=bids_root, subject=subject, session=session, task=task, run=run,
                             datatype="eeg", suffix="eeg", extension=".vhdr")  # fmt: skip
    if not path.fpath.exists():
        raise EEGInputError(f"{path.fpath}: missing; fix: check dataset.bids_root and the inventory")
    raw = mne_bids.read_raw_bids(path, verbose="error")
    raw.load_data(verbose="error")
    return raw, path.fpath


def volume_markers(fpath, marker: str):
    """The recording's own markers, read from the BrainVision marker file: (sample indices of the ``marker``
    annotations (description ``marker`` or ``.../marker``), the descriptions found, all annotations).

    mne-bids replaces a recording's annotations by events.tsv, which lists the film onset, not the scanner's
    volume markers; the chain puts these annotations back so that the clean EEG keeps them.
    """
    import mne

    raw = mne.io.read_raw(fpath, preload=False, verbose="error")
    desc = [str(d) for d in raw.annotations.description]
    hit = np.array([d == marker or d.endswith("/" + marker) for d in desc], bool)
    onsets = np.asarray(raw.annotations.onset, dtype=np.float64)[hit] if hit.size else np.zeros(0)
    samples = np.round((onsets - raw.first_time) * raw.info["sfreq"]).astype(np.int64)
    return samples, sorted(set(desc)), raw.annotations


def check_run(raw, fpath, *, markers: np.ndarray, marker: str, n_volumes: int, tr: float,
              settings: EEGSettings, descriptions=()) -> None:  # fmt: skip
    """Everything the chain needs, checked before any work; raises :class:`EEGInputError`."""
    import mne

    sf = raw.info["sfreq"]
    if len(markers) == 0:
        found = list(descriptions)[:8]
        raise EEGInputError(f"{fpath}: no '{marker}' volume markers (annotations found: {found}); fix: set "
                            "dataset.volume_marker to the scanner's marker description")  # fmt: skip
    if len(markers) != n_volumes:
        raise EEGInputError(f"{fpath}: {len(markers)} '{marker}' volume markers but the BOLD run has {n_volumes} "
                            "volumes; fix: check that EEG and BOLD are the same run, or trim the extra markers")  # fmt: skip
    if settings.gradient.get("enabled", True) and len(markers) > 1:
        d = np.diff(markers) / (tr * sf)
        bad = np.flatnonzero(np.abs(d - 1) > settings.marker_tolerance)
        if len(bad):
            j = int(bad[0])
            raise EEGInputError(
                f"{fpath}: {len(bad)} volume-marker interval(s) differ from the TR ({tr:g} s = {tr * sf:g} samples) "
                f"by more than {settings.marker_tolerance:.1%}, the first between markers {j} and {j + 1} "
                f"({markers[j + 1] - markers[j]} samples); fix: repair the marker file (missing or doubled markers), "
                "or raise eeg.marker_tolerance"
            )
    finite = np.isfinite(raw._data).all(1)  # no copy of the data  # noqa: SLF001
    if not finite.all():
        bad_ch = [raw.ch_names[i] for i in np.flatnonzero(~finite)]
        raise EEGInputError(f"{fpath}: NaN or infinite samples in channel(s) {', '.join(bad_ch[:10])}; fix: "
                            "re-export the recording, or mark and drop the channel(s)")  # fmt: skip
    types = raw.get_channel_types()
    if settings.bcg.get("enabled", True) and settings.ecg_channel not in raw.ch_names:
        ecgs = [n for n, t in zip(raw.ch_names, types, strict=True) if t == "ecg"]
        raise EEGInputError(f"{fpath}: no ECG channel '{settings.ecg_channel}' (ECG channels: {ecgs or 'none'}); "
                            "fix: set eeg.ecg_channel to the ECG's name, or disable BCG removal with "
                            "eeg.bcg.enabled: false")  # fmt: skip
    montage = mne.channels.make_standard_montage(settings.montage)
    eeg = [n for n, t in zip(raw.ch_names, types, strict=True) if t == "eeg"]
    missing = [n for n in eeg if n not in montage.ch_names]
    if missing:
        raise EEGInputError(f"{fpath}: EEG channel(s) {', '.join(missing[:10])} are not in montage "
                            f"{settings.montage} ({len(montage.ch_names)} electrodes, e.g. "
                            f"{', '.join(montage.ch_names[:4])}); fix: set eeg.montage to the cap's montage, or "
                            "correct the channel names in channels.tsv")  # fmt: skip
    check_filters(settings, sf, where=str(fpath))


def check_filters(settings: EEGSettings, sfreq_in: float, where: str = "config") -> None:
    """The output rate must carry every requested filter edge (and the input rate the output rate)."""
    nyq = settings.sfreq / 2
    problems = []
    if settings.sfreq > sfreq_in:
        problems.append(f"eeg.sfreq {settings.sfreq:g} Hz is above the recording's {sfreq_in:g} Hz")
    for key, f in (("eeg.h_freq", settings.h_freq), ("eeg.l_freq", settings.l_freq)):
        if f is not None and f >= nyq:
            problems.append(f"{key} {f:g} Hz is not below the Nyquist frequency {nyq:g} Hz of eeg.sfreq")
    for f in settings.notch or []:
        if f >= nyq:
            problems.append(f"eeg.notch {f:g} Hz is not below the Nyquist frequency {nyq:g} Hz")
    ica = settings.ica
    if ica.get("enabled", True) and ica["decim_sfreq"] > settings.sfreq:
        problems.append(f"eeg.ica.decim_sfreq {ica['decim_sfreq']:g} Hz is above eeg.sfreq {settings.sfreq:g} Hz")
    if problems:
        raise EEGInputError(f"{where}: sampling rate too low for the requested filters: {'; '.join(problems)}; "
                            "fix: raise eeg.sfreq (up to the recording's rate) or lower the filter frequencies")  # fmt: skip


# ------------------------------------------------------------------------------------- QC helpers


def _psd(data: np.ndarray, sfreq: float, fmax: float | None = None, max_seconds: float = 120.0, picks=None):
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


# ------------------------------------------------------------------------------------------ the chain


def preprocess_run(
    bids_root, subject: str, task: str, run: int, *, n_volumes: int, tr: float, marker: str,
    settings: EEGSettings | dict, session=None, progress: bool = True, n_jobs: int = 1,
):  # fmt: skip
    """Steps 1-6 on one run: returns (raw after step 5, fitted ICA or None, components table, qc dict, arrays)."""
    import mne
    from tqdm.auto import tqdm

    from .bcg import ECGError, detect_r_peaks, remove_bcg
    from .gradient import remove_gradient

    if not isinstance(settings, EEGSettings):
        settings = EEGSettings.from_config(dict(settings))
    timings: dict[str, float] = {}
    arrays: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    raw, fpath = read_run(bids_root, subject, task, run, session)
    markers, descriptions, annotations = volume_markers(fpath, marker)
    check_run(raw, fpath, markers=markers, marker=marker, n_volumes=n_volumes, tr=tr, settings=settings,
              descriptions=descriptions)  # fmt: skip
    # keep the volume markers with the data (mne-bids put events.tsv in their place), so that the clean
    # EEG still says which sample each volume started at
    raw.set_annotations(annotations)
    sf = raw.info["sfreq"]
    eeg_picks = mne.pick_types(raw.info, eeg=True)
    timings["read"] = time.perf_counter() - t0
    qc: dict = {"file": str(fpath), "sfreq_in": sf, "n_volumes": int(n_volumes), "n_eeg": len(eeg_picks)}

    steps = ["gradient", "bcg", "filter", "bad_channels", "ica"]
    bar = tqdm(total=len(steps), desc=f"eeg sub-{subject} run {run}", unit="step", disable=not progress)
    data = raw._data  # (C, N) float64, modified in place by the artifact steps  # noqa: SLF001
    f, p = _psd(data, sf, picks=eeg_picks)
    arrays["psd_freqs_in"], arrays["psd_raw"] = f, p.mean(0)
    qc["volume_frequency"] = 1.0 / tr
    slice_band = (f > 8) & (f < 0.4 * sf) & np.all([np.abs(f - ln) > 1 for ln in settings.notch or [0]], axis=0)
    qc["slice_frequency"] = float(f[slice_band][np.argmax(p.mean(0)[slice_band])]) if slice_band.any() else None
    power = {"raw": (f, p)}

    def spectrum(step: str) -> None:  # the EEG spectrum after a step, for the QC and the report
        f, p = _psd(data, sf, picks=eeg_picks)
        power[step] = (f, p)
        arrays[f"psd_{step}"] = p.mean(0)

    # 2. gradient
    t0 = time.perf_counter()
    if settings.gradient.get("enabled", True):
        g = remove_gradient(data, markers, n_template=int(settings.gradient.get("n_template", 21)),
                            obs=int(settings.gradient.get("obs", 0)), sfreq=sf, n_jobs=n_jobs)  # fmt: skip
        arrays["volume_avg_before"], arrays["volume_avg_after"] = g.volume_average_before, g.volume_average_after
        qc["gradient"] = {"tr_samples": g.tr_samples, "template_length": g.template_length,
                          "n_template": int(settings.gradient.get("n_template", 21)),
                          "obs": int(settings.gradient.get("obs", 0))}  # fmt: skip
        spectrum("gradient")
    timings["gradient"] = time.perf_counter() - t0
    bar.update(1)

    # 3. BCG
    t0 = time.perf_counter()
    if settings.bcg.get("enabled", True):
        ecg = data[raw.ch_names.index(settings.ecg_channel)]
        r_peaks = detect_r_peaks(ecg, sf)
        try:
            b = remove_bcg(data, r_peaks, sf, method=settings.bcg.get("method", "average"),
                           n_template=int(settings.bcg.get("n_template", 21)), n_obs=int(settings.bcg.get("n_obs", 3)),
                           channels=eeg_picks, n_jobs=n_jobs)  # fmt: skip
        except ECGError as exc:
            raise EEGInputError(f"{fpath}: {exc}; fix: check the ECG channel '{settings.ecg_channel}', or disable "
                                "BCG removal with eeg.bcg.enabled: false") from exc  # fmt: skip
        arrays["r_peaks"] = r_peaks
        arrays["rpeak_avg_before"], arrays["rpeak_avg_after"] = b.average_before, b.average_after
        duration = data.shape[1] / sf
        qc["bcg"] = {"method": settings.bcg.get("method", "average"), "heartbeats": int(len(r_peaks)),
                     "heart_rate_bpm": round(60 * len(r_peaks) / duration, 1), "window_samples": list(b.window)}  # fmt: skip
        spectrum("bcg")
    timings["bcg"] = time.perf_counter() - t0
    bar.update(1)

    # 4. resample and filter (EEG only; the ECG stays broadband)
    t0 = time.perf_counter()
    if settings.sfreq != sf:
        raw.resample(settings.sfreq, npad="auto", verbose="error")
    if settings.l_freq is not None or settings.h_freq is not None:
        raw.filter(settings.l_freq, settings.h_freq, picks="eeg", verbose="error")
    if settings.notch:
        raw.notch_filter(settings.notch, picks="eeg", verbose="error")
    sfo = raw.info["sfreq"]
    f, p = _psd(raw._data, sfo, picks=mne.pick_types(raw.info, eeg=True))  # noqa: SLF001
    power["filter"] = (f, p)
    arrays["psd_freqs"], arrays["psd_filter"] = f, p.mean(0)
    timings["filter"] = time.perf_counter() - t0
    bar.update(1)

    # 5. bad channels
    t0 = time.perf_counter()
    bads: dict[str, str] = {}
    if settings.bad_channels.get("enabled", True):
        step = max(1, int(sfo // 100))  # the criteria on a 100-Hz view of the 30-Hz band are as on the full rate
        eeg_names = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
        bads = detect_bad_channels(raw.get_data(picks="eeg")[:, ::step], sfo / step, eeg_names,
                                   deviation_z=float(settings.bad_channels.get("deviation_z", 5.0)),
                                   correlation=float(settings.bad_channels.get("correlation", 0.4)))  # fmt: skip
        if bads:
            raw.info["bads"] = list(bads)
            raw.set_montage(settings.montage, on_missing="ignore", verbose="error")
            raw.interpolate_bads(reset_bads=True, verbose="error")
    qc["bad_channels"] = bads
    timings["bad_channels"] = time.perf_counter() - t0
    bar.update(1)

    # 6. ICA fit
    t0 = time.perf_counter()
    ica, components = None, None
    if settings.ica.get("enabled", True):
        from .ica import fit_ica

        ica, components = fit_ica(raw, settings, ecg_channel=settings.ecg_channel if settings.ecg_channel in raw.ch_names
                                  else None, n_interpolated=len(bads))  # fmt: skip
    timings["ica_fit"] = time.perf_counter() - t0
    bar.update(1)
    bar.close()

    qc["power_db"] = {name: {"volume": harmonic_power(fq, pw, 1.0 / tr),
                             "slice": harmonic_power(fq, pw, qc["slice_frequency"]) if qc["slice_frequency"] else None}
                      for name, (fq, pw) in power.items()}  # fmt: skip
    qc["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    qc["settings"] = asdict(settings)
    return raw, ica, components, qc, arrays


def write_outputs(raw, ica, components, qc: dict, arrays: dict, *, fif, ica_fif, components_tsv, qc_json, qc_npz):
    """Write the rule's outputs, each under a temporary name first."""
    import pandas as pd

    from ..atomic import atomic_files

    with atomic_files(fif, ica_fif, components_tsv, qc_npz, qc_json) as (tmp, tmp_ica, tmp_tsv, tmp_npz, tmp_json):
        raw.save(tmp, overwrite=True, verbose="error")
        if ica is not None:
            ica.save(tmp_ica, overwrite=True, verbose="error")
        else:  # ICA disabled: an empty file keeps the rule's outputs fixed; eeg_clean applies nothing
            tmp_ica.write_bytes(b"")
        (components if components is not None else pd.DataFrame(columns=["component", "type", "status"])).to_csv(
            tmp_tsv, sep="\t", index=False)  # fmt: skip
        np.savez(tmp_npz, **arrays)
        tmp_json.write_text(json.dumps(qc, indent=1, default=float))


def preprocess_rule(inventory, bids_root, subject: str, run: int, *, marker: str, settings: dict, outputs,
                    n_jobs: int = 1) -> dict:  # fmt: skip
    """Rule ``eeg_preprocess``: the run's inventory row gives the BOLD volume count and TR to check against."""
    import sys

    import pandas as pd

    inv = pd.read_parquet(inventory)
    row = inv[(inv["subject"] == subject) & (inv["run"] == int(run))]
    if row.empty:
        raise EEGInputError(f"{inventory}: no sub-{subject} run {run}; fix: re-run bids_inventory")
    row = row.iloc[0]
    session = row["session"] if isinstance(row["session"], str) else None
    raw, ica, components, qc, arrays = preprocess_run(
        bids_root, subject, str(row["task"]), int(run), n_volumes=int(row["n_volumes"]), tr=float(row["TR"]),
        marker=marker, settings=settings, session=session, n_jobs=n_jobs,
    )  # fmt: skip
    write_outputs(raw, ica, components, qc, arrays, fif=outputs["fif"], ica_fif=outputs["ica"],
                  components_tsv=outputs["components"], qc_json=outputs["qc"], qc_npz=outputs["arrays"])  # fmt: skip
    print(json.dumps({k: qc[k] for k in ("timings_s", "bad_channels", "power_db")}, indent=1, default=float),
          file=sys.stderr)  # fmt: skip
    return qc
