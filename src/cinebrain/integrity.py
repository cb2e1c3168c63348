"""Byte-identical data files across subjects and runs (what real releases get wrong).

The public CineBrain release shipped one subject's preprocessed fMRI byte-identical to another's (its issue
tracker, #1): a decoder trained on such a dataset is scored on a copy of its training data.  The inventory
groups every run's BOLD, EEG and precomputed derivative files by size, hashes only the files whose size
another file shares (a file of a unique size cannot have a byte-identical twin), and stops on any two
files with the same content unless the user accepted them in ``dataset.allow_duplicates``.

Hashes are BLAKE2b of the whole file, streamed in 4-MiB blocks, and cached by (path, size, mtime) in a
JSON file, so that a rerun hashes only what changed.  Python's :mod:`hashlib` is the library here: there is
no duplicate finder in the field's stack that works on a list of files with a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

BLOCK = 4 << 20


def file_hash(path, cache: dict | None = None) -> str:
    """BLAKE2b (hex) of a file's content; ``cache`` maps ``realpath`` to [size, mtime_ns, hash]."""
    path = Path(path)
    st = path.stat()
    key = os.path.realpath(path)
    if cache is not None:
        hit = cache.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = [st.st_size, st.st_mtime_ns, digest]
    return digest


def load_cache(path) -> dict:
    """The hash cache at ``path`` ({} when absent or unreadable: it is only a cache)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def save_cache(path, cache: dict) -> None:
    from .atomic import atomic_files

    with atomic_files(path) as tmp:
        tmp.write_text(json.dumps(cache))


def find_duplicates(files: dict[str, str | Path], cache: dict | None = None) -> list[list[str]]:
    """Groups (two or more labels) of ``files`` ({label: path}) whose contents are byte-identical.

    Only files whose size another file shares are hashed.  A path listed under two labels is one file,
    not a duplicate.
    """
    by_size: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for label, path in files.items():
        p = Path(path)
        if p.is_file():
            by_size[p.stat().st_size][os.path.realpath(p)].append(label)
    groups = []
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        by_hash: dict[str, list[str]] = defaultdict(list)
        for real, labels in same_size.items():
            by_hash[file_hash(real, cache)].append(labels[0])
        groups += [sorted(g) for g in by_hash.values() if len(g) > 1]
    return sorted(groups)


class TruncatedFileError(ValueError):
    """A weights or features file that is shorter (or longer) than its own header says."""


def check_safetensors(path) -> None:
    """Raise :class:`TruncatedFileError` naming ``path`` unless its size is what its header says.

    The format is an 8-byte little-endian header length, the JSON header (every tensor's byte range), then
    the data: a copy cut short fails here from its first 8 bytes and header alone, before a loader reports
    "Error while deserializing header" without naming the file.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        header = f.read(n) if 0 < n <= size - 8 else b""
    try:
        meta = json.loads(header)
        end = max((v["data_offsets"][1] for k, v in meta.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError):
        end = None
    if end is None or size != 8 + n + end:
        expected = "" if end is None else f", its header says {8 + n + end}"
        raise TruncatedFileError(f"{path}: truncated or corrupt safetensors file ({size} bytes{expected}); fix: "
                                 "delete it and re-run the rule that writes it, or re-copy the model folder")


def load_safetensors(path, device: str = "cpu") -> dict:
    """``safetensors.torch.load_file`` after :func:`check_safetensors` (an error names the file)."""
    from safetensors.torch import load_file

    check_safetensors(path)
    return load_file(str(path), device=device)


def check_model_folder(path) -> list[str]:
    """One message per truncated ``*.safetensors`` file under a model folder (headers only: milliseconds)."""
    out = []
    for f in sorted(Path(path).rglob("*.safetensors")):
        try:
            check_safetensors(f)
        except TruncatedFileError as exc:
            out.append(str(exc))
    return out
