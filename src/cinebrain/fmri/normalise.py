"""Normalisation of ROI time series, stimulus-to-volume alignment with the haemodynamic lag, and output.

Normalisation (``fmri.normalise``):

``run``
    z-score every column within each run (CineBrain, seed 000 section 3.2).
``subject``
    z-score every column over the concatenated runs of a subject (the released CineBrain code).
``none``
    keep the (cleaned) signal as is.

A column whose SD is 0 over the normalisation window (outside the field of view, or constant after
cleaning) cannot be z-scored: it is set to 0 and listed in the sidecar (``ConstantColumns``); columns
that held NaN/inf in the file were zeroed at extraction and are listed too (``NonFiniteColumns``).

Alignment: the film starts ``StimulusOnset`` seconds after the first volume (events.tsv) and the BOLD
response lags by ``HaemodynamicLag`` seconds (4 s in CineBrain), so stimulus time ``t`` (seconds from
the film's start) is seen in volume ``round((StimulusOnset + HaemodynamicLag + t) / RepetitionTime)``.
The sidecar stores these numbers and ``FirstStimulusVolume``, the volume of ``t = 0``; a 4-s clip ``k``
then takes volumes ``FirstStimulusVolume + 5k ... + 5k + 4`` at TR 0.8 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NORMALISE_MODES = ("run", "subject", "none")
#: Relative SD under which a column counts as constant (float32 data around 10^4).
CONSTANT_RTOL = 1e-6


def column_stats(arrays) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of every column over the concatenation of ``arrays`` (streamed, float64)."""
    n, s, ss = 0, None, None
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        s = a.sum(0) if s is None else s + a.sum(0)
        ss = (a**2).sum(0) if ss is None else ss + (a**2).sum(0)
        n += a.shape[0]
    mean = s / n
    var = np.maximum(ss / n - mean**2, 0.0)
    return mean, np.sqrt(var)


def zscore(data: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-scored float32 data and the indices of constant columns (set to 0)."""
    scale = np.maximum(np.abs(mean), 1.0)
    constant = sd <= CONSTANT_RTOL * scale
    safe = np.where(constant, 1.0, sd)
    out = ((data - mean) / safe).astype(np.float32)
    out[:, constant] = 0.0
    return out, np.flatnonzero(constant)


def alignment(onset: float, tr: float, n_volumes: int, lag: float, stimulus_duration: float | None = None) -> dict:
    """The stimulus-to-volume alignment written to the sidecar (see the module docstring)."""
    if tr <= 0:
        raise ValueError(f"TR must be positive, got {tr}")
    start = (onset + lag) / tr
    first = int(round(start))
    out = {
        "RepetitionTime": float(tr),
        "NumberOfVolumes": int(n_volumes),
        "StimulusOnset": float(onset),
        "HaemodynamicLag": float(lag),
        "FirstStimulusVolume": first,
        "AlignmentResidual": round(float(start - first) * tr, 6) + 0.0,  # s; + 0.0 turns -0.0 into 0.0
        "VolumeOfStimulusTime": "round((StimulusOnset + HaemodynamicLag + t) / RepetitionTime)",
        "StimulusSecondsWithVolumes": round(max(0.0, (n_volumes - first) * tr), 6),
    }
    if stimulus_duration is not None:
        out["StimulusDuration"] = float(stimulus_duration)
    return out


def write_roi_timeseries(npy_path, data: np.ndarray, sidecar: dict) -> None:
    """Write ``(T, V)`` float32 ``.npy`` and its ``.json`` sidecar, each under a temporary name first."""
    from ..atomic import atomic_files

    npy_path = Path(npy_path)
    with atomic_files(npy_path, npy_path.with_suffix(".json")) as (tmp_npy, tmp_json):
        np.save(tmp_npy, np.ascontiguousarray(data, dtype=np.float32))
        tmp_json.write_text(json.dumps(sidecar, indent=1))


def normalise_runs(extracted: dict, mode: str, target) -> tuple[np.ndarray, dict]:
    """Normalise the run ``target`` of ``extracted`` ({run: path to its extracted .npy}).

    ``mode='subject'`` computes the statistics over every run in ``extracted``; ``'run'`` over ``target``
    only.  Returns the data and a JSON-ready report.
    """
    if mode not in NORMALISE_MODES:
        raise ValueError(f"fmri.normalise is '{mode}'; fix: use one of {', '.join(NORMALISE_MODES)}")
    data = np.load(extracted[target])
    if mode == "none":
        return data, {"Normalisation": "none", "ConstantColumns": []}
    if mode == "run":
        mean, sd = column_stats([data])
        window = [target]
    else:
        window = sorted(extracted)
        mean, sd = column_stats(np.load(extracted[r], mmap_mode="r") for r in window)
    out, constant = zscore(data, mean, sd)
    return out, {
        "Normalisation": {"run": "z-score per column within the run",
                          "subject": "z-score per column over the subject's concatenated runs"}[mode],
        "NormalisationRuns": [str(r) for r in window],
        "ConstantColumns": constant.tolist(),
    }  # fmt: skip


def normalise_run(
    subject: str, run: int, *, inventory, columns, info, runs, mode: str, hrf_lag: float, out
) -> dict:
    """Rule ``fmri_normalise``: normalise one run, then write ``desc-roi_bold.npy`` and its sidecar.

    ``runs`` are the extracted ``.npy`` files the statistics come from (their names carry ``_run-N_``).
    """
    import re
    import sys

    import pandas as pd

    inv = pd.read_parquet(inventory)
    row = inv[(inv["subject"] == subject) & (inv["run"] == int(run))]
    if row.empty:
        raise ValueError(f"{inventory}: no sub-{subject} run {run}; fix: re-run bids_inventory")
    row = row.iloc[0]
    extracted = {int(re.search(r"_run-(\d+)_", Path(p).name).group(1)): p for p in runs}
    data, norm = normalise_runs(extracted, mode, int(run))
    extraction = json.loads(Path(info).read_text())
    col_doc = json.loads(Path(columns).read_text())
    sidecar = {
        "Description": "ROI time series (volumes x columns) of one run, float32",
        "Subject": subject,
        "Run": int(run),
        "Episode": row["episode"],
        "Split": row["split"],
        "Shape": list(data.shape),
        **alignment(float(row["onset"]), float(row["TR"]), data.shape[0], float(hrf_lag),
                    None if pd.isna(row["stimulus_duration"]) else float(row["stimulus_duration"])),
        **norm,
        "NonFiniteColumns": extraction["NonFiniteColumns"],
        "ConfoundRegression": extraction["ConfoundRegression"],
        "Source": extraction["Source"],
        **col_doc,
    }  # fmt: skip
    if int(row["n_volumes"]) != data.shape[0]:
        raise ValueError(f"{runs[0]}: {data.shape[0]} volumes, but the inventory says {row['n_volumes']}; fix: "
                         "re-run fmri_extract")  # fmt: skip
    write_roi_timeseries(out, data, sidecar)
    print(f"sub-{subject} run {run}: {norm['Normalisation']}; {len(norm['ConstantColumns'])} constant and "
          f"{len(extraction['NonFiniteColumns'])} non-finite column(s) set to 0; first stimulus volume "
          f"{sidecar['FirstStimulusVolume']}", file=sys.stderr)  # fmt: skip
    return sidecar
