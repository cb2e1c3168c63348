"""The project's EEG artifact removal beside MNE's built-ins, on a CineBrain-size synthetic run.

    python benchmarks/bench_eeg_methods.py                 # 64 EEG + ECG, 1,350 volumes (18 min) at 1,000 Hz
    python benchmarks/bench_eeg_methods.py --seconds 300   # a shorter run

The run is simulated three times from one seed (cinebrain.synth.eeg.simulate_run): with every artifact,
without the gradient, and without gradient and pulse, so that what a method leaves is known exactly.

Gradient: the project's sub-sample aligned AAS (``eeg.gradient.method: aas``) against MNE's
``remove_fmri_gradient_artifact`` (``mne_aas``), both with a 21-volume template, on the recording, with the
scanner/EEG clock mismatch of the simulation (25 ppm) and without it.  Pulse: the sliding average
(``eeg.bcg.method: average``) against MNE's ``apply_pca_obs`` (``mne_pca_obs``), on the gradient-free
recording, R-peaks from the ECG.  Figures: the artifact left, as the EEG-to-residual power ratio over the 64
EEG channels (dB; higher is better), over the interior volumes (from the 20th to the 20th-last: every
template complete) and over the whole scan, and the wall time.  Last, the sampling-rate guard
(``eeg.gradient.min_sfreq``): the same recording taken at 250 Hz (every 4th sample behind the same 250-Hz
analogue filter), cleaned by AAS, against 1,000 Hz.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def simulate(seconds: float, sfreq: float, **params) -> dict:
    """One run of the synthetic world's EEG model (64 EEG + ECG) with the artifacts of ``params``."""
    from cinebrain.synth import eeg as eeg_model
    from cinebrain.synth import stimuli as stim

    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        feats = stim.write_episode(Path(tmp) / "ep.mp4", stim.make_scenes(seconds, rng), seconds, 4.0, 16, 16,
                                   8000, rng)  # fmt: skip
    n_vol = int(seconds / 0.8) + 2
    return eeg_model.simulate_run(feats, 4.0, 1.6, n_vol, sfreq, np.random.default_rng(12),
                                  eeg_model.EEGScanParams(**params))  # fmt: skip


def snr_db(x: np.ndarray, reference: np.ndarray, clean: np.ndarray, span: slice) -> float:
    """EEG power over residual power (dB) on the 64 EEG channels in ``span`` of the samples."""
    resid = x[:64, span] - reference[:64, span]
    return float(10 * np.log10((clean[:, span].astype(np.float64) ** 2).sum() / (resid.astype(np.float64) ** 2).sum()))


def cleaned(sim: dict, ours, theirs) -> tuple[np.ndarray, float]:
    """The recording cleaned by ``ours(data)`` (in place, on the array) or ``theirs(raw)`` (in place, on an MNE
    Raw of it; one of them None), and the seconds it took."""
    import mne

    x = sim["data"].astype(np.float64)
    t0 = time.perf_counter()
    if ours is not None:
        ours(x)
    else:
        raw = mne.io.RawArray(x, mne.create_info(sim["ch_names"], sim["sfreq"], ["eeg"] * 64 + ["ecg"]), verbose="error")
        theirs(raw)
        x = raw._data  # noqa: SLF001
    return x, time.perf_counter() - t0


def gradient_rows(seconds: float, ppm: float) -> list[str]:
    from cinebrain.eeg.gradient import remove_gradient, remove_gradient_mne

    full = simulate(seconds, 1000.0, clock_ppm=ppm)
    ref = simulate(seconds, 1000.0, clock_ppm=ppm, gradient_uv=0.0)["data"]
    markers = full["markers"]
    inner = slice(int(markers[20]), int(markers[-20]))
    whole = slice(int(markers[0]), int(markers[-1]) + 800)
    rows = [f"  raw recording                  interior {snr_db(full['data'], ref, full['clean'], inner):6.1f} dB"]
    methods = {"aas": (lambda x: remove_gradient(x, markers, n_template=21, n_jobs=2), None),
               "mne_aas": (None, lambda raw: remove_gradient_mne(raw, markers, n_template=21))}  # fmt: skip
    for name, (ours, theirs) in methods.items():
        x, dt = cleaned(full, ours, theirs)
        rows.append(f"  gradient {name:8s} ({ppm:g} ppm)   interior {snr_db(x, ref, full['clean'], inner):6.1f} dB, "
                    f"whole scan {snr_db(x, ref, full['clean'], whole):6.1f} dB, {dt:6.1f} s")  # fmt: skip
    return rows


def bcg_rows(seconds: float) -> list[str]:
    from cinebrain.eeg.bcg import detect_r_peaks, remove_bcg, remove_bcg_mne

    sim = simulate(seconds, 1000.0, gradient_uv=0.0)
    ref = simulate(seconds, 1000.0, gradient_uv=0.0, bcg_uv=0.0)["data"]
    peaks = detect_r_peaks(sim["data"][64].astype(np.float64), 1000.0)
    inner = slice(int(peaks[20]), int(peaks[-20]))
    eeg = np.arange(64)
    rows = [f"  gradient-free recording        interior {snr_db(sim['data'], ref, sim['clean'], inner):6.1f} dB"]
    methods = {"average": (lambda x: remove_bcg(x, peaks, 1000.0, method="average", n_template=21, channels=eeg,
                                                n_jobs=2), None),
               "mne_pca_obs": (None, lambda raw: remove_bcg_mne(raw, peaks, n_obs=3, picks=eeg))}  # fmt: skip
    for name, (ours, theirs) in methods.items():
        x, dt = cleaned(sim, ours, theirs)
        rows.append(f"  pulse {name:12s}             interior {snr_db(x, ref, sim['clean'], inner):6.1f} dB, {dt:6.1f} s")
    return rows


def rate_rows(seconds: float) -> list[str]:
    from cinebrain.eeg.gradient import remove_gradient

    full = simulate(seconds, 1000.0)
    ref = simulate(seconds, 1000.0, gradient_uv=0.0)["data"]
    rows = []
    for step in (1, 4):
        x, r, clean = (a[:, ::step].astype(np.float64) for a in (full["data"], ref, full["clean"]))
        markers = np.round(full["vol_onsets"] / step).astype(np.int64)
        remove_gradient(x, markers, n_template=21, n_jobs=2)
        inner = slice(int(markers[20]), int(markers[-20]))
        rows.append(f"  aas at {1000 / step:5.0f} Hz                   interior {snr_db(x, r, clean, inner):6.1f} dB")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1078.4, help="film length (1078.4 s -> 1,350 volumes)")
    args = ap.parse_args()
    print(f"eeg methods bench: 64 EEG + ECG, {args.seconds:.0f} s at 1,000 Hz, gradient 2 mV (~100x the EEG); "
          "EEG/residual power, dB (higher is better)")  # fmt: skip
    for row in gradient_rows(args.seconds, 25.0) + gradient_rows(args.seconds, 0.0)[1:]:
        print(row)
    for row in bcg_rows(args.seconds):
        print(row)
    for row in rate_rows(args.seconds):
        print(row)


if __name__ == "__main__":
    main()
