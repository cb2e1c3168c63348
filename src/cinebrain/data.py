"""The clip dataset: per subject and split, every clip's fMRI and EEG windows aligned with its targets.

``results/dataset/sub-XX/<split>/`` holds

``manifest.parquet``
    one row per clip (row ``i`` of the arrays): subject, run, episode, clip, times, scene-cut flag, the
    fMRI volume range and EEG sample range it came from, the clip's video/audio files, its first caption,
    its superclasses, and where its target features are (file + row).
``fmri.npy``  float32 ``(N, n_volumes, V)`` (per-clip betas, the betas adapter: ``(N, 1, V)``, the clip's
    beta vector — row ``beta_row`` of the subject's matrix — in place of a window of volumes)
    the normalised ROI time series, volumes ``First + k * n ... First + (k + 1) * n - 1`` of the run for
    clip ``k``, with ``First = round((onset + lag) / TR)`` from the run's sidecar (the haemodynamic lag,
    4 s) and ``n = clip_seconds / TR`` (5 for CineBrain).
``eeg.npy``  float32 ``(N, 64, n_samples)``
    the clean EEG channels, samples ``s0 + round((onset + eeg_lag + k * clip_seconds) * sfreq)`` onward,
    ``s0`` the first volume marker, ``n_samples = clip_seconds * sfreq`` (4,000 at 1 kHz).
``dataset.json``
    shapes, parameters, inputs.

A clip seen in several runs (the repeats of its episode: cc2017 shows training segments twice and test
segments ten times) is one sample per repeat (``data.repeats``: keep; manifest column ``repeat``) or one
sample, the mean of its repeats' windows (average; columns ``repeats`` and ``runs``, ``repeat`` 0), per split
(the test split averages: a test clip is reconstructed and scored once).  An
fMRI-only dataset (no EEG runs) has no ``eeg.npy`` and ``dataset.json`` ``eeg`` null.

A clip whose window would run past the end of its run is an error (``data.incomplete: error``) or is
left out and listed (``drop``).  Building a training set fails if any clip of a test episode would enter
it, whichever subject's inventory lists that episode as test (the leakage guard). A leave-one-subject-out
model's training never takes the held-out subject's data (:func:`check_subject_leakage`).

:class:`ClipDataset` memory-maps the arrays (one page-cache read per sample) and returns any subset of
modalities and targets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .settings import section, setting
from .stimuli import check_timing, episode_clips

MODALITIES = ("fmri", "eeg")
COLUMNS_FILE = "roi_columns.json"  # the fMRI columns' grayordinates and ROI sets, copied from the fMRI stage
TARGETS = ("frames", "text", "latents", "categories", "action")


class DatasetError(ValueError):
    """The dataset cannot be built as configured."""


class LeakageError(DatasetError):
    """A clip of a test episode would enter a training set."""


REPEAT_MODES = ("keep", "average")


@dataclass(frozen=True)
class RepeatSettings:
    """What a clip seen in several runs (repeats of its episode) becomes, per split."""

    train: str = setting("keep", "training split: keep (one sample per repeat; cc2017: 4,320 clips x 2 = 8,640 "
                         "pairs) or average (the repeats' windows averaged into one sample)", enum=REPEAT_MODES)  # fmt: skip
    test: str = setting("average", "test split: average (the papers' cc2017 test set: 10 repeats averaged into "
                        "1,200 samples) or keep", enum=REPEAT_MODES)  # fmt: skip


@dataclass(frozen=True)
class DataSection:
    """The clip dataset's own keys (config section ``data``)."""

    eeg_lag: float = setting(0.0, "EEG window start relative to the clip's start in s (CineBrain: 0)")
    incomplete: str = setting("error", "a clip whose fMRI or EEG window runs past the end of its run: error, or "
                              "drop (leave it out; dataset.json lists it)", enum=("error", "drop"))  # fmt: skip
    repeats: RepeatSettings = section(RepeatSettings)


