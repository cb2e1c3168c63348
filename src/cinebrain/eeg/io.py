"""Reading one run's EEG and checking it against the BOLD run and the configuration (rule ``eeg_preprocess``)."""

from __future__ import annotations

import numpy as np

from .settings import EEGSettings


class EEGInputError(ValueError):
    """An EEG recording (or config) that the chain cannot process; names the file, the problem and the fix."""




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
    if settings.gradient.enabled and len(markers) > 1:
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
    if settings.bcg.enabled and settings.ecg_channel not in raw.ch_names:
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
    if settings.gradient.enabled and sf < settings.gradient.min_sfreq:
        raise EEGInputError(
            f"{fpath}: recorded at {sf:g} Hz, below eeg.gradient.min_sfreq {settings.gradient.min_sfreq:g} Hz: the "
            "gradient artifact's kHz content aliases at this rate, so a template no longer matches it from volume to "
            "volume and much of it stays in the data (benchmarks/bench_eeg_methods.py measures how much); fix: use "
            "the recording at its acquisition rate (MR-compatible amplifiers record at 5 kHz), or, if the gradient "
            "was already removed (e.g. in BrainVision Analyzer), set eeg.gradient.enabled: false"
        )
    check_filters(settings, sf, where=str(fpath))


def check_filters(settings: EEGSettings, sfreq_in: float, where: str = "config") -> None:
    """The output rate must carry every requested filter edge (and the input rate the output rate)."""
    nyq = settings.sfreq / 2
    if settings.sfreq > sfreq_in:
        raise EEGInputError(f"{where}: eeg.sfreq {settings.sfreq:g} Hz is above the recording's rate {sfreq_in:g} Hz "
                            "(the chain downsamples, it never upsamples); fix: lower eeg.sfreq to at most "
                            f"{sfreq_in:g} Hz")  # fmt: skip
    problems = []
    for key, f in (("eeg.h_freq", settings.h_freq), ("eeg.l_freq", settings.l_freq)):
        if f is not None and f >= nyq:
            problems.append(f"{key} {f:g} Hz is not below the Nyquist frequency {nyq:g} Hz of eeg.sfreq")
    for f in settings.notch or []:
        if f >= nyq:
            problems.append(f"eeg.notch {f:g} Hz is not below the Nyquist frequency {nyq:g} Hz")
    ica = settings.ica
    if ica.enabled and ica.decim_sfreq > settings.sfreq:
        problems.append(f"eeg.ica.decim_sfreq {ica.decim_sfreq:g} Hz is above eeg.sfreq {settings.sfreq:g} Hz")
    if problems:
        raise EEGInputError(f"{where}: sampling rate too low for the requested filters: {'; '.join(problems)}; "
                            "fix: raise eeg.sfreq (up to the recording's rate) or lower the filter frequencies")  # fmt: skip
