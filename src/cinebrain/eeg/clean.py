"""Apply the (possibly edited) ICA choice and write the clean EEG with its QC (rule ``eeg_clean``).

QC (``..._desc-qc.json``) gathers what ``eeg_preprocess`` recorded (markers, heartbeats, bad channels,
step timings, power at the volume and slice frequencies and their harmonics after each step) and adds the
final spectrum, the removed components and, when the recording's truth is known (the synthetic
dataset), the signal-to-noise ratio against the clean EEG::

    SNR = 10 log10( sum(truth^2) / sum((x - truth)^2) )   per channel, median over channels

for the raw recording against the raw truth (``snr_raw_db``), for the raw recording only band-passed and
notched as the chain does (``snr_raw_filtered_db``: what filtering alone achieves), and for the clean EEG
against the truth put through the same resampling and filters (``snr_clean_db``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _filtered(data: np.ndarray, sfreq: float, settings, names) -> np.ndarray:
    """``data`` (C, N) put through the chain's resampling, band-pass and notch (MNE), as for the EEG."""
    import mne

    raw = mne.io.RawArray(np.array(data, np.float64), mne.create_info(list(names), sfreq, "eeg"), verbose="error")  # a copy: MNE filters in place
    if settings.sfreq != sfreq:
        raw.resample(settings.sfreq, npad="auto", verbose="error")
    if settings.l_freq is not None or settings.h_freq is not None:
        raw.filter(settings.l_freq, settings.h_freq, verbose="error")
    if settings.notch:
        raw.notch_filter(settings.notch, verbose="error")
    return raw.get_data()


def snr_db(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-channel SNR (dB) of ``x`` against ``truth`` (same shape)."""
    return 10 * np.log10((truth**2).sum(1) / np.maximum(((x - truth) ** 2).sum(1), 1e-300))


def snr_against_truth(clean_raw, raw_eeg: np.ndarray, sfreq_in: float, truth_npz, settings) -> dict:
    """SNR figures of the raw and the clean EEG against the synthetic truth (see the module docstring)."""
    truth = np.load(truth_npz)["clean"].astype(np.float64)  # (64, N) at the recording's rate
    names = [f"T{i}" for i in range(truth.shape[0])]
    n = min(truth.shape[1], raw_eeg.shape[1])
    truth, raw_eeg = truth[:, :n], raw_eeg[:, :n]
    truth_f = _filtered(truth, sfreq_in, settings, names)
    raw_f = _filtered(raw_eeg, sfreq_in, settings, names)
    clean = clean_raw.get_data(picks="eeg")
    m = min(clean.shape[1], truth_f.shape[1])
    out = {
        "snr_raw_db": float(np.median(snr_db(raw_eeg, truth))),
        "snr_raw_filtered_db": float(np.median(snr_db(raw_f[:, :m], truth_f[:, :m]))),
        "snr_clean_db": float(np.median(snr_db(clean[:, :m], truth_f[:, :m]))),
    }
    out["improvement_db"] = out["snr_clean_db"] - out["snr_raw_db"]
    out["improvement_over_filtering_db"] = out["snr_clean_db"] - out["snr_raw_filtered_db"]
    return out


def clean_run(preica_fif, ica_fif, components_tsv, qc_json_in, *, out_fif, qc_json, truth=None,
              bids_eeg=None):  # fmt: skip
    """Remove the ``bad`` components of the TSV, write ``desc-clean_eeg.fif`` and the final QC JSON."""
    import sys

    import mne

    from .ica import read_components
    from .qc import harmonic_power, psd
    from .settings import EEGSettings

    raw = mne.io.read_raw_fif(preica_fif, preload=True, verbose="error")
    qc = json.loads(Path(qc_json_in).read_text())
    settings = EEGSettings.from_config(qc["settings"])
    excluded: list[int] = []
    if Path(ica_fif).stat().st_size > 0:
        ica = mne.preprocessing.read_ica(ica_fif, verbose="error")
        excluded = read_components(components_tsv, ica.n_components_)
        ica.exclude = excluded
        ica.apply(raw, verbose="error")
    qc["ica"] = {"excluded": excluded, "components_file": str(components_tsv)}
    sfo = raw.info["sfreq"]
    f, p = psd(raw._data, sfo, picks=mne.pick_types(raw.info, eeg=True))  # noqa: SLF001
    qc["power_db"]["clean"] = {"volume": harmonic_power(f, p, qc["volume_frequency"]),
                               "slice": harmonic_power(f, p, qc["slice_frequency"]) if qc["slice_frequency"] else None}  # fmt: skip
    if truth is not None and Path(truth).exists() and bids_eeg is not None:
        orig = mne.io.read_raw_brainvision(bids_eeg, preload=True, verbose="error")
        eeg_names = [n for n in orig.ch_names if n != settings.ecg_channel]  # BrainVision: all typed 'eeg'
        qc["truth"] = snr_against_truth(raw, orig.get_data(picks=eeg_names), orig.info["sfreq"], truth, settings)
        print(f"SNR vs truth: {qc['truth']}", file=sys.stderr)
    from ..atomic import atomic_files

    with atomic_files(out_fif, qc_json) as (tmp, tmp_json):
        raw.save(tmp, overwrite=True, verbose="error")
        tmp_json.write_text(json.dumps(qc, indent=1, default=float))
    print(f"clean EEG: {raw.get_data().shape}, ICA excluded {excluded}, bad channels {list(qc['bad_channels'])}",
          file=sys.stderr)  # fmt: skip
    return qc
