"""Print how fast a 720p episode is decoded and cut into CineBrain clips (target: >= 100 source frames/s).

    python benchmarks/bench_stimuli.py              # a 30-s 1280 x 720 film at 24 fps (720 frames)
    python benchmarks/bench_stimuli.py --seconds 60

Renders a synthetic 720p episode with sound (H.264/AAC, as the released films are encoded), then times
``decode_episode`` (PyAV threaded decoding of every frame, shot detection on every frame, 8-fps frames
resized and centre-cropped to 480 x 720, audio resampled to 16 and 24 kHz) and the whole
``cut_episode`` (the same plus writing every clip's mp4 and wav files).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()

    from cinebrain.stimuli import ClipSettings, cut_episode, decode_episode
    from cinebrain.synth import stimuli as st

    with tempfile.TemporaryDirectory() as tmp:
        film = Path(tmp) / "ep01.mp4"
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        st.write_episode(film, st.make_scenes(args.seconds, rng), args.seconds, 24.0, 720, 1280, 48000, rng)
        print(f"rendered a {args.seconds:g}-s 1280x720 24-fps film in {time.perf_counter() - t0:.1f} s "
              f"({film.stat().st_size / 1e6:.1f} MB)")  # fmt: skip
        settings = ClipSettings()  # CineBrain: 4-s clips, 33 frames at 8 fps, 480 x 720, 16 + 24 kHz audio
        n_src = int(round(args.seconds * 24))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        t0 = time.perf_counter()
        table = cut_episode(film, "ep01", Path(tmp) / "clips", settings)
        t_cut = time.perf_counter() - t0
        rss_cut = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"cut_episode (decode + write {len(table)} mp4 + {2 * len(table)} wav): {t_cut:.2f} s = "
              f"{n_src / t_cut:.0f} source frames/s (target >= 100); a 1,080-s CineBrain episode: "
              f"~{t_cut * 1080 / args.seconds:.0f} s; peak RSS {rss_cut:.2f} GB (before: {rss:.2f} GB; clips are "
              "streamed, so this does not grow with the film's length)")  # fmt: skip
        t0 = time.perf_counter()
        dec = decode_episode(film, settings)
        t_dec = time.perf_counter() - t0
        print(f"decode only (decode_episode, every clip kept in memory): {n_src / t_dec:.0f} source frames/s; "
              f"{dec['frames'].shape[0]} clips {dec['frames'].shape[1:]}, {len(dec['cuts'])} cuts")  # fmt: skip


if __name__ == "__main__":
    main()
