"""Data integrity: byte-identical files found by size then hash (cached), and weights files cut short named."""

from __future__ import annotations

import pytest
import torch

from cinebrain.integrity import (
    TruncatedFileError,
    check_model_folder,
    check_safetensors,
    file_hash,
    find_duplicates,
    load_safetensors,
)


def test_duplicates_by_size_then_content(tmp_path):
    a, b, c, d = (tmp_path / n for n in "abcd")
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 100)  # same content as a
    c.write_bytes(b"x" * 99 + b"y")  # same size, other content
    d.write_bytes(b"z" * 7)  # a size of its own: never hashed
    cache: dict = {}
    groups = find_duplicates({"A": a, "B": b, "C": c, "D": d, "A again": a}, cache)
    assert groups == [["A", "B"]]  # a path under two labels is one file, not a duplicate
    assert len(cache) == 3 and str(d) not in cache
    # the cache is used while size and mtime hold, and refreshed when the file changes
    key = str(a.resolve())
    cache[key][2] = "stale"
    assert file_hash(a, cache) == "stale"
    a.write_bytes(b"q" * 100)
    assert file_hash(a, cache) != "stale" and find_duplicates({"A": a, "B": b}, cache) == []


def _weights(path):
    from safetensors.torch import save_file

    save_file({"w": torch.arange(1000, dtype=torch.float32), "b": torch.ones(3)}, str(path))
    return path


def test_truncated_safetensors_named(tmp_path):
    good = _weights(tmp_path / "model.safetensors")
    check_safetensors(good)
    assert torch.equal(load_safetensors(good)["b"], torch.ones(3))
    data = good.read_bytes()
    cuts = (len(data) - 1, len(data) // 2, 5)
    for cut in cuts:
        bad = tmp_path / "sub" / f"cut{cut}.safetensors"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(data[:cut])
        with pytest.raises(TruncatedFileError, match=rf"cut{cut}.safetensors: truncated or corrupt safetensors file "
                                                     rf"\({cut} bytes.*fix: delete it and re-run"):  # fmt: skip
            load_safetensors(bad)
    # a model folder's files, checked from their headers (the Snakefile does this for every local model)
    found = sorted(m.split(":")[0].rsplit("/", 1)[-1] for m in check_model_folder(tmp_path))
    assert found == sorted(f"cut{c}.safetensors" for c in cuts)
