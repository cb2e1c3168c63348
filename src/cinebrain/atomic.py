"""Outputs that appear complete or not at all (DESIGN.md, Errors: no partial output)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path


def _tmp_name(path: Path) -> Path:
    # A hidden prefix keeps the whole name's ending: np.save keeps ".npy", MNE's "_eeg.fif" / "_ica.fif"
    # naming checks pass, and a glob of the folder's outputs does not see it.
    return path.with_name(".tmp-" + path.name)


@contextmanager
def atomic_files(*paths):
    """Yield a temporary sibling path for each of ``paths`` (same folder, same ending) to write; when the
    block succeeds every one is renamed to its final name, when it fails they are deleted and the final
    files are left as they were.  Parent folders are created."""
    finals = [Path(p) for p in paths]
    tmps = [_tmp_name(p) for p in finals]
    for t in tmps:
        t.parent.mkdir(parents=True, exist_ok=True)
        t.unlink(missing_ok=True)
    try:
        yield tmps[0] if len(tmps) == 1 else tmps
    except BaseException:
        for t in tmps:
            t.unlink(missing_ok=True)
        raise
    for t, f in zip(tmps, finals, strict=True):
        t.replace(f)


@contextmanager
def atomic_dir(out):
    """Yield a fresh sibling folder ``<out>.tmp`` to write into; when the block succeeds it replaces
    ``out`` (an older ``out`` is removed), when it fails it is deleted and ``out`` is left as it was."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)


def check_writable(folder, min_free_gb: float = 1.0) -> list[str]:
    """Problems (each with its fix) that would stop every job writing under ``folder``: not writable (a
    read-only file system, permissions), or less than ``min_free_gb`` free.  Checked once before any job, so
    that the run stops with one message instead of a traceback in the first job's log."""
    import os
    import tempfile

    folder = Path(folder)
    probe = folder if folder.exists() else next((p for p in folder.absolute().parents if p.exists()), Path("/"))
    try:
        if folder.exists():
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        elif not os.access(probe, os.W_OK):
            raise PermissionError(f"cannot create {folder} in {probe}")
    except OSError as exc:
        return [f"{folder}: cannot be written ({exc.strerror or exc}); fix: run the workflow in a writable working "
                "directory (snakemake --directory), or make this one writable"]
    free_gb = shutil.disk_usage(probe).free / 1e9
    if free_gb < min_free_gb:
        return [f"{folder}: {free_gb:.2f} GB free on its file system, less than {min_free_gb:g} GB; fix: free space "
                "or run the workflow where there is room (snakemake --directory)"]
    return []
