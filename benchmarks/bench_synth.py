"""Print performance figures of the synthetic-data generator and of ingestion.

    python benchmarks/bench_synth.py                 # CineBrain-size run: 1 subject x 1,080 s (1,350 volumes)
    python benchmarks/bench_synth.py --seconds 60    # demo-size episode
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from cinebrain.bids import InventoryOptions, build_inventory
from cinebrain.synth import SynthConfig, generate

#: The checkout's ROI sets (the workflow passes its resources/rois the same way).
ROI_DIR = Path(__file__).resolve().parents[1] / "resources" / "rois"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1078.4, help="episode length (1078.4 s -> 1,350 volumes)")
    ap.add_argument("--eeg-sfreq", type=float, default=1000.0)
    args = ap.parse_args()
    cfg = SynthConfig(subjects=1, episodes=1, episode_seconds=args.seconds, eeg_sfreq=args.eeg_sfreq)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        t0 = time.perf_counter()
        m = generate(out, cfg, progress=False, roi_dir=ROI_DIR)
        t_gen = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        t0 = time.perf_counter()
        build_inventory(out / "bids", InventoryOptions(test_episodes=0))
        t_inv = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"synth: 1 run, {m['n_volumes']} volumes x 91,282 grayordinates, 65 x {args.seconds * args.eeg_sfreq:,.0f} "
          f"EEG samples, {args.seconds:.0f}-s film")
    print(f"synth: generated in {t_gen:.1f} s ({args.seconds / t_gen:.1f} s of recording per second), {size:.0f} MB")
    print(f"inventory: validated and indexed in {t_inv:.1f} s")
    print(f"peak resident memory: {peak:.2f} GB")


if __name__ == "__main__":
    main()
