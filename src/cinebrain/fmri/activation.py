"""Stimulus-activated voxel selection: the grayordinates whose response repeats when the film repeats.

NeuroClips and CineNeuron (seed 001, supplement A.1) select cc2017's voxels this way: for every training
segment, the voxel-wise correlation between the segment's repeats; Fisher's z of each correlation; a
one-sample t-test of the z values across segments (H1: mean z > 0); the voxels significant after
Bonferroni's correction (p < alpha / number of voxels tested) — 13,447 / 14,828 / 9,114 in the visual cortex
of cc2017's three subjects.  With more than two repeats a segment's z is the mean of its repeat pairs' z.

The series compared are a run's film volumes, lagged: ``FirstStimulusVolume`` onward (the normalised run's
sidecar) for the film's length in volumes; repeats of a segment have the same film, so the volumes
correspond.  Only training runs are read: the test set never chooses the voxels it is scored on.

The selection is an ROI source beside the HCP-MMP sets: rule ``fmri_activation`` writes it per subject,
``data_build`` adds it to the dataset's column table as the set ``activated``, and a method takes it with
``roi_sets: [activated]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from ..settings import setting

#: the name of the selection as an ROI set of the clip dataset's column table
SET_NAME = "activated"


class ActivationError(ValueError):
    """The runs cannot give a selection (too few segments or repeats)."""


@dataclass(frozen=True)
class ActivationSettings:
    """Stimulus-activated voxel selection (``fmri.activation``; rule fmri_activation)."""

    enabled: bool = setting(False, "select each subject's stimulus-activated voxels from its training repeats (the "
                            "ROI set 'activated'; NeuroClips/CineNeuron on cc2017)")  # fmt: skip
    within: tuple[str, ...] = setting(("visual",), "the extracted ROI sets the selection is made within (the papers: "
                                      "the visual cortex)", minItems=1, items={"type": "string"})  # fmt: skip
    alpha: float = setting(0.05, "family-wise error rate, Bonferroni-corrected over the voxels tested",
                           exclusiveMinimum=0, exclusiveMaximum=1)  # fmt: skip


def film_volumes(series: np.ndarray, sidecar: dict, film_seconds: float) -> np.ndarray:
    """The lagged film volumes of a run's (T, V) series: ``FirstStimulusVolume`` onward, the film's length."""
    first = int(sidecar["FirstStimulusVolume"])
    n = int(round(film_seconds / float(sidecar["RepetitionTime"])))
    return series[first : min(first + n, series.shape[0])]


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Pearson correlation of two (T, V) arrays (0 where a column is constant)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (a * b).sum(0) / den, 0.0)
    return r


def segment_z(repeats: list[np.ndarray]) -> np.ndarray:
    """(V,) Fisher z of the voxel-wise correlation between a segment's repeats (mean over repeat pairs)."""
    n = min(len(x) for x in repeats)
    pairs = [np.arctanh(np.clip(_pearson(a[:n].astype(np.float64), b[:n].astype(np.float64)), -0.999999, 0.999999))
             for a, b in combinations(repeats, 2)]  # fmt: skip
    return np.mean(pairs, axis=0)


def select_activated(z: np.ndarray, alpha: float = 0.05) -> dict:
    """One-sample t-test (scipy) of the (S, V) z values across segments, one-sided, Bonferroni over V.

    Returns ``mask`` (V,) bool, ``t`` and ``p`` (V,), and the ``threshold`` p value (alpha / V)."""
    from scipy.stats import ttest_1samp

    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ActivationError(f"the selection tests across training segments and needs at least 2 of them, got "
                              f"{z.shape[0] if z.ndim == 2 else 0}; fix: turn fmri.activation off for this dataset")  # fmt: skip
    res = ttest_1samp(z, 0.0, axis=0, alternative="greater")
    t, p = np.nan_to_num(res.statistic, nan=0.0), np.nan_to_num(res.pvalue, nan=1.0)
    threshold = alpha / z.shape[1]
    return {"mask": p < threshold, "t": t, "p": p, "threshold": threshold}


