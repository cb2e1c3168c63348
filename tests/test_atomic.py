"""Outputs that appear whole or not at all (cinebrain.atomic)."""

from __future__ import annotations

import numpy as np
import pytest

from cinebrain.atomic import atomic_dir, atomic_files


def test_atomic_files_rename_on_success_and_keep_endings(tmp_path):
    a, b = tmp_path / "sub/x_desc-roi_bold.npy", tmp_path / "sub/x.json"
    with atomic_files(a, b) as (ta, tb):
        assert ta.parent == a.parent and ta.name.endswith("_bold.npy") and ta.name.startswith(".")
        np.save(ta, np.arange(3))  # np.save keeps a name ending in .npy as it is
        tb.write_text("{}")
        assert not a.exists() and not b.exists()  # nothing final before the block ends
    np.testing.assert_array_equal(np.load(a), np.arange(3))
    assert b.read_text() == "{}" and sorted(p.name for p in a.parent.iterdir()) == ["x.json", "x_desc-roi_bold.npy"]


def test_atomic_files_failure_leaves_old_outputs_and_no_temporaries(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_files(a, b) as (ta, tb):
        ta.write_text("new")
        tb.write_text("new")
        raise RuntimeError("boom")
    assert a.read_text() == "old" and not b.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_files(a) as t:  # one path: the temporary itself, not a tuple
        t.write_text("one")
    assert a.read_text() == "one"


def test_atomic_dir_replaces_or_keeps(tmp_path):
    out = tmp_path / "recon"
    with atomic_dir(out) as t:
        (t / "x").write_text("1")
    with pytest.raises(ValueError), atomic_dir(out) as t:
        (t / "y").write_text("2")
        raise ValueError
    assert sorted(p.name for p in out.iterdir()) == ["x"] and not (tmp_path / "recon.tmp").exists()


def test_unwritable_or_full_results_are_named_before_any_job(tmp_path, monkeypatch):
    import errno
    import shutil
    import tempfile
    from collections import namedtuple

    from cinebrain.atomic import check_writable

    assert check_writable(tmp_path / "results") == [] and check_writable(tmp_path) == []

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:  # a read-only mount (root ignores permission bits, so it is simulated)
        m.setattr(tempfile, "NamedTemporaryFile", read_only)
        (msg,) = check_writable(tmp_path)
    assert msg.startswith(f"{tmp_path}: cannot be written (Read-only file system); fix: run the workflow in a writable")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100e9, 99.7e9, 0.3e9))
    (msg,) = check_writable(tmp_path)
    assert "0.30 GB free on its file system, less than 1 GB; fix: free space" in msg
