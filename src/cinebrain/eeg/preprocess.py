"""The EEG cleaning chain of one run, up to the ICA fit (rule ``eeg_preprocess``).

Steps, in order, each configurable (config ``eeg``; :class:`cinebrain.eeg.settings.EEGSettings`):

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
from dataclasses import asdict

import numpy as np

from .io import EEGInputError, check_run, read_run, volume_markers
from .qc import detect_bad_channels, harmonic_power, psd
from .settings import EEGSettings

__all__ = ["EEGInputError", "EEGSettings", "check_run", "detect_bad_channels", "preprocess_rule", "preprocess_run",
           "write_outputs"]


# ------------------------------------------------------------------------------------------ the chain


def preprocess_run(
    bids_root, subject: str, task: str, run: int, *, n_volumes: int, tr: float, marker: str,
    settings: EEGSettings | dict, session=None, progress: bool = True, n_jobs: int = 1,
):  # fmt: skip
    """Steps 1-6 on one run: returns (raw after step 5, fitted ICA or None, components table, qc dict, arrays)."""
    import mne
    from tqdm.auto import tqdm

    from .bcg import ECGError, detect_r_peaks, remove_bcg, remove_bcg_mne
    from .gradient import remove_gradient, remove_gradient_mne

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
    f, p = psd(data, sf, picks=eeg_picks)
    arrays["psd_freqs_in"], arrays["psd_raw"] = f, p.mean(0)
    qc["volume_frequency"] = 1.0 / tr
    slice_band = (f > 8) & (f < 0.4 * sf) & np.all([np.abs(f - ln) > 1 for ln in settings.notch or [0]], axis=0)
    qc["slice_frequency"] = float(f[slice_band][np.argmax(p.mean(0)[slice_band])]) if slice_band.any() else None
    power = {"raw": (f, p)}

    def spectrum(step: str) -> None:  # the EEG spectrum after a step, for the QC and the report
        f, p = psd(data, sf, picks=eeg_picks)
        power[step] = (f, p)
        arrays[f"psd_{step}"] = p.mean(0)

    # 2. gradient
    t0 = time.perf_counter()
    if settings.gradient.enabled:
        if settings.gradient.method == "mne_aas":
            g = remove_gradient_mne(raw, markers, n_template=settings.gradient.n_template)
            data = raw._data  # noqa: SLF001
        else:
            g = remove_gradient(data, markers, n_template=settings.gradient.n_template,
                                obs=settings.gradient.obs, sfreq=sf, n_jobs=n_jobs)  # fmt: skip
        arrays["volume_avg_before"], arrays["volume_avg_after"] = g.volume_average_before, g.volume_average_after
        qc["gradient"] = {"method": settings.gradient.method, "tr_samples": g.tr_samples,
                          "template_length": g.template_length, "n_template": settings.gradient.n_template,
                          "obs": settings.gradient.obs}  # fmt: skip
        spectrum("gradient")
    timings["gradient"] = time.perf_counter() - t0
    bar.update(1)

    # 3. BCG
    t0 = time.perf_counter()
    if settings.bcg.enabled:
        ecg = data[raw.ch_names.index(settings.ecg_channel)]
        r_peaks = detect_r_peaks(ecg, sf)
        try:
            if settings.bcg.method == "mne_pca_obs":
                b = remove_bcg_mne(raw, r_peaks, n_obs=settings.bcg.n_obs, picks=eeg_picks, n_jobs=n_jobs)
                data = raw._data  # noqa: SLF001
            else:
                b = remove_bcg(data, r_peaks, sf, method=settings.bcg.method,
                               n_template=settings.bcg.n_template, n_obs=settings.bcg.n_obs,
                               channels=eeg_picks, n_jobs=n_jobs)  # fmt: skip
        except ECGError as exc:
            raise EEGInputError(f"{fpath}: {exc}; fix: check the ECG channel '{settings.ecg_channel}', or disable "
                                "BCG removal with eeg.bcg.enabled: false") from exc  # fmt: skip
        arrays["r_peaks"] = r_peaks
        arrays["rpeak_avg_before"], arrays["rpeak_avg_after"] = b.average_before, b.average_after
        duration = data.shape[1] / sf
        qc["bcg"] = {"method": settings.bcg.method, "heartbeats": int(len(r_peaks)),
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
    f, p = psd(raw._data, sfo, picks=mne.pick_types(raw.info, eeg=True))  # noqa: SLF001
    power["filter"] = (f, p)
    arrays["psd_freqs"], arrays["psd_filter"] = f, p.mean(0)
    timings["filter"] = time.perf_counter() - t0
    bar.update(1)

    # 5. bad channels
    t0 = time.perf_counter()
    bads: dict[str, str] = {}
    if settings.bad_channels.enabled:
        step = max(1, int(sfo // 100))  # the criteria on a 100-Hz view of the 30-Hz band are as on the full rate
        eeg_names = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
        bads = detect_bad_channels(raw.get_data(picks="eeg")[:, ::step], sfo / step, eeg_names,
                                   deviation_z=float(settings.bad_channels.deviation_z),
                                   correlation=float(settings.bad_channels.correlation))  # fmt: skip
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
    if settings.ica.enabled:
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
