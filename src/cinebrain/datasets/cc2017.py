"""The cc2017 adapter: Wen et al. (2018)'s video-fMRI release read into the run inventory.

The release (Purdue's "Video-fMRI dataset", three subjects, TR 2 s, fMRI only) lays out, under its root::

    stimuli/seg1.mp4 ... seg18.mp4, test1.mp4 ... test5.mp4           the 8-min segment films
    subject1/fmri/seg1/cifti/seg1_1_Atlas.dtseries.nii               segment seg1, repeat 1 (91k CIFTI,
    subject1/fmri/seg1/cifti/seg1_2_Atlas.dtseries.nii               HCP's grayordinates)
    subject1/fmri/test1/cifti/test1_1_Atlas.dtseries.nii ... test1_10_Atlas.dtseries.nii

Training segments were seen twice, test segments ten times.  What the authors' processing code
(``cc2017`` release, ``fMRI processing``) does with the volumes: a training run (and test1) has 245
volumes, the first and the last 4 of which fall outside the 480-s film; the other test runs have 246, the
first 2 and the last 4 outside.  So a run is ``lead`` volumes, the film, then ``trailing_volumes`` volumes:
the film's onset is ``lead x TR`` after the first volume, with ``lead = n_volumes - trailing - film/TR``,
which must be one of ``lead_volumes`` — a run whose count fits no lead does not belong to its film.

What could not be confirmed from the documentation, and is configurable (``dataset.cc2017``): the file
names (``cifti``, ``film``: patterns with ``{subject}``, ``{segment}``, ``{repeat}``), the lead and
trailing volume counts, and that each film file holds exactly the scanned segment (no padding).

The inventory's rows: one per (subject, segment, repeat), ``run`` numbered 1.. per subject in
(segment, repeat) order, ``episode`` the segment (``seg1``, ``test3``), ``repeat`` the repeat, ``dtseries``
the CIFTI (relative to the root), no raw BOLD, no EEG (``modalities`` ``fmri``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import setting


@dataclass(frozen=True)
class Cc2017Settings:
    """The cc2017 release's layout and timing (``dataset.cc2017``; used when ``dataset.adapter`` is cc2017)."""

    cifti: str = setting("subject{subject}/fmri/{segment}/cifti/{segment}_{repeat}_Atlas.dtseries.nii",
                         "a run's 91k CIFTI, relative to the root: {subject} (digits), {segment} (e.g. seg1, "
                         "test3), {repeat} (digits)", minLength=1)  # fmt: skip
    film: str = setting("stimuli/{segment}.mp4", "a segment's film, relative to the root", minLength=1)
    lead_volumes: tuple[int, ...] = setting((1, 2), "volumes a run may have before its film starts (the release: "
                                            "1 in 245-volume runs, 2 in 246-volume runs)", minItems=1,
                                            items={"type": "integer", "minimum": 0})  # fmt: skip
    trailing_volumes: int = setting(4, "volumes after the film's end in every run (the release: 4)", minimum=0)


