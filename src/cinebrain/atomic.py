"""Outputs that appear complete or not at all (DESIGN.md, Errors: no partial output)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path


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
