"""Print random-access speed of the clip dataset (target: well under 1 ms per training sample).

    python benchmarks/bench_data.py               # a CineBrain-size test split: 540 clips, V = 18,946
    python benchmarks/bench_data.py --clips 4860  # a training split (5.2 GB of arrays)

Writes a split in the layout ``data_build`` writes (manifest.parquet, fmri.npy (N, 5, V), eeg.npy
(N, 64, 4000), dataset.json) plus a per-episode CLIP features file, reads every file once so that they
are in the page cache (as after the first epoch), then times ``ClipDataset[i]`` at random indices.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=540)
    ap.add_argument("--columns", type=int, default=18946)
    ap.add_argument("--samples", type=int, default=5000)
    args = ap.parse_args()

    import pandas as pd
    from safetensors.numpy import save_file

    from cinebrain.data import ClipDataset

    n, v = args.clips, args.columns
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sub-01" / "test"
        root.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for name, shape in (("fmri", (n, 5, v)), ("eeg", (n, 64, 4000))):
            arr = np.lib.format.open_memmap(root / f"{name}.npy", "w+", np.float32, shape)
            for b in range(0, n, 256):
                arr[b : b + 256] = rng.standard_normal((min(256, n - b), *shape[1:]), np.float32)
            arr.flush()
            del arr
        per_ep = 270
        files = []
        for e in range(0, n, per_ep):
            m = min(per_ep, n - e)
            f = Path(tmp) / f"ep{e // per_ep:02d}.safetensors"
            save_file({"frames": rng.standard_normal((m, 33, 768), np.float32),
                       "text": rng.standard_normal((3 * m, 768), np.float32),
                       "text_clip": np.repeat(np.arange(m), 3)}, str(f))  # fmt: skip
            files += [str(f)] * m
        pd.DataFrame({"row": np.arange(n), "clip_index": np.arange(n) % per_ep, "embed_file": files,
                      "embed_row": np.arange(n) % per_ep}).to_parquet(root / "manifest.parquet")  # fmt: skip
        (root / "dataset.json").write_text(json.dumps({"Clips": n}))
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e9
        for p in Path(tmp).rglob("*"):  # warm the page cache
            if p.is_file():
                p.read_bytes()
        print(f"split of {n} clips: fmri ({n}, 5, {v}), eeg ({n}, 64, 4000), CLIP targets; {size:.2f} GB on disk")
        for targets in ((), ("frames", "text")):
            ds = ClipDataset(root, targets=targets, text_index=0)
            idx = rng.integers(0, n, args.samples)
            ds[0]
            lat = np.empty(len(idx))
            t0 = time.perf_counter()
            for j, i in enumerate(idx):
                t = time.perf_counter()
                ds[int(i)]
                lat[j] = time.perf_counter() - t
            total = time.perf_counter() - t0
            what = "fMRI + EEG" + (" + frame and caption embeddings" if targets else "")
            print(f"{what}: {args.samples / total:,.0f} samples/s; per sample median {np.median(lat) * 1e3:.3f} ms, "
                  f"99th percentile {np.percentile(lat, 99) * 1e3:.3f} ms (target: well under 1 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
