"""The per-clip betas adapter: event-related datasets released as one GLM beta vector per video and subject.

BOLD Moments (BMD) and the Human Actions Dataset (HAD), which Brain Netflix trains on, show short videos (3 s,
2 s) in a rapid event-related design and release a beta vector per video (per repeat) rather than a time
series.  Their releases differ in format (BMD: pickled arrays of fsLR-32k vertices; HAD: CIFTI); this adapter
reads one layout that either converts to, on the 91k grayordinates the ROI sets index::

    stimuli/<video>.mp4                         every video (one clip each)
    sub-01/sub-01_betas.npy                     float32 (rows, 91282): one beta vector per row
    sub-01/sub-01_betas.tsv                     a row per row of the .npy: video, split (train/test), repeat

(the three patterns are ``dataset.betas``; ``repeat`` is optional: 1).  The inventory gets a row per table row:
``run`` numbers them 1.. per subject, ``beta_row`` is the row of the values, ``episode`` the video (so each
video is its own one-clip episode: ``stimuli.clip_seconds`` is the videos' length), ``dtseries`` the values
file, ``n_volumes`` 1, ``onset`` 0 — the lag is already in the GLM.  The split is the table's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import setting


@dataclass(frozen=True)
class BetasSettings:
    """The per-clip betas layout (``dataset.betas``; used when ``dataset.adapter`` is betas)."""

    values: str = setting("sub-{subject}/sub-{subject}_betas.npy", "a subject's beta vectors, relative to the root: a "
                          "float32 .npy of (rows, 91282) grayordinates", minLength=1)  # fmt: skip
    table: str = setting("sub-{subject}/sub-{subject}_betas.tsv", "a subject's table, a line per row of the values: "
                         "video, split (train/test), repeat (optional)", minLength=1)  # fmt: skip
    film: str = setting("stimuli/{video}.mp4", "a video's file, relative to the root", minLength=1)


def _subjects(root: Path, st: BetasSettings) -> list[str]:
    """The subject labels whose table exists (the pattern's {subject} read back from the files)."""
    import re

    head, _, tail = st.table.partition("{subject}")
    regex = re.compile(re.escape(head) + r"(?P<s>[A-Za-z0-9]+)" + re.escape(tail).replace(r"\{subject\}", "(?P=s)") + r"\Z")
    from . import matching_files

    return sorted(m["s"] for _, m in matching_files(root, regex))


def build_inventory(root, options, settings: BetasSettings | None = None) -> pd.DataFrame:
    """The inventory of a per-clip betas dataset under ``root`` (module docstring).  Raises
    :class:`cinebrain.bids.BIDSDatasetError` listing every problem (file, problem, fix); writes nothing."""
    from ..bids import COLUMNS, BIDSDatasetError, duplicate_problems
    from ..fmri.grayordinates import N_GRAYORDINATES
    from ..stimuli import media_info

    st = settings or BetasSettings()
    root = Path(root)
    subjects = _subjects(root, st) if root.is_dir() else []
    if not subjects:
        raise BIDSDatasetError(root, [(str(root), f"no subject's table matches dataset.betas.table '{st.table}'",
                                       "point dataset.bids_root at the dataset's folder, or set dataset.betas to its "
                                       "layout")])  # fmt: skip
    problems: list[tuple[str, str, str]] = []
    films: dict[str, float | None] = {}
    rows = []
    for sub in subjects:
        table_rel, values_rel = st.table.format(subject=sub), st.values.format(subject=sub)
        table_path, values_path = root / table_rel, root / values_rel
        table = pd.read_csv(table_path, sep="\t", dtype={"video": str})
        missing = [c for c in ("video", "split") if c not in table]
        bad_split = sorted(set(table["split"].astype(str)) - {"train", "test"}) if "split" in table else []
        if missing or bad_split:
            problems.append((str(table_path), f"lacks the column(s) {', '.join(missing)}" if missing else
                             f"split values {bad_split} are not train or test",
                             "give the table the columns video, split (train or test) and optionally repeat"))  # fmt: skip
            continue
        n_values = None
        if not values_path.exists():
            problems.append((str(values_path), f"missing: sub-{sub}'s table lists {len(table)} clips", "add the beta "
                             "vectors (a float32 .npy of rows x 91282), or set dataset.betas.values"))  # fmt: skip
        else:
            try:
                values = np.load(values_path, mmap_mode="r")
                n_values = values.shape[0]
                if values.ndim != 2 or values.shape[1] != N_GRAYORDINATES:
                    problems.append((str(values_path), f"shape {values.shape}, not (rows, {N_GRAYORDINATES}) grayordinates",
                                     "resample the betas to the 91k grayordinates (fsLR-32k + subcortex)"))  # fmt: skip
                elif n_values != len(table):
                    problems.append((str(values_path), f"{n_values} beta rows but {table_path.name} lists {len(table)} "
                                     f"clips: the clips from row {min(n_values, len(table)) + 1} on have no betas (or "
                                     "no table line)", "write a table line per row of the values, in the same order"))  # fmt: skip
                else:
                    # in blocks: a BMD subject's values are gigabytes
                    empty = np.concatenate([b + np.flatnonzero(~np.isfinite(np.asarray(values[b : b + 256])).any(1))
                                            for b in range(0, n_values, 256)] or [np.zeros(0, int)])  # fmt: skip
                    if len(empty):
                        videos = table["video"].iloc[empty].tolist()
                        problems.append((str(values_path), f"{len(empty)} clip(s) have no finite beta (all NaN): "
                                         f"{', '.join(videos[:5])}{' ...' if len(videos) > 5 else ''}",
                                         "remove their table lines and rows, or re-estimate their betas"))  # fmt: skip
            except (ValueError, OSError) as exc:
                problems.append((str(values_path), f"cannot be read as a .npy array ({exc})", "re-copy the file"))
        for i, line in table.iterrows():
            video = str(line["video"])
            film_rel = st.film.format(video=video, subject=sub)
            if video not in films:
                films[video] = None
                if not (root / film_rel).exists():
                    problems.append((str(table_path), f"lists video {video}, whose file {root / film_rel} is missing",
                                     "add the video, or set dataset.betas.film to where the videos are"))  # fmt: skip
                else:
                    try:
                        films[video] = media_info(root / film_rel)[0]
                    except Exception as exc:
                        problems.append((str(root / film_rel), f"cannot read the video ({type(exc).__name__}: {exc})",
                                         "re-copy or re-encode it"))  # fmt: skip
            repeat = int(line["repeat"]) if "repeat" in table and pd.notna(line["repeat"]) else 1
            rows.append({
                "subject": sub, "session": None, "task": options.task or "movie", "run": int(i) + 1, "repeat": repeat,
                "bold": "", "dtseries": values_rel, "eeg": "", "events": "", "stimulus": film_rel, "episode": video,
                "TR": np.nan, "n_volumes": 1, "onset": 0.0, "stimulus_duration": films[video], "played_duration": np.nan,
                "eeg_sfreq": np.nan, "n_markers": -1, "modalities": "fmri", "beta_row": int(i), "split": line["split"],
            })  # fmt: skip
    df = pd.DataFrame(rows)
    if len(df):
        both = df.groupby("episode")["split"].nunique()
        for video in both[both > 1].index[:5]:
            problems.append((f"dataset.betas.table of {', '.join(sorted(set(df.loc[df['episode'] == video, 'subject'])))}",
                             f"video {video} is train for one subject and test for another: its clips would leak",
                             "give each video one split across subjects"))  # fmt: skip
        problems += duplicate_problems(root, df.drop_duplicates("dtseries"), options)
    if problems:
        raise BIDSDatasetError(root, problems)
    for col in ("run", "repeat", "n_volumes", "n_markers", "beta_row"):
        df[col] = df[col].astype("int64")
    return df[COLUMNS].reset_index(drop=True)


def dataset_files(root, settings: BetasSettings | None = None) -> list[str]:
    """Every file the betas inventory reads: the subjects' tables and values, and the videos they list."""
    st = settings or BetasSettings()
    root = Path(root)
    out = []
    for sub in _subjects(root, st) if root.is_dir() else []:
        table = root / st.table.format(subject=sub)
        out += [str(table), str(root / st.values.format(subject=sub))]
        try:
            videos = pd.read_csv(table, sep="\t", dtype={"video": str})["video"]
        except (ValueError, KeyError):
            continue
        out += [str(root / st.film.format(video=v, subject=sub)) for v in videos.unique()]
    return list(dict.fromkeys(f for f in out if os.path.exists(f)))
