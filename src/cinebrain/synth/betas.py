"""A synthetic per-clip betas dataset (``cinebrain synth --shape betas``): short videos, one GLM-like beta vector per
video, repeat and subject, in the layout of :mod:`cinebrain.datasets.betas` (what BOLD Moments and the Human
Actions Dataset convert to).

Layout of ``OUT``::

    betas/stimuli/v001.mp4 ...                     `episodes` training and `test_segments` test videos of
                                                   episode_seconds each (scene captions beside them)
    betas/sub-01/sub-01_betas.npy                  float32 (rows, 91282): a beta vector per video and repeat
    betas/sub-01/sub-01_betas.tsv                  video, split, repeat (a line per row)
    truth/synth.json, truth/sub-01/sub-01_betas-model.npz (the noise-free betas)

A video's beta is the encoding model of :mod:`cinebrain.synth.fmri` applied to its mean stimulus features
(z-scored across the videos: what differs between videos drives the response), in % signal change per
grayordinate, plus independent noise per repeat — the amplitude a GLM would estimate for the video.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import fmri as fmri_model
from . import stimuli as stim
from .settings import SynthConfig

#: noise SD of a beta (% signal): an event's beta averages fewer volumes than a run's series, so it is noisier
BETA_NOISE_PERCENT = 1.0


def video_names(cfg: SynthConfig) -> tuple[list[str], list[str]]:
    n = cfg.episodes + cfg.test_segments
    names = [f"v{i + 1:03d}" for i in range(n)]
    return names[: cfg.episodes], names[cfg.episodes :]


def generate_betas(out, cfg: SynthConfig, progress: bool = True, *, roi_dir) -> dict:
    """Write the dataset under ``out`` (``betas/`` and ``truth/``), atomically; deterministic for ``cfg.seed``."""
    from ..fmri import grayordinates as go

    areas = fmri_model.brain_areas(roi_dir)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    root, truth = tmp / "betas", tmp / "truth"
    (root / "stimuli").mkdir(parents=True)
    truth.mkdir(parents=True)
    train, test = video_names(cfg)
    means = []
    for e, video in enumerate(tqdm(train + test, desc="synth betas: videos", disable=not progress)):
        rng = np.random.default_rng([cfg.seed, 21, e])
        scenes = stim.make_scenes(cfg.episode_seconds, rng)
        feats = stim.write_episode(root / "stimuli" / f"{video}.mp4", scenes, cfg.episode_seconds, cfg.fps,
                                   cfg.height, cfg.width, cfg.audio_sfreq, rng)  # fmt: skip
        stim.captions_table(scenes).to_csv(root / "stimuli" / f"{video}_captions.tsv", sep="\t", index=False)
        means.append(feats[fmri_model.ALL_FEATURES].to_numpy(np.float64).mean(0))
    F = np.stack(means)
    sd = F.std(0)
    F = (F - F.mean(0)) / np.where(sd > 0, sd, 1.0)  # across videos

    parcels, labels = go.mmp_parcels()
    views = [(v, "train", r) for v in train for r in range(1, cfg.train_repeats + 1)]
    views += [(v, "test", r) for v in test for r in range(1, cfg.test_repeats + 1)]
    index = {v: i for i, v in enumerate(train + test)}
    for s in range(cfg.subjects):
        sub = f"{s + 1:02d}"
        rng = np.random.default_rng([cfg.seed, 22, s])
        model = fmri_model.subject_model(parcels, labels, areas, rng)
        weights, gains = model["weights"], model["gains"]
        clean = (fmri_model.PERCENT_SIGNAL * gains[None, :] * (F @ weights.T)[:, parcels]).astype(np.float32)
        values = np.stack([clean[index[v]] + rng.normal(0, BETA_NOISE_PERCENT, clean.shape[1]).astype(np.float32)
                           for v, _, _ in views])  # fmt: skip
        folder = root / f"sub-{sub}"
        folder.mkdir(parents=True)
        np.save(folder / f"sub-{sub}_betas.npy", values.astype(np.float32))
        pd.DataFrame(views, columns=["video", "split", "repeat"]).to_csv(folder / f"sub-{sub}_betas.tsv", sep="\t",
                                                                          index=False)  # fmt: skip
        (truth / f"sub-{sub}").mkdir()
        np.savez_compressed(truth / f"sub-{sub}" / f"sub-{sub}_betas-model.npz", clean=clean, weights=weights,
                            gains=gains, videos=np.array(train + test))  # fmt: skip
    manifest = {"config": asdict(cfg), "shape": "betas", "train_videos": train, "test_videos": test,
                "rows_per_subject": len(views)}  # fmt: skip
    (truth / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return manifest
