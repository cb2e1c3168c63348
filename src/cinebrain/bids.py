"""Read and validate a BIDS EEG-fMRI film dataset into an inventory (one row per subject/run).

The inventory (``results/bids/inventory.parquet``, DESIGN.md item 1) has the columns::

    subject, session, task, run, repeat, bold, dtseries, eeg, events, stimulus, episode, TR, n_volumes,
    onset, stimulus_duration, played_duration, eeg_sfreq, n_markers, modalities, split

Paths (``bold``, ``eeg``, ``events``, ``stimulus``) are relative to the BIDS root, so that the table stays
valid when the dataset moves; join them with the configured root.  ``onset`` is the film onset in
seconds after the first volume and ``played_duration`` how long the film was shown in that run (both from
``events.tsv``; ``played_duration`` is NaN where events.tsv gives no duration); ``stimulus_duration`` is
the length of the film file.  ``split`` is ``train`` or ``test``, by episode.  ``repeat`` counts a
subject's viewings of an episode (1, 2, ... in run order), ``modalities`` is ``fmri+eeg`` or ``fmri``
(``dataset.modalities: [fmri]`` reads no EEG: ``eeg`` is empty), and ``dtseries`` is empty here: the
grayordinate series come from fMRIPrep (``beta_row`` -1: a time series, not a beta vector).  Other
layouts have adapters (:mod:`cinebrain.datasets`).

Every problem found is collected and raised together as one :class:`BIDSDatasetError` whose message
names each file, what is wrong with it, and how to fix it.  Nothing is written when there is a problem.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets.betas import BetasSettings
from .datasets.cc2017 import Cc2017Settings
from .settings import section, setting

COLUMNS = [
    "subject", "session", "task", "run", "repeat", "bold", "dtseries", "eeg", "events", "stimulus", "episode", "TR",
    "n_volumes", "onset", "stimulus_duration", "played_duration", "eeg_sfreq", "n_markers", "modalities", "beta_row",
    "split",
]  # fmt: skip


class BIDSDatasetError(ValueError):
    """One or more problems in a BIDS dataset; ``problems`` lists them as (file, problem, fix)."""

    def __init__(self, root, problems: list[tuple[str, str, str]]):
        self.root = str(root)
        self.problems = problems
        lines = [f"BIDS dataset {root} has {len(problems)} problem(s); nothing was written:"]
        for f, what, fix in problems:
            lines.append(f"  - {f}: {what}\n    fix: {fix}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class DatasetSettings:
    """The raw dataset: where it is and what every run must match."""

    bids_root: str = setting("", "root of the raw BIDS dataset", required=True)
    fmriprep_dir: str = setting("", "root of the fMRIPrep derivatives (CIFTI 91k dtseries and confounds)",
                                required=True)  # fmt: skip
    task: str = setting("movie", "BIDS task label of the film runs", required=True, pattern="^[a-zA-Z0-9]+$")
    tr: float = setting(0.8, "repetition time (s) every BOLD run must have", required=True, exclusiveMinimum=0)
    volume_marker: str = setting("R128", "description of the scanner volume marker in the EEG (.vmrk), e.g. R128",
                                 required=True, minLength=1)  # fmt: skip
    allow_duplicates: tuple[str, ...] = setting(
        (), "data files (relative to bids_root) accepted although byte-identical to another run's: the "
        "inventory stops on duplicates otherwise", items={"type": "string"})  # fmt: skip
    adapter: str = setting("bids", "the layout of the raw data (cinebrain.datasets): bids (BIDS, EEG optional), "
                           "cc2017 (Wen et al. 2018's release: CIFTI per segment and repeat) or betas (a beta vector "
                           "per video: BOLD Moments, Human Actions)", enum=("bids", "cc2017", "betas"))  # fmt: skip
    modalities: tuple[str, ...] = setting(("fmri", "eeg"), "what every run has and the workflow reads: fmri, eeg "
                                          "(the cc2017 adapter: fmri only)", minItems=1, uniqueItems=True,
                                          items={"enum": ["fmri", "eeg"]})  # fmt: skip
    cc2017: Cc2017Settings = section(Cc2017Settings)
    betas: BetasSettings = section(BetasSettings)


@dataclass(frozen=True)
class SplitSettings:
    """The train/test split by episode (a clip of a test episode is never in a training set)."""

    test_episodes: int | tuple[str, ...] = setting(
        1, "the test set, by episode - the last N episodes in natural order, or a list of ids", required=True,
        oneOf=[{"type": "integer", "minimum": 0},
               {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}])  # fmt: skip


@dataclass
class InventoryOptions:
    """What the dataset must match (the ``dataset`` and ``split`` sections of the workflow config).

    Parameters
    ----------
    tr : float
        Expected repetition time (s); every BOLD run must have it.
    task : str | None
        BIDS task label to read; ``None`` reads every task.
    volume_marker : str
        Description of the scanner volume marker in the EEG (``R128`` matches ``Response/R128``).
    test_episodes : int | list[str]
        The test set: the last N episodes in natural order, or an explicit list of episode ids.
    tr_tolerance : float
        Allowed |TR - tr| in seconds.
    allow_duplicates : list[str]
        Files (relative to the BIDS root) accepted although byte-identical to another run's file.
    derivatives : str | None
        Precomputed fMRIPrep derivatives folder: its runs' dtseries are checked for duplicates too.
    modalities : list[str]
        What every run must have: ``fmri`` and ``eeg`` (simultaneous recordings), or ``fmri`` alone (the EEG
        files, if any, are not read).
    hash_cache : str | None
        JSON file caching file hashes by (path, size, mtime) between runs (None: no cache).
    """

    tr: float = 0.8
    task: str | None = None
    volume_marker: str = "R128"
    test_episodes: int | list[str] = 1
    tr_tolerance: float = 1e-3
    allow_duplicates: list[str] = field(default_factory=list)
    derivatives: str | None = None
    hash_cache: str | None = None
    modalities: list[str] = field(default_factory=lambda: ["fmri", "eeg"])


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def split_episodes(episodes, test_episodes) -> dict[str, str]:
    """Episode -> 'train'/'test'.  ``test_episodes``: last N in natural order, or an explicit list."""
    eps = sorted(set(episodes), key=_natural_key)
    if isinstance(test_episodes, int):
        if not 0 <= test_episodes < len(eps):
            raise ValueError(
                f"split.test_episodes = {test_episodes} but the dataset has {len(eps)} episode(s) {eps}; "
                "fix: choose fewer test episodes so that at least one remains for training"
            )
        test = set(eps[len(eps) - test_episodes :]) if test_episodes else set()
    else:
        missing = sorted(set(test_episodes) - set(eps))
        if missing:
            raise ValueError(
                f"split.test_episodes names episode(s) {missing} that no run shows (episodes: {eps}); "
                "fix: correct the list in the config"
            )
        test = set(test_episodes)
    return {e: ("test" if e in test else "train") for e in eps}


def _check_nifti(path: Path, problems) -> int | None:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        if len(img.shape) != 4:
            problems.append((str(path), f"BOLD image is {len(img.shape)}-D, expected 4-D", "export the run as a 4-D NIfTI"))
            return None
        np.asarray(img.dataobj[..., -1])  # reading the last volume detects truncation
        return int(img.shape[3])
    except Exception as exc:  # nibabel raises several types for corrupt files
        problems.append((str(path), f"corrupt or truncated NIfTI ({type(exc).__name__}: {exc})",
                         "re-export or re-copy the file from the scanner data"))  # fmt: skip
        return None


def _check_eeg(path: Path, marker: str, problems) -> tuple[float, int] | None:
    import mne

    try:
        raw = mne.io.read_raw_brainvision(str(path), preload=False, verbose="error")
    except Exception as exc:
        problems.append((str(path), f"cannot read BrainVision EEG ({type(exc).__name__}: {exc})",
                         "check that the .vhdr, .vmrk and .eeg files belong together and are complete"))  # fmt: skip
        return None
    n_ch, n_times = len(raw.ch_names), raw.n_times
    data_file = Path(raw.filenames[0])
    fmt = raw._raw_extras[0].get("fmt", None) if raw._raw_extras else None
    nbytes = {"short": 2, "int": 4, "single": 4, "double": 8}.get(fmt, None)
    size = data_file.stat().st_size if data_file.exists() else 0
    if nbytes is not None and size != n_ch * n_times * nbytes or size == 0:
        problems.append((str(data_file), f"EEG data file holds {size} bytes, not a whole number of "
                         f"{n_ch}-channel samples: it is truncated or corrupt",
                         "re-copy the recording's .eeg file"))  # fmt: skip
        return None
    # the marker file itself: MNE drops the annotations that lie past the end of the data, so that a recording
    # cut at a whole sample would otherwise show up as a marker-count mismatch, not as a truncated file
    try:
        ann = mne.read_annotations(str(path.with_suffix(".vmrk")), sfreq=raw.info["sfreq"])
    except (OSError, ValueError):  # a header naming another marker file: fall back to what the reader kept
        ann = raw.annotations
    is_marker = np.array([d == marker or d.endswith("/" + marker) for d in ann.description], bool)
    onsets = np.asarray(ann.onset)[is_marker]
    sfreq = float(raw.info["sfreq"])
    if len(onsets) and onsets.max() * sfreq >= n_times:
        beyond = int((onsets * sfreq >= n_times).sum())
        problems.append((str(data_file), f"{beyond} of the {len(onsets)} '{marker}' volume markers lie beyond the "
                         f"end of the EEG data ({n_times / sfreq:.1f} s recorded, the last marker at "
                         f"{onsets.max():.1f} s): the .eeg file is truncated",
                         "re-copy the recording's complete .eeg file"))  # fmt: skip
        return None
    return sfreq, int(is_marker.sum())


def dataset_files(bids_root, derivatives=None) -> list[str]:
    """Every file of a BIDS dataset that the workflow reads (the workflow's inputs of the raw data): all files
    under ``bids_root`` but derivatives/ and hidden ones, and the 91k dense time series under ``derivatives``."""
    root = Path(bids_root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (Path(dirpath) == root and d == "derivatives"))
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
    if derivatives and Path(derivatives).is_dir():
        out += sorted(str(p) for p in Path(derivatives).rglob("*_space-fsLR_den-91k_bold.dtseries.nii"))
    return out


def build_inventory(bids_root, options: InventoryOptions | None = None) -> pd.DataFrame:
    """Inventory of every BOLD run of ``bids_root``, validated (see module docstring).

    Raises
    ------
    BIDSDatasetError
        listing every problem found (file, problem, fix).
    """
    from bids import BIDSLayout

    from .stimuli import media_info

    opts = options or InventoryOptions()
    root = Path(bids_root)
    problems: list[tuple[str, str, str]] = []
    if not (root / "dataset_description.json").exists():
        raise BIDSDatasetError(root, [(str(root / "dataset_description.json"), "missing",
                                       "point dataset.bids_root at the root of a BIDS dataset")])  # fmt: skip
    # pybids reads every sidecar while indexing: a garbled JSON would stop it with a raw decoder error that
    # names no file, so every JSON of the dataset is parsed first (milliseconds: sidecars are small)
    for js in sorted(root.rglob("*.json")):
        if "derivatives" in js.relative_to(root).parts:
            continue
        try:
            json.loads(js.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append((str(js), f"is not valid JSON ({exc})", "repair the file (a JSON validator shows the "
                             "line), or restore it from the dataset's source"))  # fmt: skip
    if problems:
        raise BIDSDatasetError(root, problems)
    layout = BIDSLayout(str(root), validate=False)
    query = {"suffix": "bold", "datatype": "func", "extension": [".nii", ".nii.gz"]}
    if opts.task:
        query["task"] = opts.task
    bold_files = layout.get(**query)
    if not bold_files:
        raise BIDSDatasetError(root, [(str(root), f"no BOLD runs found (task={opts.task!r})",
                                       "check dataset.bids_root and dataset.task in the config")])  # fmt: skip

    rows = []
    durations: dict[str, float | None] = {}
    for bf in bold_files:
        ent = bf.get_entities()
        bold = Path(bf.path)
        rel = lambda p: os.path.relpath(p, root)  # noqa: E731
        md = layout.get_metadata(bf.path)
        tr = md.get("RepetitionTime")
        if tr is None:
            problems.append((str(bold), "no RepetitionTime: its JSON sidecar is missing or lacks the key",
                             f"add \"RepetitionTime\": {opts.tr} to task-{ent.get('task')}_bold.json at the dataset "
                             "root or to the run's _bold.json"))  # fmt: skip
        elif abs(float(tr) - opts.tr) > opts.tr_tolerance:
            problems.append((str(bold), f"RepetitionTime {tr} s differs from the configured dataset.tr = {opts.tr} s",
                             "set dataset.tr in the config to the dataset's TR, or fix the sidecar"))  # fmt: skip
        n_volumes = _check_nifti(bold, problems)

        stem = bold.name.split("_bold")[0]
        eeg_path = root / f"sub-{ent['subject']}" / (f"ses-{ent['session']}" if "session" in ent else "") / "eeg" / f"{stem}_eeg.vhdr"
        eeg_info = None
        if "eeg" not in opts.modalities:
            eeg_path = None
        elif not eeg_path.exists():
            problems.append((str(eeg_path), "missing: every BOLD run needs its simultaneous EEG",
                             "add the run's BrainVision EEG (.vhdr/.vmrk/.eeg) or remove the run; an fMRI-only dataset: set "
                             "dataset.modalities: [fmri]"))  # fmt: skip
        else:
            eeg_info = _check_eeg(eeg_path, opts.volume_marker, problems)
        if eeg_info and n_volumes is not None and eeg_info[1] != n_volumes:
            problems.append((str(eeg_path), f"{eeg_info[1]} '{opts.volume_marker}' volume markers but the BOLD run "
                             f"{bold.name} has {n_volumes} volumes",
                             "check dataset.volume_marker, and that the EEG and BOLD files are of the same run"))  # fmt: skip

        events = bold.with_name(f"{stem}_events.tsv")
        stim_rel, episode, onset, stim_dur, played = None, None, None, None, np.nan
        if not events.exists():
            problems.append((str(events), "missing: the film onset and stimulus come from it",
                             "add an events.tsv with onset, duration and stim_file columns"))  # fmt: skip
        else:
            ev = pd.read_csv(events, sep="\t")  # pandas reads BIDS' n/a as missing
            has = ev[ev["stim_file"].notna()] if "stim_file" in ev else ev.iloc[0:0]
            if has.empty:
                problems.append((str(events), "no row names a stimulus (stim_file column)",
                                 "add the film's file name, relative to stimuli/, in stim_file"))  # fmt: skip
            elif not np.isfinite(pd.to_numeric(has["onset"].iloc[:1], errors="coerce").iloc[0]):
                val = has["onset"].iloc[0]
                problems.append((str(events), f"the film's onset is {'n/a' if pd.isna(val) else repr(val)}, not a "
                                 "number of seconds",
                                 "write the film's onset (seconds after the first volume) in the onset column"))  # fmt: skip
            else:
                row = has.iloc[0]
                onset = float(row["onset"])
                stim_rel = str(row["stim_file"])
                episode = str(row["episode"]) if "episode" in ev and pd.notna(row.get("episode")) else Path(stim_rel).stem.split(".")[0]
                stim = root / "stimuli" / stim_rel
                if not stim.exists():
                    problems.append((str(events), f"names stimulus '{stim_rel}', which does not exist at {stim}",
                                     "add the film to stimuli/ or correct stim_file"))  # fmt: skip
                else:
                    if stim_rel not in durations:
                        try:
                            durations[stim_rel], has_audio = media_info(stim)
                            if not has_audio:
                                problems.append((str(stim), "has no audio stream: the clips' audio, the Whisper "
                                                 "transcripts and the audio decoders need the film's soundtrack",
                                                 "use the film file with its soundtrack"))  # fmt: skip
                        except Exception as exc:
                            durations[stim_rel] = None
                            problems.append((str(stim), f"cannot read the film ({type(exc).__name__}: {exc})",
                                             "re-copy or re-encode the stimulus file"))  # fmt: skip
                    stim_dur = durations[stim_rel]
                    played = float(pd.to_numeric(pd.Series([row.get("duration")]), errors="coerce").iloc[0])
                    # The scan may go on after the film (it should, to record the lagged response to its
                    # end); the file must hold the whole film the events say was shown (half-frame slack).
                    if stim_dur is not None and pd.notna(played) and stim_dur < played - 0.05:
                        problems.append((str(stim), f"lasts {stim_dur:.2f} s, shorter than the {float(played):.2f} s "
                                         f"that {events.name} says were shown in run {bold.name}",
                                         "use the full-length episode, or correct the events' duration and "
                                         "stim_file"))  # fmt: skip
        rows.append({
            "subject": ent["subject"], "session": ent.get("session"), "task": ent.get("task"),
            "run": int(ent["run"]) if "run" in ent else 1, "bold": rel(bold), "dtseries": "",
            "eeg": rel(eeg_path) if eeg_path else "", "events": rel(events), "stimulus": f"stimuli/{stim_rel}" if stim_rel else None,
            "episode": episode, "TR": float(tr) if tr is not None else np.nan,
            "n_volumes": n_volumes if n_volumes is not None else -1, "onset": onset,
            "stimulus_duration": stim_dur, "played_duration": played, "eeg_sfreq": eeg_info[0] if eeg_info else np.nan,
            "n_markers": eeg_info[1] if eeg_info else -1, "modalities": "+".join(m for m in ("fmri", "eeg")
                                                                                 if m in opts.modalities),
            "beta_row": -1,
        })  # fmt: skip

    participants = root / "participants.tsv"
    table = pd.read_csv(participants, sep="\t", dtype=str) if participants.exists() else None
    if table is not None and "participant_id" not in table:
        problems.append((str(participants), f"has no participant_id column (columns: {list(table.columns)[:6]})",
                         "name the first column participant_id (BIDS), with values sub-<label>"))  # fmt: skip
    elif table is not None:
        listed = table["participant_id"].dropna().str.removeprefix("sub-")
        with_data = {r["subject"] for r in rows}
        for sub in sorted(set(listed) - with_data):
            problems.append((str(participants), f"lists sub-{sub}, who has no {opts.task or ''} BOLD run".replace("  ", " "),
                             f"add sub-{sub}'s data or remove the row from participants.tsv"))  # fmt: skip

    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("split", "repeat")])
    episodes = [e for e in df["episode"] if isinstance(e, str)]
    if episodes:
        try:
            split = split_episodes(episodes, opts.test_episodes)
            df["split"] = df["episode"].map(split)
        except ValueError as exc:
            problems.append(("config: split.test_episodes", str(exc).split("; fix: ")[0],
                             str(exc).split("; fix: ")[-1]))  # fmt: skip
    problems += duplicate_problems(root, df, opts)
    if problems:
        raise BIDSDatasetError(root, problems)
    df = df.sort_values(["subject", "session", "task", "run"], na_position="first").reset_index(drop=True)
    df["run"] = df["run"].astype("int64")
    df["n_volumes"] = df["n_volumes"].astype("int64")
    df["n_markers"] = df["n_markers"].astype("int64")
    df["repeat"] = repeats(df)
    return df[COLUMNS]


def repeats(df: pd.DataFrame) -> np.ndarray:
    """The how-manieth viewing of its episode each run is for its subject (1, 2, ... in run order)."""
    order = df.sort_values(["subject", "run"]).groupby(["subject", "episode"], dropna=False).cumcount() + 1
    return order.reindex(df.index).to_numpy("int64")


def duplicate_problems(root: Path, df: pd.DataFrame, opts: InventoryOptions) -> list[tuple[str, str, str]]:
    """Byte-identical BOLD, EEG or precomputed dtseries files of different runs (:mod:`cinebrain.integrity`),
    less those the user accepted in ``opts.allow_duplicates``."""
    from .fmri.fmriprep import derivative_paths
    from .integrity import find_duplicates, load_cache, save_cache

    files: dict[str, Path] = {}
    for r in df.itertuples():
        if r.bold:
            files[r.bold] = root / r.bold
        if r.eeg:
            files[r.eeg] = (root / r.eeg).with_suffix(".eeg")
        if getattr(r, "dtseries", ""):
            files[r.dtseries] = root / r.dtseries
        if opts.derivatives and r.bold:
            dts = derivative_paths(r.bold, opts.derivatives)["dtseries"]
            files[os.path.relpath(dts, root)] = dts
    cache = load_cache(opts.hash_cache) if opts.hash_cache else None
    groups = find_duplicates(files, cache)
    if cache is not None:
        save_cache(opts.hash_cache, cache)
    allowed = {str(Path(a)) for a in opts.allow_duplicates}
    problems = []
    for group in groups:
        if set(group) <= allowed:
            continue
        problems.append((str(files[group[0]]), f"is byte-identical to {', '.join(str(files[g]) for g in group[1:])}: "
                         "two runs (or subjects) hold the same recording, so a model would be scored on a copy of its "
                         "training data", "replace the copy with the run's own data; if the duplicate is known and "
                         f"accepted, list every one of {group} in dataset.allow_duplicates"))  # fmt: skip
    return problems


def write_inventory(df: pd.DataFrame, path) -> None:
    """Write the inventory atomically (temporary name, then rename)."""
    from .atomic import atomic_files

    with atomic_files(path) as tmp:
        df.to_parquet(tmp, index=False)