def _pattern_regex(pattern: str) -> re.Pattern:
    """A file-name pattern with {subject}/{segment}/{repeat} as a regex with named groups."""
    groups = {"subject": r"(?P<subject>\d+)", "segment": r"(?P<segment>[A-Za-z]+\d+)", "repeat": r"(?P<repeat>\d+)"}
    out, seen = "", set()
    for part in re.split(r"(\{\w+\})", pattern):
        name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
        if name in groups:
            out += groups[name] if name not in seen else f"(?P={name})"
            seen.add(name)
        else:
            out += re.escape(part)
    missing = {"subject", "segment", "repeat"} - seen
    if missing:
        raise ValueError(f"dataset.cc2017.cifti '{pattern}' lacks {', '.join(sorted(missing))}; fix: name every one of "
                         "{subject}, {segment}, {repeat} in it")  # fmt: skip
    return re.compile(out + r"\Z")


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def build_inventory(root, options, settings: Cc2017Settings | None = None) -> pd.DataFrame:
    """The inventory of a cc2017-layout release under ``root`` (see the module docstring); ``options``: the
    :class:`cinebrain.bids.InventoryOptions` (TR, split, duplicates).  Raises
    :class:`cinebrain.bids.BIDSDatasetError` listing every problem (file, problem, fix); writes nothing."""
    from ..bids import COLUMNS, BIDSDatasetError, duplicate_problems, split_episodes
    from ..fmri.grayordinates import open_dtseries
    from ..stimuli import media_info
    from . import matching_files

    st = settings or Cc2017Settings()
    root = Path(root)
    if not root.is_dir():
        raise BIDSDatasetError(root, [(str(root), "does not exist", "point dataset.bids_root at the cc2017 release "
                                       "folder (the one holding stimuli/ and subject1/)")])  # fmt: skip
    found = [(m["subject"], m["segment"], int(m["repeat"]), rel)
             for rel, m in matching_files(root, _pattern_regex(st.cifti))]  # fmt: skip
    if not found:
        raise BIDSDatasetError(root, [(str(root), f"no run matches dataset.cc2017.cifti '{st.cifti}'",
                                       "point dataset.bids_root at the release folder, or set dataset.cc2017.cifti "
                                       "to its file layout")])  # fmt: skip
    problems: list[tuple[str, str, str]] = []
    films: dict[str, tuple[float | None, str]] = {}
    rows = []
    found.sort(key=lambda x: (int(x[0]), _natural(x[1]), x[2]))
    run_of: dict[str, int] = {}
    for subject, segment, repeat, rel in found:
        sub = f"{int(subject):02d}"
        run_of[sub] = run_of.get(sub, 0) + 1
        path = root / rel
        film_rel = st.film.format(segment=segment, subject=subject)
        if segment not in films:
            film = root / film_rel
            duration = None
            if not film.exists():
                pass  # named below, for every run of the segment
            else:
                try:
                    duration = media_info(film)[0]
                except Exception as exc:
                    problems.append((str(film), f"cannot read the film ({type(exc).__name__}: {exc})",
                                     "re-copy the segment's film from the release"))  # fmt: skip
            films[segment] = (duration, film_rel)
        duration, _ = films[segment]
        if not (root / film_rel).exists():
            problems.append((str(path), f"segment {segment} (repeat {repeat}) has no film: {root / film_rel} is missing",
                             f"add {film_rel} from the release's stimuli, or set dataset.cc2017.film to where the films "
                             "are"))  # fmt: skip
        tr, n_volumes = np.nan, -1
        try:
            data, tr, _ = open_dtseries(path)
            n_volumes = int(data.shape[0])
        except (ValueError, OSError) as exc:
            problems.append((str(path), f"cannot be read as a CIFTI dense time series ({exc})",
                             "re-copy the file from the release"))  # fmt: skip
        if np.isfinite(tr) and abs(tr - options.tr) > options.tr_tolerance:
            problems.append((str(path), f"TR is {tr:g} s, not the configured dataset.tr = {options.tr:g} s",
                             "set dataset.tr: 2.0 (cc2017), or check the file"))  # fmt: skip
        onset = np.nan
        if duration is not None and n_volumes > 0 and np.isfinite(tr):
            film_volumes = int(round(duration / tr))
            lead = n_volumes - st.trailing_volumes - film_volumes
            if lead not in st.lead_volumes:
                lo, hi = min(st.lead_volumes), max(st.lead_volumes)
                need = f"{film_volumes + st.trailing_volumes + lo}" + (f"-{film_volumes + st.trailing_volumes + hi}"
                                                                       if hi > lo else "")  # fmt: skip
                problems.append((str(path), f"{n_volumes} volumes, but its film {film_rel} lasts {duration:.1f} s "
                                 f"({film_volumes} volumes of {tr:g} s): with {', '.join(map(str, st.lead_volumes))} "
                                 f"lead and {st.trailing_volumes} trailing volumes the run should have {need}; the run "
                                 "and the film do not belong together",
                                 "check that the file is this segment's repeat and the film is the release's; if the "
                                 "release pads differently, set dataset.cc2017.lead_volumes / trailing_volumes"))  # fmt: skip
            else:
                onset = lead * tr
        rows.append({
            "subject": sub, "session": None, "task": options.task or "movie", "run": run_of[sub], "repeat": repeat,
            "bold": "", "dtseries": rel, "eeg": "", "events": "", "stimulus": film_rel, "episode": segment,
            "TR": float(tr), "n_volumes": n_volumes, "onset": onset, "stimulus_duration": duration,
            "played_duration": np.nan, "eeg_sfreq": np.nan, "n_markers": -1, "modalities": "fmri",
            "beta_row": -1,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    try:
        df["split"] = df["episode"].map(split_episodes(df["episode"], options.test_episodes))
    except ValueError as exc:
        problems.append(("config: split.test_episodes", str(exc).split("; fix: ")[0], str(exc).split("; fix: ")[-1]))
    problems += duplicate_problems(root, df, options)
    if problems:
        raise BIDSDatasetError(root, problems)
    for col in ("run", "repeat", "n_volumes", "n_markers", "beta_row"):
        df[col] = df[col].astype("int64")
    return df[COLUMNS].reset_index(drop=True)


def dataset_files(root, settings: Cc2017Settings | None = None) -> list[str]:
    """Every file of the release the workflow reads: the runs' CIFTIs and their segments' films (the
    inventory's inputs, so that a file replaced in place reruns it)."""
    from . import matching_files

    st = settings or Cc2017Settings()
    root = Path(root)
    runs, films = [], set()
    for rel, m in matching_files(root, _pattern_regex(st.cifti)):
        runs.append(str(root / rel))
        films.add(str(root / st.film.format(segment=m["segment"], subject=m["subject"])))
    return runs + sorted(f for f in films if os.path.exists(f))