@dataclass(frozen=True)
class DataSettings(DataSection):
    """What building the dataset needs: section ``data`` plus the clip length, TR and volume marker."""

    clip_seconds: float = 4.0
    tr: float = 0.8
    volume_marker: str = "R128"

    def repeat_mode(self, split: str) -> str:
        """keep or average, for ``split`` (``repeats`` may be a mapping: the rule passes the config's)."""
        rep = self.repeats if isinstance(self.repeats, dict) else vars(self.repeats)
        return rep.get(split, "keep")

    @property
    def n_volumes(self) -> int:
        return check_timing(self.clip_seconds, self.tr)

    def n_samples(self, sfreq: float) -> int:
        n = self.clip_seconds * sfreq
        if abs(n - round(n)) > 1e-6:
            raise DatasetError(f"a {self.clip_seconds}-s clip is {n} EEG samples at {sfreq} Hz; fix: choose eeg.sfreq "
                               "so that clip_seconds x sfreq is whole")  # fmt: skip
        return int(round(n))


def split_test_episodes(inventory: pd.DataFrame) -> set[str]:
    """Every episode any subject's inventory puts in the test split."""
    return set(inventory.loc[inventory["split"] == "test", "episode"])


def check_leakage(manifest: pd.DataFrame, test: set[str], split: str, where: str = "") -> None:
    """Raise LeakageError if ``split`` is train and ``manifest`` has a clip of a ``test`` episode."""
    if split != "train":
        return
    bad = manifest[manifest["episode"].isin(test)]
    if len(bad):
        eps = sorted(set(bad["episode"]))
        raise LeakageError(
            f"{where}: {len(bad)} clip(s) of test episode(s) {eps} would enter the training set of "
            f"sub-{bad['subject'].iloc[0]} (e.g. {bad['clip'].iloc[0]}, run {bad['run'].iloc[0]}); the test "
            "episodes are those any subject's inventory lists as test; fix: make split.test_episodes and the "
            "runs' episodes agree, or rename the episode if two films share a name"
        )


def check_subject_leakage(held_out: str | None, subjects, where: str = "") -> None:
    """Raise LeakageError if the held-out subject of a leave-one-subject-out model is among the ``subjects``
    whose data would train it (the subject counterpart of :func:`check_leakage`)."""
    if held_out is None:
        return
    if str(held_out) in {str(s) for s in subjects}:
        raise LeakageError(
            f"{where}: sub-{held_out} is held out (leave-one-subject-out) but its data would train the model "
            f"(training subjects: {', '.join(map(str, subjects))}); fix: leave it out of the training inputs"
        )


def fmri_windows(first: int, n_clips: int, n: int):
    """(start, stop) volume of every clip (stop may exceed the run; the caller checks)."""
    starts = first + n * np.arange(n_clips)
    return starts, starts + n


def volume_marker_sample(raw, marker: str) -> int:
    """Sample (from the start of the recording) of the first scanner volume marker of a clean EEG run."""
    hits = [o for o, d in zip(raw.annotations.onset, raw.annotations.description, strict=True)
            if d == marker or d.endswith("/" + marker)]  # fmt: skip
    if not hits:
        raise DatasetError(f"{raw.filenames[0]}: no '{marker}' volume annotation; fix: re-run eeg_clean, which keeps them")
    return int(round((min(hits) - raw.first_time) * raw.info["sfreq"]))


