"""Ingestion: the inventory, the split, and one clear error per kind of bad input (nothing written)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cinebrain.bids import COLUMNS, BIDSDatasetError, InventoryOptions, build_inventory, split_episodes
from cinebrain.cli import main

from .conftest import SMALL, replace_bytes, replace_text


def test_inventory_of_synthetic_dataset(synth):
    df = build_inventory(synth / "bids", InventoryOptions(task="movie", test_episodes=1))
    truth = json.loads((synth / "truth/synth.json").read_text())
    assert list(df.columns) == COLUMNS
    assert len(df) == len(truth["runs"]) == 4
    got = {(r.subject, r.run, r.episode) for r in df.itertuples()}
    assert got == {(r["subject"], r["run"], r["episode"]) for r in truth["runs"]}
    assert (df["n_volumes"] == truth["n_volumes"]).all() and (df["n_markers"] == df["n_volumes"]).all()
    assert (df["TR"] == SMALL.tr).all() and (df["eeg_sfreq"] == SMALL.eeg_sfreq).all()
    assert df["onset"].tolist() == pytest.approx([SMALL.n_dummy * SMALL.tr] * 4)
    # split by episode: the last episode (shared by both subjects) is the test set, for every subject
    assert set(df.loc[df["split"] == "test", "episode"]) == {"ep03"}
    assert set(df.loc[df["split"] == "test", "subject"]) == {"01", "02"}
    assert not set(df.loc[df.split == "train", "episode"]) & set(df.loc[df.split == "test", "episode"])
    assert (synth / "bids" / df.loc[0, "bold"]).exists() and (synth / "bids" / df.loc[0, "stimulus"]).exists()


def test_split_episodes():
    eps = [f"ep{i}" for i in range(1, 21)]
    s = split_episodes(eps, 2)
    assert [e for e, v in s.items() if v == "test"] == ["ep19", "ep20"]  # natural order, not ep9 < ep10
    assert split_episodes(eps, ["ep3"])["ep3"] == "test"
    with pytest.raises(ValueError, match="names episode"):
        split_episodes(eps, ["ep99"])
    with pytest.raises(ValueError, match="at least one remains"):
        split_episodes(eps, 20)


def _fails(bids, tmp_path, *needles, **opts):
    """Run the CLI: it must fail, name the file and the problem, and write nothing."""
    out = tmp_path / "inventory.parquet"
    args = [str(bids), str(out)] + [f"--{k.replace('_', '-')}={v}" for k, v in opts.items()]
    with pytest.raises(BIDSDatasetError) as exc:
        build_inventory(bids, InventoryOptions(tr=float(opts.get("tr", 0.8))))
    msg = str(exc.value)
    for n in needles:
        assert n in msg, msg
    assert "fix:" in msg
    assert main(["inventory", *args]) == 1
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()
    return msg


def test_missing_sidecar(bids_copy, tmp_path):
    (bids_copy / "task-movie_bold.json").unlink()
    msg = _fails(bids_copy, tmp_path, "sub-01_task-movie_run-1_bold.nii.gz", "no RepetitionTime", "RepetitionTime")
    assert msg.count("no RepetitionTime") == 4  # every run is listed


def test_missing_repetition_time_key(bids_copy, tmp_path):
    p = bids_copy / "task-movie_bold.json"
    d = json.loads(p.read_text())
    del d["RepetitionTime"]
    replace_text(p, json.dumps(d))
    _fails(bids_copy, tmp_path, "no RepetitionTime")


def test_tr_differs_from_config(bids_copy, tmp_path):
    _fails(bids_copy, tmp_path, "RepetitionTime 0.8 s differs from the configured dataset.tr = 1.0 s", tr=1.0)


def test_volume_count_and_marker_count_disagree(bids_copy, tmp_path):
    vmrk = bids_copy / "sub-02/eeg/sub-02_task-movie_run-1_eeg.vmrk"
    lines = vmrk.read_text().splitlines()
    drop = [i for i, line in enumerate(lines) if "R128" in line][-3:]
    replace_text(vmrk, "\n".join(line for i, line in enumerate(lines) if i not in drop) + "\n")
    _fails(bids_copy, tmp_path, "sub-02_task-movie_run-1_eeg.vhdr", f"{57 - 3} 'R128' volume markers",
           "has 57 volumes")  # fmt: skip


def test_events_name_missing_stimulus(bids_copy, tmp_path):
    ev = bids_copy / "sub-01/func/sub-01_task-movie_run-1_events.tsv"
    replace_text(ev, ev.read_text().replace("ep01.mp4", "ep09.mp4"))
    _fails(bids_copy, tmp_path, "sub-01_task-movie_run-1_events.tsv", "names stimulus 'ep09.mp4', which does not exist")


def test_stimulus_shorter_than_run(bids_copy, tmp_path, synth):
    import numpy as np

    from cinebrain.synth import stimuli as st

    rng = np.random.default_rng(0)
    short = bids_copy / "stimuli/ep02.mp4"
    short.unlink()
    st.write_episode(short, st.make_scenes(10, rng), 10, SMALL.fps, SMALL.height, SMALL.width, 48000, rng)
    _fails(bids_copy, tmp_path, "ep02.mp4", "lasts 10.00 s, shorter than the 40.00 s that sub-02_task-movie_run-1_events.tsv says were shown")


def test_participant_without_data(bids_copy, tmp_path):
    p = bids_copy / "participants.tsv"
    replace_text(p, p.read_text() + "sub-03\t30\tF\tright\n")
    _fails(bids_copy, tmp_path, "participants.tsv", "lists sub-03, who has no", "remove the row")


def test_truncated_nifti(bids_copy, tmp_path):
    p = bids_copy / "sub-01/func/sub-01_task-movie_run-2_bold.nii.gz"
    data = p.read_bytes()
    replace_bytes(p, data[: len(data) // 2])
    _fails(bids_copy, tmp_path, "sub-01_task-movie_run-2_bold.nii.gz", "corrupt or truncated NIfTI")


def test_truncated_eeg(bids_copy, tmp_path):
    p = bids_copy / "sub-01/eeg/sub-01_task-movie_run-1_eeg.eeg"
    data = p.read_bytes()
    replace_bytes(p, data[: len(data) // 2 + 3])
    _fails(bids_copy, tmp_path, "sub-01_task-movie_run-1_eeg.eeg", "truncated")


def test_cli_writes_inventory(synth, tmp_path):
    out = tmp_path / "inv.parquet"
    assert main(["inventory", str(synth / "bids"), str(out), "--task", "movie"]) == 0
    assert len(pd.read_parquet(out)) == 4


def test_garbled_sidecar_json(bids_copy, tmp_path):
    p = bids_copy / "task-movie_bold.json"
    replace_text(p, p.read_text()[:-5])
    _fails(bids_copy, tmp_path, "task-movie_bold.json", "is not valid JSON", "repair the file")


def test_events_onset_not_a_number(bids_copy, tmp_path):
    ev = bids_copy / "sub-01/func/sub-01_task-movie_run-1_events.tsv"
    lines = ev.read_text().splitlines()
    lines[1] = "n/a\t" + lines[1].split("\t", 1)[1]
    replace_text(ev, "\n".join(lines) + "\n")
    _fails(bids_copy, tmp_path, "sub-01_task-movie_run-1_events.tsv", "the film's onset is n/a, not a number")


def test_participants_without_participant_id(bids_copy, tmp_path):
    p = bids_copy / "participants.tsv"
    replace_text(p, p.read_text().replace("participant_id", "subject", 1))
    _fails(bids_copy, tmp_path, "participants.tsv", "has no participant_id column", "name the first column")


def test_eeg_truncated_at_a_whole_sample(bids_copy, tmp_path):
    """A cut at a sample boundary leaves a readable file: it must be called truncated, not a marker mismatch."""
    p = bids_copy / "sub-02/eeg/sub-02_task-movie_run-1_eeg.eeg"
    data = p.read_bytes()
    vhdr = p.with_suffix(".vhdr").read_text()
    assert "BinaryFormat=IEEE_FLOAT_32" in vhdr
    sample = 4 * int(vhdr.split("NumberOfChannels=")[1].split()[0])  # one float32 of every channel
    assert len(data) % sample == 0
    replace_bytes(p, data[: (len(data) // sample // 2) * sample])
    msg = _fails(bids_copy, tmp_path, "sub-02_task-movie_run-1_eeg.eeg", "volume markers lie beyond the end of the EEG",
                 "the .eeg file is truncated")  # fmt: skip
    assert "volume markers but the BOLD run" not in msg


def test_byte_identical_subjects_stop_unless_accepted(bids_copy, tmp_path):
    """CineBrain's release shipped a subject's data byte-identical to another's (its issue #1)."""
    src = bids_copy / "sub-01/func/sub-01_task-movie_run-1_bold.nii.gz"
    dup = bids_copy / "sub-02/func/sub-02_task-movie_run-1_bold.nii.gz"
    replace_bytes(dup, src.read_bytes())
    msg = _fails(bids_copy, tmp_path, "sub-01_task-movie_run-1_bold.nii.gz", "is byte-identical to",
                 "sub-02_task-movie_run-1_bold.nii.gz", "dataset.allow_duplicates")  # fmt: skip
    assert msg.count("byte-identical") == 1
    accepted = ["sub-01/func/sub-01_task-movie_run-1_bold.nii.gz", "sub-02/func/sub-02_task-movie_run-1_bold.nii.gz"]
    cache = tmp_path / "hashes.json"
    df = build_inventory(bids_copy, InventoryOptions(allow_duplicates=accepted, hash_cache=str(cache)))
    assert len(df) == 4
    # only the files whose size another shares are hashed (and cached for the next run): the two BOLD copies
    # and the four EEG recordings (same channels, same length), not the BOLD runs of a size of their own
    hashed = sorted(k.rsplit("/", 1)[-1] for k in json.loads(cache.read_text()))
    assert [h for h in hashed if "bold" in h] == [a.rsplit("/", 1)[-1] for a in accepted]
    assert len(hashed) == 6


def test_played_duration_from_events(synth):
    df = build_inventory(synth / "bids", InventoryOptions(task="movie"))
    assert (df["played_duration"] == SMALL.episode_seconds).all()


def test_dataset_files_are_the_inputs(synth):
    """The workflow's inputs of a real dataset: the files (a folder's time stamp misses in-place edits)."""
    from cinebrain.bids import dataset_files

    files = dataset_files(synth / "bids", synth / "bids/derivatives/fmriprep")
    names = {f.rsplit("/", 1)[-1] for f in files}
    assert "sub-01_task-movie_run-1_events.tsv" in names and "dataset_description.json" in names
    assert "sub-01_task-movie_run-1_eeg.eeg" in names and "ep01.mp4" in names
    dts = [f for f in files if f.endswith(".dtseries.nii")]
    assert len(dts) == 4 and not [f for f in files if "derivatives" in f and not f.endswith(".dtseries.nii")]
