"""Print the throughput of Cine-Benchmark's pixel and motion metrics on clips of CineBrain's size.

    python benchmarks/bench_benchmark.py [--clips 3]

Random-texture clips of 33 frames at 480 x 720 (the ground truth moving 2 px per frame, the
reconstruction a noisy copy); prints seconds per clip and clips/s for each metric (SSIM in both
conventions, PSNR, hue cosine / Pearson, Farneback EPE) and all of them together, on this CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from cinebrain.benchmark import pixel


def clip_pair(seed: int):
    rng = np.random.default_rng(seed)
    tex = gaussian_filter(rng.random((480, 720 + 66, 3)), sigma=(4, 4, 0))
    tex = ((tex - tex.min()) / (tex.max() - tex.min()) * 255).astype(np.uint8)
    gt = np.stack([tex[:, 64 - 2 * k : 64 - 2 * k + 720] for k in range(33)])
    rec = np.clip(gt.astype(int) + rng.integers(-25, 26, gt.shape), 0, 255).astype(np.uint8)
    return gt, rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=3)
    args = ap.parse_args()
    pairs = [clip_pair(i) for i in range(args.clips)]
    metrics = {**{k: getattr(pixel, k) for k in ("ssim_rgb", "ssim_gray", "psnr", "hue_cosine", "hue_pearson")},
               "epe": pixel.epe}  # fmt: skip
    print(f"pixel and motion metrics, {args.clips} clips of 33 frames at 480 x 720, this CPU:")
    total = 0.0
    for name, f in metrics.items():
        t0 = time.perf_counter()
        for gt, rec in pairs:
            f(gt, rec)
        dt = (time.perf_counter() - t0) / args.clips
        total += dt
        print(f"  {name:12s} {dt:7.3f} s/clip  {1 / dt:7.2f} clips/s")
    print(f"  {'all':12s} {total:7.3f} s/clip  {1 / total:7.2f} clips/s")


if __name__ == "__main__":
    main()