def build_split(subject: str, split: str, *, inventory, clips, fmri_runs: dict, eeg_runs: dict, settings: DataSettings,
                captions=None, categories=None, features: dict | None = None, roi_columns=None, activation=None, out,
                progress=False) -> pd.DataFrame:  # fmt: skip
    """Rule ``data_build``: the manifest and arrays of one subject's split (see the module docstring).

    ``fmri_runs`` / ``eeg_runs``: {run: normalised ``desc-roi_bold.npy``} / {run: ``desc-clean_eeg.fif``}.
    ``captions`` / ``categories``: {episode: parquet}; ``features``: {kind: {episode: safetensors}}.
    ``roi_columns``: the fMRI stage's ``roi_columns.json`` (what each fMRI column is), copied into the
    dataset so that :class:`ClipDataset` selects ROI sets from the dataset alone; ``activation``: the
    subject's stimulus-activated columns (rule fmri_activation), added to that table as the set
    ``activated``.  File paths in the
    manifest (clips, features) are relative to the dataset's folder.
    Written to ``out.tmp`` and renamed, so a failure leaves no partial dataset.
    """
    import os
    import shutil

    import mne

    from .atomic import atomic_dir

    inv = pd.read_parquet(inventory) if not isinstance(inventory, pd.DataFrame) else inventory
    clips = pd.read_parquet(clips) if not isinstance(clips, pd.DataFrame) else clips
    runs = inv[(inv["subject"] == subject) & (inv["split"] == split)].sort_values("run")
    if runs.empty:
        raise DatasetError(f"sub-{subject} has no {split} run in the inventory; fix: check split.test_episodes")
    betas = "beta_row" in runs and bool((runs["beta_row"] >= 0).all())  # per-clip betas: a row, not a window
    n_vol = 1 if betas else settings.n_volumes
    has_eeg = [int(r) in eeg_runs for r in runs["run"]]
    if any(has_eeg) and not all(has_eeg):
        raise DatasetError(f"sub-{subject} {split}: runs {[int(r) for r, h in zip(runs['run'], has_eeg, strict=True) if not h]} have "
                           "no clean EEG but the others do; fix: give every run its EEG, or set dataset.modalities: "
                           "[fmri]")  # fmt: skip
    plan, dropped = [], []
    for _, r in runs.iterrows():
        run = int(r["run"])
        c = episode_clips(clips, r["episode"])
        if betas:  # the clip's beta vector: row beta_row of the subject's matrix, the video its one clip
            if len(c) != 1:
                raise DatasetError(f"{r['stimulus']}: video {r['episode']} gives {len(c)} clips of {settings.clip_seconds:g} "
                                   "s, but a beta vector belongs to the whole video; fix: set stimuli.clip_seconds to "
                                   "the videos' length")  # fmt: skip
            beta = int(r["beta_row"])
            side = {"FirstStimulusVolume": beta, "NumberOfVolumes": beta + 1, "HaemodynamicLag": 0.0}
        else:
            side = json.loads(Path(fmri_runs[run]).with_suffix(".json").read_text())
        v0, v1 = fmri_windows(int(side["FirstStimulusVolume"]), len(c), n_vol)
        if run in eeg_runs:
            raw = mne.io.read_raw_fif(eeg_runs[run], preload=False, verbose="error")
            sfreq = raw.info["sfreq"]
            n_samp, n_times = settings.n_samples(sfreq), raw.n_times
            s0 = volume_marker_sample(raw, settings.volume_marker)
            e0 = s0 + np.round((float(r["onset"]) + settings.eeg_lag + c["start"].to_numpy()) * sfreq).astype(int)
        else:  # fMRI only: no EEG window (eeg_start/eeg_stop -1)
            n_samp, n_times, e0 = 0, 0, np.full(len(c), -1)
        played = r.get("played_duration")  # NaN (or absent: an older inventory) when events.tsv has no duration
        played = float(played) if played is not None and pd.notna(played) else np.nan
        for i, clip in c.iterrows():
            if np.isfinite(played) and float(clip["end"]) > played + 1e-3:
                # the film was stopped early in this run: the brain data of this clip's window are of the
                # scan after the film, never of the clip (events.tsv's duration says what was shown)
                dropped.append({"clip": clip["clip"], "run": run, "reason": f"not shown: the film ran "
                                f"{played:g} s in this run (events.tsv duration) and the clip ends at "
                                f"{float(clip['end']):g} s"})  # fmt: skip
                continue
            ok_f = v1[i] <= side["NumberOfVolumes"]
            ok_e = run not in eeg_runs or (e0[i] >= 0 and e0[i] + n_samp <= n_times)
            repeat = int(r["repeat"]) if "repeat" in r and pd.notna(r["repeat"]) else 1
            row = {"subject": subject, "split": split, "run": run, "repeat": repeat, "episode": r["episode"], "clip": clip["clip"],
                   "clip_index": int(clip["clip_index"]), "start": float(clip["start"]), "end": float(clip["end"]),
                   "has_cut": bool(clip["has_cut"]), "fmri_start": int(v0[i]), "fmri_stop": int(v1[i]),
                   "eeg_start": int(e0[i]), "eeg_stop": int(e0[i] + n_samp) if run in eeg_runs else -1,
                   "video": os.path.relpath(clip["video"], out),
                   **{k: os.path.relpath(clip[k], out) for k in clip.index
                      if k.startswith("audio_") and not k.startswith("audio_padded")}}  # fmt: skip
            if ok_f and ok_e:
                plan.append((row, [(fmri_runs[run], int(v0[i]), int(v1[i]), eeg_runs.get(run), int(e0[i]),
                                    int(e0[i] + n_samp))]))  # fmt: skip
                continue
            what = (f"fMRI volumes {v0[i]}-{v1[i] - 1} (lag {side['HaemodynamicLag']} s) but the run has "
                    f"{side['NumberOfVolumes']}" if not ok_f else
                    f"EEG samples {e0[i]}-{e0[i] + n_samp - 1} but the recording has {n_times}")  # fmt: skip
            if settings.incomplete == "drop":
                dropped.append({"clip": clip["clip"], "run": run, "reason": what})
                continue
            raise DatasetError(
                f"{fmri_runs[run] if not ok_f else eeg_runs.get(run)}: clip {clip['clip']} of sub-{subject} run {run} "
                f"extends past the end of the run: it needs {what}; fix: record/keep the scan past the film's end, "
                "or set data.incomplete: drop to leave such clips out"
            )
    if dropped:
        import sys

        print(f"sub-{subject} {split}: {len(dropped)} clip(s) left out (listed in dataset.json 'Dropped'), e.g. "
              f"{dropped[0]['clip']} of run {dropped[0]['run']}: {dropped[0]['reason']}", file=sys.stderr)  # fmt: skip
    mode = settings.repeat_mode(split)
    if mode == "average":
        plan = average_repeats(plan)
    elif split == "test":
        seen = pd.Series([p[0]["clip"] for p in plan])
        if seen.duplicated().any():
            raise DatasetError(f"sub-{subject} test: clip {seen[seen.duplicated()].iloc[0]} and {int(seen.duplicated().sum()) - 1} "
                               "more are seen in several runs and data.repeats.test is keep, but a test clip is "
                               "reconstructed and scored once, by its name; fix: data.repeats.test: average")  # fmt: skip
    manifest = pd.DataFrame([p[0] for p in plan])
    if manifest.empty:
        raise DatasetError(f"sub-{subject} {split}: every clip was dropped ({dropped[:3]}...); fix: see data.incomplete")
    check_leakage(manifest, split_test_episodes(inv), split, where=str(inventory) if not isinstance(inventory, pd.DataFrame) else "inventory")
    _attach_text(manifest, captions, categories)
    if features:
        for kind, files in features.items():
            manifest[f"{kind}_file"] = [os.path.relpath(files[e], out) for e in manifest["episode"]]
            manifest[f"{kind}_row"] = manifest["clip_index"]
    n = len(manifest)
    with atomic_dir(out) as tmp:
        n_columns, ch_names, n_samp = _write_arrays(tmp, plan, n_vol, f"sub-{subject} {split}", progress)
        repeats = manifest["repeats"] if "repeats" in manifest else pd.Series(1, index=manifest.index)
        manifest.insert(0, "row", np.arange(n))
        manifest.to_parquet(tmp / "manifest.parquet")
        if roi_columns is not None and activation:  # the subject's stimulus-activated columns as a set
            from .fmri.activation import add_activated_set

            act = json.loads(Path(activation[0] if isinstance(activation, (list, tuple)) else activation).read_text())
            doc = add_activated_set(json.loads(Path(roi_columns).read_text()), act)
            (tmp / COLUMNS_FILE).write_text(json.dumps(doc))
        elif roi_columns is not None:
            shutil.copyfile(roi_columns, tmp / COLUMNS_FILE)
        (tmp / "dataset.json").write_text(json.dumps({
            "Subject": subject, "Split": split, "Clips": n, "Dropped": dropped,
            "fmri": {"Shape": [n, n_vol, n_columns], "Volumes": n_vol,
                     **({"Units": "z-scored beta (one GLM estimate per clip)", "Kind": "betas"} if betas else
                        {"Units": "z-scored BOLD", "Kind": "time series", "RepetitionTime": settings.tr})},
            "eeg": {"Shape": [n, len(ch_names), n_samp], "Units": "V", "Channels": ch_names, "Lag": settings.eeg_lag}
            if ch_names is not None else None,
            "Repeats": {"Mode": mode, "PerSample": sorted(int(k) for k in set(repeats)),
                        "Views": int(repeats.sum())},
            "ClipSeconds": settings.clip_seconds, "TestEpisodes": sorted(split_test_episodes(inv)),
        }, indent=1))  # fmt: skip
    return manifest