def activation_subject(subject: str, *, inventory, runs: dict, columns, settings: dict | ActivationSettings, out,
                       figure=None) -> dict:  # fmt: skip
    """Rule ``fmri_activation``: the subject's selection from its training runs (``runs``: {run: normalised
    ``desc-roi_bold.npy``}, the sidecar beside each), written to ``out`` (JSON) with an optional figure."""
    import sys

    import pandas as pd

    from ..atomic import atomic_files
    from ..settings import build
    from .rois import column_subset

    st = settings if isinstance(settings, ActivationSettings) else build(ActivationSettings, dict(settings),
                                                                          "fmri.activation")  # fmt: skip
    inv = pd.read_parquet(inventory)
    rows = inv[(inv["subject"] == subject) & (inv["split"] == "train")]
    tested = column_subset(columns, st.within)
    by_segment: dict[str, list[np.ndarray]] = {}
    for r in rows.itertuples():
        path = Path(runs[int(r.run)])
        side = json.loads(path.with_suffix(".json").read_text())
        data = np.load(path, mmap_mode="r")
        by_segment.setdefault(str(r.episode), []).append(film_volumes(data, side, float(r.stimulus_duration))[:, tested])
    repeated = {s: v for s, v in by_segment.items() if len(v) >= 2}
    if len(repeated) < 2:
        raise ActivationError(f"{inventory}: sub-{subject} has {len(repeated)} training episode(s) seen at least twice "
                              f"({', '.join(f'{s}: {len(v)}' for s, v in by_segment.items())}); the selection correlates "
                              "repeats of at least 2 segments; fix: set fmri.activation.enabled: false for a dataset "
                              "without repeated training films")  # fmt: skip
    z = np.stack([segment_z(v) for v in repeated.values()])
    res = select_activated(z, st.alpha)
    selected = tested[res["mask"]]
    doc = {"Subject": subject, "Within": list(st.within), "Alpha": st.alpha, "Correction": "bonferroni",
           "Segments": sorted(repeated), "Repeats": {s: len(v) for s, v in repeated.items()},
           "Tested": int(len(tested)), "Selected": int(len(selected)), "PThreshold": res["threshold"],
           "MeanZ": float(z.mean()), "Columns": selected.tolist(), "t": np.round(res["t"], 4).tolist()}  # fmt: skip
    with atomic_files(out) as tmp:
        tmp.write_text(json.dumps(doc))
    print(f"sub-{subject}: {len(selected)} of {len(tested)} columns of {', '.join(st.within)} activated (one-sided t-test "
          f"over {len(repeated)} segments, Bonferroni p < {res['threshold']:.2e})", file=sys.stderr)  # fmt: skip
    if not len(selected):
        print(f"warning: sub-{subject} has no stimulus-activated column: a method given roi_sets [activated] stops; "
              "more or longer repeated training segments give the test power (df = segments - 1)", file=sys.stderr)  # fmt: skip
    if figure:
        plot_activation(doc, figure)
    return doc


def plot_activation(doc: dict, out) -> None:
    """The t values of the tested columns with the Bonferroni threshold (a reportlet of rule fmri_activation)."""
    from scipy.stats import t as student

    from ..plotting import pyplot

    plt = pyplot()
    t = np.asarray(doc["t"])
    dof = len(doc["Segments"]) - 1
    cut = float(student.isf(doc["PThreshold"], dof))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.hist(t, bins=80, color="0.6")
    ax.axvline(cut, color="C3", lw=1.5, label=f"Bonferroni threshold t = {cut:.1f} (p < {doc['PThreshold']:.1e})")
    ax.set(xlabel=f"t of the repeats' Fisher z across {len(doc['Segments'])} training segments (df {dof})",
           ylabel="columns", title=f"sub-{doc['Subject']}: {doc['Selected']} of {doc['Tested']} columns of "
           f"{', '.join(doc['Within'])} stimulus-activated")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def add_activated_set(columns_json: dict, activation: dict) -> dict:
    """A copy of a column table (``roi_columns.json``'s document) in which the activation's columns also
    belong to the set :data:`SET_NAME` (what ``data_build`` writes into a subject's dataset)."""
    doc = json.loads(json.dumps(columns_json))
    chosen = set(activation["Columns"])
    sets = doc["Columns"]["roi_sets"]
    doc["Columns"]["roi_sets"] = [f"{m}+{SET_NAME}" if i in chosen else m for i, m in enumerate(sets)]
    doc["RoiSets"] = [*doc["RoiSets"], {"name": SET_NAME, "file": None,
                                        "source": f"stimulus-activated columns of {', '.join(activation['Within'])} "
                                        f"(sub-{activation['Subject']}, rule fmri_activation)"}]  # fmt: skip
    return doc
