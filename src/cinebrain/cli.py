"""The ``cinebrain`` command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cmd_synth(args) -> int:
    from .synth import SynthConfig, generate

    cfg = SynthConfig(subjects=args.subjects, episodes=args.episodes, episode_seconds=args.episode_seconds,
                      eeg_sfreq=args.eeg_sfreq, seed=args.seed, height=args.height, width=args.width,
                      fps=args.fps, tail_seconds=args.tail_seconds, shape=args.shape,
                      test_segments=args.test_segments, train_repeats=args.train_repeats,
                      test_repeats=args.test_repeats)  # fmt: skip
    t0 = time.perf_counter()
    manifest = generate(args.out, cfg, progress=not args.quiet, roi_dir=args.roi_dir)
    dt = time.perf_counter() - t0
    if cfg.shape == "betas":
        print(f"wrote {len(manifest['train_videos'])} training and {len(manifest['test_videos'])} test videos with "
              f"{manifest['rows_per_subject']} beta rows for each of {cfg.subjects} subject(s) to {args.out}/betas "
              f"({_size(Path(args.out)) / 1e6:.0f} MB) in {dt:.1f} s")  # fmt: skip
        return 0
    if cfg.shape == "cc2017":
        print(f"wrote {len(manifest['runs'])} cc2017-layout runs for {cfg.subjects} subject(s), "
              f"{len(manifest['train_segments'])} training and {len(manifest['test_segments'])} test segment(s) to "
              f"{args.out}/cc2017 ({_size(Path(args.out)) / 1e6:.0f} MB) in {dt:.1f} s")  # fmt: skip
        return 0
    print(f"wrote {len(manifest['runs'])} runs of {manifest['n_volumes']} volumes for {cfg.subjects} subject(s), "
          f"{cfg.episodes} episode(s) to {args.out} ({_size(Path(args.out)) / 1e6:.0f} MB) in {dt:.1f} s")  # fmt: skip
    return 0


def cmd_inventory(args) -> int:
    from .bids import BIDSDatasetError, InventoryOptions, write_inventory
    from .datasets import build_inventory

    test = int(args.test_episodes) if args.test_episodes.isdigit() else args.test_episodes.split(",")
    opts = InventoryOptions(tr=args.tr, task=args.task, volume_marker=args.marker, test_episodes=test,
                            allow_duplicates=args.allow_duplicate, derivatives=args.derivatives,
                            modalities=args.modalities)  # fmt: skip
    try:
        df = build_inventory(args.adapter, args.bids, opts)
    except BIDSDatasetError as exc:
        print(exc, file=sys.stderr)
        return 1
    write_inventory(df, args.out)
    print(f"{len(df)} runs, {df['subject'].nunique()} subjects, {df['episode'].nunique()} episodes -> {args.out}")
    return 0


def cmd_config(args) -> int:
    from .config import ConfigError, check_config_files

    try:
        check_config_files(args.files)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{', '.join(map(str, args.files))}: valid")
    return 0


def cmd_schema(args) -> int:
    from .config import write_schema

    write_schema(args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_controls(args) -> int:
    import pandas as pd

    from .benchmark.score import controls_table

    summary = pd.read_csv(args.summary)
    table = controls_table(summary, metrics=tuple(args.metrics)) if args.metrics else controls_table(summary)
    print(table.to_string(index=False) if len(table) else f"{args.summary}: no reconstruction with controls")
    return 0


def cmd_world(args) -> int:
    import yaml

    from .config import ConfigError, validate_config
    from .synth.pretrain import build_world

    config = yaml.safe_load(args.config.read_text())
    try:
        validate_config(config)  # the workflow's own check, and its defaults
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    from .train.distributed import torch_device

    if args.audio:
        from .synth.pretrain_audio import build_audio_world

        manifest = build_audio_world(args.out, config["models"]["tiny"], progress=not args.quiet)
        print(f"trained the synthetic world's audio models into {args.out}/audio in {manifest['seconds']:.0f} s "
              f"(key {manifest['key'][:12]})")  # fmt: skip
        for name, report in manifest["reports"].items():
            print(f"  {name}: {report.get('held_out')}")
        return 0
    manifest = build_world(args.out, config["models"]["tiny"], progress=not args.quiet, device=torch_device(args.device))
    print(f"trained the synthetic world into {args.out} in {manifest['seconds']:.0f} s (key {manifest['key'][:12]})")
    for name, report in manifest["reports"].items():
        if name != "renders":
            print(f"  {name}: {report.get('held_out') or report.get('held_out_x0_mse_from_noise')}")
    print(f"  what the judges read in {manifest['reports']['renders']['clips']} held-out clips (accuracy; chance):")
    for name in ("ground_truth", "vae", "caption"):
        judged = manifest["reports"]["renders"][name]
        print(f"    {name:12s} " + "  ".join(f"{judge} {attr} {v['accuracy']:.2f} ({v['chance']:.2f})"
                                            for judge, attrs in judged.items() for attr, v in attrs.items()))  # fmt: skip
    return 0


def main(argv=None) -> int:
    from .synth.settings import SynthConfig

    parser = argparse.ArgumentParser(prog="cinebrain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the synthetic EEG-fMRI film dataset")
    p.add_argument("out", type=Path, help="output folder (bids/ and truth/ are written inside)")
    d = SynthConfig  # the defaults are the settings class's (cinebrain.synth.settings)
    p.add_argument("--subjects", type=int, default=d.subjects)
    p.add_argument("--episodes", type=int, default=d.episodes)
    p.add_argument("--episode-seconds", type=float, default=d.episode_seconds)
    p.add_argument("--eeg-sfreq", type=float, default=d.eeg_sfreq)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--height", type=int, default=d.height, help="video height in pixels")
    p.add_argument("--width", type=int, default=d.width, help="video width in pixels")
    p.add_argument("--fps", type=float, default=d.fps, help="video frame rate")
    p.add_argument("--tail-seconds", type=float, default=d.tail_seconds, help="scanning after the film ends (s)")
    p.add_argument("--shape", choices=("bids", "cc2017", "betas"), default=d.shape,
                   help="bids: CineBrain-like EEG+fMRI in BIDS; cc2017: the cc2017 release's fMRI-only layout with "
                   "repeats (TR 2 s; --episodes training segments); betas: a beta vector per video (--episodes "
                   "training videos of --episode-seconds)")
    p.add_argument("--test-segments", type=int, default=d.test_segments, help="cc2017 shape: test segments")
    p.add_argument("--train-repeats", type=int, default=d.train_repeats, help="cc2017 shape: viewings per training segment")
    p.add_argument("--test-repeats", type=int, default=d.test_repeats, help="cc2017 shape: viewings per test segment")
    p.add_argument("--roi-dir", type=Path, default=Path("resources/rois"),
                   help="the ROI sets whose areas carry the simulated signal (the checkout's resources/rois)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("inventory", help="validate a raw dataset (BIDS, or cc2017 with --adapter) and write its run inventory (Parquet)")
    p.add_argument("bids", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--tr", type=float, default=0.8)
    p.add_argument("--task", default=None)
    p.add_argument("--marker", default="R128", help="EEG volume marker description")
    p.add_argument("--test-episodes", default="1", help="N (last N episodes) or a comma-separated list")
    p.add_argument("--allow-duplicate", action="append", default=[], metavar="FILE",
                   help="a file (relative to the BIDS root) accepted although byte-identical to another (repeat)")
    p.add_argument("--derivatives", default=None, help="precomputed fMRIPrep folder whose dtseries are checked too")
    p.add_argument("--adapter", choices=("bids", "cc2017", "betas"), default="bids",
                   help="the layout: bids, cc2017 (Wen et al.'s release) or betas (a beta vector per video); the "
                   "adapters' default file names")
    p.add_argument("--modalities", nargs="+", choices=("fmri", "eeg"), default=["fmri", "eeg"],
                   help="what every run has (bids: --modalities fmri reads no EEG)")
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("controls", help="print each decoder's reconstruction against its controls and ceilings "
                       "(from the benchmark's summary.csv)")  # fmt: skip
    p.add_argument("summary", type=Path, nargs="?", default=Path("results/benchmark/summary.csv"))
    p.add_argument("--metrics", nargs="+", help="the metrics to show (default: video_2way_strict, frame_2way_strict, "
                   "colour_delta_e, hue_cosine, ssim_rgb; the audio benchmark's: e.g. peak_semitones mcd lsd mel_ssim)")  # fmt: skip
    p.set_defaults(func=cmd_controls)
    p = sub.add_parser("world", help="train the synthetic world's models (CLIP text encoder, CogVideoX VAE and "
                       "transformer, judges) with a config's models.tiny settings and write them with their key "
                       "(make world: the demo's shipped world, resources/world)")  # fmt: skip
    p.add_argument("out", type=Path, nargs="?", default=Path("resources/world"))
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--audio", action="store_true", help="train the audio world instead (the tiny Vocos and F5-TTS; "
                   "make world-audio: resources/world/audio and world_audio.json)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="where the VAE, transformer and judges train: cpu (the default; "
                   "the manifest records the machine), cuda, or auto (cuda when there is a GPU)")  # fmt: skip
    p.set_defaults(func=cmd_world)
    p = sub.add_parser("config", help="check configuration files: YAML syntax (file, line, column) and every key "
                       "against the schema, merged in order as snakemake --configfile merges them")
    p.add_argument("files", type=Path, nargs="+")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("schema", help="write the workflow configuration's JSON schema, generated from the typed "
                       "settings (workflow/schemas/config.schema.yaml)")  # fmt: skip
    p.add_argument("out", type=Path, nargs="?", default=Path("workflow/schemas/config.schema.yaml"))
    p.set_defaults(func=cmd_schema)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