def average_repeats(plan: list) -> list:
    """One entry per clip of the plan, its windows in every run that showed it (the repeats, averaged by
    :func:`_write_arrays`); the row is the first repeat's, with ``repeats`` (how many) and ``runs``."""
    merged: dict = {}
    for row, sources in plan:
        key = (row["episode"], row["clip"])
        if key in merged:
            merged[key][0]["runs"] += f",{row['run']}"
            merged[key][0]["repeats"] += 1
            merged[key][1].extend(sources)
        else:
            merged[key] = ({**row, "repeat": 0, "repeats": 1, "runs": str(row["run"])}, list(sources))
    return list(merged.values())


def _write_arrays(tmp: Path, plan: list, n_vol: int, label: str, progress: bool) -> tuple[int, list | None, int]:
    """Fill ``tmp/fmri.npy`` and (when the runs have EEG) ``tmp/eeg.npy`` row by row: each row the mean of its
    sources' windows (one source, or the repeats of an averaged clip).  Runs are read memory-mapped (fMRI) or
    loaded two at a time at most (EEG)."""
    import mne
    from tqdm.auto import tqdm

    first = np.load(plan[0][1][0][0], mmap_mode="r")
    fmri = np.lib.format.open_memmap(tmp / "fmri.npy", "w+", np.float32, (len(plan), n_vol, first.shape[1]))
    eeg, ch_names, loaded = None, None, {}
    for i, (_row, sources) in enumerate(tqdm(plan, desc=label, disable=not progress)):
        acc_f, acc_e = np.zeros(fmri.shape[1:], np.float64), None
        for fpath, f0, f1, epath, e0, e1 in sources:
            run_data = np.load(fpath, mmap_mode="r")
            if run_data.shape[1] != fmri.shape[2]:
                raise DatasetError(f"{fpath}: {run_data.shape[1]} ROI columns, but {plan[0][1][0][0]} has {fmri.shape[2]}; "
                                   "fix: extract every run with the same fmri.roi_sets (re-run fmri_extract)")  # fmt: skip
            acc_f += run_data[f0:f1]
            if epath is None:
                continue
            if epath not in loaded:
                if len(loaded) >= 2:
                    loaded.pop(next(iter(loaded)))
                raw = mne.io.read_raw_fif(epath, preload=True, verbose="error").pick("eeg")
                loaded[epath] = raw.get_data().astype(np.float32)
                if ch_names is None:
                    ch_names = raw.ch_names
                    eeg = np.lib.format.open_memmap(tmp / "eeg.npy", "w+", np.float32, (len(plan), len(ch_names), e1 - e0))
                elif raw.ch_names != ch_names:
                    raise DatasetError(f"{epath}: EEG channels differ from the subject's other runs; fix: one montage per "
                                       "subject")  # fmt: skip
            window = loaded[epath][:, e0:e1]
            acc_e = window.astype(np.float64) if acc_e is None else acc_e + window
        fmri[i] = acc_f / len(sources)
        if acc_e is not None:
            eeg[i] = acc_e / len(sources)
    fmri.flush()
    if eeg is not None:
        eeg.flush()
    return int(fmri.shape[2]), ch_names, int(eeg.shape[2]) if eeg is not None else 0


def _attach_text(manifest: pd.DataFrame, captions, categories) -> None:
    """The first caption of the first source, and the superclasses, of every clip (in place)."""
    if captions:
        caps = pd.concat([pd.read_parquet(captions[e]) for e in sorted(set(manifest["episode"]))])
        first = caps[caps["caption_index"] == 0].drop_duplicates("clip")
        manifest["caption"] = manifest["clip"].map(dict(zip(first["clip"], first["text"], strict=True))).fillna("")
    if categories:
        cats = pd.concat([pd.read_parquet(categories[e]) for e in sorted(set(manifest["episode"]))])
        cols = [c for c in cats if c.startswith("cat_")]
        manifest["categories"] = manifest["clip"].map(dict(zip(cats["clip"], cats["categories"], strict=True)))
        hot = cats.set_index("clip")[cols]
        manifest[cols] = hot.loc[manifest["clip"]].to_numpy()


class ClipDataset:
    """A torch ``Dataset`` of one subject's split: ``ds[i]`` is a dict of tensors.

    Parameters
    ----------
    root : path
        ``results/dataset/sub-XX/<split>``.
    modalities : tuple of {"fmri", "eeg"} or None
        Brain windows to return (None: every one the dataset has; asking for one it lacks is an error).
    targets : tuple of {"frames", "text", "latents", "categories"}
        ``frames``: per-frame image embeddings ``(F, D)``; ``text``: the embeddings of every caption of the
        clip ``(n_captions, D)`` (use ``text_index`` to pick one); ``latents``: VAE posterior mean and std;
        ``categories``: the multi-hot superclass vector; ``action``: the clip's action embedding ``(A,)``
        (features.action, CineNeuron).
    text_index : int, "random" or None
        Which caption's embedding to return: that index, one drawn at random at every access (caption
        augmentation; numpy's global generator, which the training loop seeds and checkpoints), or all.
    roi_sets : list of str or None
        Return only the fMRI columns of these ROI sets (read from the dataset's ``roi_columns.json``);
        all columns by default.
    fmri_columns : array of int or None
        The columns of the fMRI window to return by index (instead of ``roi_sets``).
    text_sources : list of str or None
        Return only the caption embeddings of these caption sources (``captions.sources`` names, e.g. the
        Whisper transcripts for CineSync's audio encoder); all sources by default. A clip without a caption
        of these sources is an error naming the dataset and the sources.
    latents : str
        Which latents the ``latents`` target reads: the features kind ``latents`` (features.vae, CogVideoX's)
        or ``wan_latents`` (features.wan_vae).

    File paths in the manifest are relative to ``root`` (:meth:`resolve`), so a dataset can be moved.
    """

    def __init__(self, root, modalities=None, targets=(), text_index: int | str | None = None, roi_sets=None,
                 fmri_columns=None, latents: str = "latents", text_sources=None):  # fmt: skip
        self.root = Path(root)
        if modalities is None:  # what the dataset has (an fMRI-only dataset has no eeg.npy)
            modalities = tuple(m for m in MODALITIES if (self.root / f"{m}.npy").exists())
        for m in modalities:
            if m not in MODALITIES:
                raise ValueError(f"modality '{m}' is not one of {MODALITIES}")
            if not (self.root / f"{m}.npy").exists() and (self.root / "dataset.json").exists():
                raise DatasetError(f"{self.root}: has no {m} ({m}.npy): the dataset's runs have no {m.upper()} (an "
                                   f"fMRI-only dataset); fix: use a variant or method that reads "
                                   f"{', '.join(x for x in MODALITIES if x != m)} only")  # fmt: skip
        for t in targets:
            if t not in TARGETS:
                raise ValueError(f"target '{t}' is not one of {TARGETS}")
        self.modalities, self.targets, self.text_index = tuple(modalities), tuple(targets), text_index
        self.manifest = pd.read_parquet(self.root / "manifest.parquet")
        self.info = json.loads((self.root / "dataset.json").read_text())
        self.arrays = {m: np.load(self.root / f"{m}.npy", mmap_mode="r") for m in self.modalities}
        if roi_sets and fmri_columns is not None:
            raise ValueError("ClipDataset: give roi_sets or fmri_columns, not both")
        if roi_sets and "fmri" in self.modalities:
            fmri_columns = self.roi_columns(roi_sets)
        self.fmri_columns = None if fmri_columns is None else np.asarray(fmri_columns, dtype=np.int64)
        if self.fmri_columns is not None and "fmri" in self.arrays:
            n = self.arrays["fmri"].shape[-1]
            if len(self.fmri_columns) == 0 or self.fmri_columns.min() < 0 or self.fmri_columns.max() >= n:
                raise ValueError(f"{self.root}: fmri_columns must be a non-empty selection of the {n} fMRI columns")
        self.cat_columns = [c for c in self.manifest if c.startswith("cat_")]
        self._files: dict = {}
        self._text_rows: dict = {}
        self.text_sources = None if text_sources is None else [str(x) for x in text_sources]
        self.latents_kind = latents
        for t, col in (("frames", "embed_file"), ("text", "embed_file"), ("latents", f"{latents}_file"),
                       ("action", "action_file")):  # fmt: skip
            if t in self.targets and col not in self.manifest:
                fix = {"action": "set features.action.model (an X-CLIP) and rebuild the dataset",
                       "wan_latents_file": "set features.wan_vae.model (a Wan pipeline) and rebuild the dataset"}.get(
                    t if t == "action" else col, "rebuild the dataset (rule data_build)")  # fmt: skip
                raise ValueError(f"{self.root}: target '{t}' needs features ('{col}' not in the manifest); fix: {fix}")
        # Plain arrays of what __getitem__ reads (a pandas row lookup costs more than the memory-mapped read).
        self._columns = {c: self.manifest[c].to_numpy() for c in ("clip_index", "embed_file", "embed_row", f"{latents}_file",
                                                                   f"{latents}_row", "action_file", "action_row")
                         if c in self.manifest}  # fmt: skip
        self._categories = self.manifest[self.cat_columns].to_numpy(np.float32)

    def __len__(self) -> int:
        return len(self.manifest)

    def captions(self) -> list[str]:
        """The first caption of every clip, in order; an error names the dataset when a clip has none."""
        captions = self.manifest["caption"].fillna("").astype(str).tolist() if "caption" in self.manifest else []
        if len(captions) != len(self) or not all(c.strip() for c in captions):
            raise ValueError(f"{self.root}: clips without a caption; fix: give every clip a caption (captions stage) "
                             "and rebuild the dataset (rule data_build)")  # fmt: skip
        return captions

    def resolve(self, path) -> Path:
        """A file named in the manifest (relative to the dataset's folder, or absolute)."""
        import os

        return Path(os.path.normpath(os.path.join(self.root, path)))

    def roi_columns(self, roi_sets) -> np.ndarray:
        """Indices of the fMRI columns of ``roi_sets``, from the dataset's own ``roi_columns.json``."""
        from .fmri.rois import column_subset

        path = self.root / COLUMNS_FILE
        if not path.exists():
            raise DatasetError(f"{path}: missing, so the dataset cannot select ROI sets {list(roi_sets)}; fix: rebuild "
                               "it (rule data_build writes the fMRI stage's roi_columns.json into it)")  # fmt: skip
        return column_subset(path, roi_sets, n_columns=int(self.info["fmri"]["Shape"][-1]))

    def _handle(self, path):
        from safetensors import safe_open

        if path not in self._files:  # one open (memory-mapped) file per episode and worker
            self._files[path] = safe_open(str(self.resolve(path)), framework="pt")
        return self._files[path]

    def _text(self, path, clip_index: int):
        if path not in self._text_rows:
            clip_of = self._handle(path).get_tensor("text_clip").numpy()
            keep = np.ones(len(clip_of), bool)
            if self.text_sources is not None:
                sources = json.loads((self._handle(path).metadata() or {}).get("text_source", "[]"))
                if len(sources) != len(clip_of):
                    raise DatasetError(f"{self.resolve(path)}: its caption embeddings do not name their sources; fix: "
                                       "rerun rule features_embed for this episode and rule data_build")  # fmt: skip
                keep = np.isin(np.asarray(sources, dtype=object), self.text_sources)
            self._text_rows[path] = {k: np.flatnonzero((clip_of == k) & keep) for k in np.unique(clip_of)}
        rows = self._text_rows[path].get(clip_index, np.zeros(0, int))
        if not len(rows) and self.text_sources is not None:
            raise DatasetError(f"{self.resolve(path)}: clip {clip_index} has no caption of the source(s) "
                               f"{self.text_sources}; fix: add them to captions.sources (e.g. a whisper source for "
                               "transcripts) and rebuild the features and the dataset, or name a source it has")  # fmt: skip
        sl = self._handle(path).get_slice("text")
        if self.text_index is not None:
            k = np.random.randint(len(rows)) if self.text_index == "random" else self.text_index % len(rows)
            return sl[int(rows[k]) : int(rows[k]) + 1][0]
        return sl[int(rows[0]) : int(rows[-1]) + 1] if len(rows) else None

    def __getitem__(self, i: int) -> dict:
        import torch

        i = int(i)
        out = {m: torch.from_numpy(np.array(a[i])) for m, a in self.arrays.items()}  # one read, a writable copy
        if self.fmri_columns is not None and "fmri" in out:
            out["fmri"] = out["fmri"][:, self.fmri_columns]
        out["index"] = i
        col = self._columns
        if "frames" in self.targets:
            out["frames"] = self._handle(col["embed_file"][i]).get_slice("frames")[int(col["embed_row"][i])]
        if "text" in self.targets:
            out["text"] = self._text(col["embed_file"][i], int(col["clip_index"][i]))
        if "latents" in self.targets:
            h, k = self._handle(col[f"{self.latents_kind}_file"][i]), int(col[f"{self.latents_kind}_row"][i])
            out["latents_mean"], out["latents_std"] = h.get_slice("mean")[k], h.get_slice("std")[k]
        if "categories" in self.targets:
            out["categories"] = torch.from_numpy(self._categories[i].copy())
        if "action" in self.targets:
            out["action"] = self._handle(col["action_file"][i]).get_slice("action")[int(col["action_row"][i])]
        return out

