"""The benchmark's ceilings (rules ``benchmark_ceiling`` and ``benchmark_ground_truth``): what the metrics
give when the generator is told what the clip shows, and when the "reconstruction" is the clip itself.

- ``caption``: the decoders' generator — a CogVideoX text-to-video pipeline, ``benchmark.ceiling.generator``
  (the demo: the tiny pre-trained one, whose text encoder is the tiny CLIP's) — conditioned on each test
  clip's caption (the dataset's ``caption`` column) through its own text encoder, sampled exactly as the
  brain decoders sample (:func:`cinebrain.methods.cinesync.reconstruct.sample`: the same seeded initial
  noise for every clip, classifier-free guidance against a zeroed conditioning);
- ``ground_truth``: a copy of each ground-truth clip (every metric at its best).

Neither depends on the brain, so each test clip is generated (copied) once for all subjects
(``results/ceiling/<variant>/recon``) and scored per subject on that subject's test clips.

Both are written as a method's reconstructions are (:mod:`cinebrain.methods.contract`: ``<clip>.mp4`` +
``reconstructions.parquet``) and scored by the same rule as ``method`` ``ceiling``, so that every metric
is shown between its controls (at chance) and its ceiling.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..methods.cinesync.settings import ReconstructSettings
from ..settings import build, section, setting

VARIANTS = ("caption", "ground_truth")


@dataclass(frozen=True)
class CeilingSettings:
    """The ceiling rows of the benchmark: the generator given the clip's caption, and the clip itself."""

    enabled: bool = setting(True, "score the ceilings (method ceiling: variants caption and ground_truth)")
    generator: str = setting("THUDM/CogVideoX-5b", "text-to-video CogVideoX pipeline (folder or hub id) of the "
                             "caption ceiling: the brain decoders' base model")  # fmt: skip
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    sampling: ReconstructSettings = section(ReconstructSettings)


def test_clips(test_dirs) -> pd.DataFrame:
    """The test clips of every subject's test split, each once (the ceilings do not depend on the brain: one
    video per clip serves every subject): clip, episode, has_cut, caption, ground_truth (the clip's file)."""
    from ..data import ClipDataset

    frames = []
    for d in [test_dirs] if isinstance(test_dirs, (str, Path)) else test_dirs:
        ds = ClipDataset(d, modalities=())
        man = ds.manifest
        frames.append(pd.DataFrame({"clip": man["clip"], "episode": man["episode"], "has_cut": man["has_cut"].astype(bool),
                                    "caption": man["caption"] if "caption" in man else None,
                                    "ground_truth": [str(ds.resolve(v)) for v in man["video"]]}))  # fmt: skip
    return pd.concat(frames, ignore_index=True).drop_duplicates("clip", ignore_index=True)


def ground_truth_copies(*, test_dirs, out_dir) -> int:
    """Rule ``benchmark_ground_truth``: every test clip's file copied as its own "reconstruction"."""
    from ..atomic import atomic_dir

    out_dir = Path(out_dir)
    clips = test_clips(test_dirs)
    with atomic_dir(out_dir) as tmp:
        for r in clips.itertuples():
            shutil.copyfile(r.ground_truth, tmp / f"{r.clip}.mp4")
        clips.drop(columns="caption").assign(video=[str(out_dir / f"{c}.mp4") for c in clips["clip"]]).to_parquet(
            tmp / "reconstructions.parquet")
    return len(clips)


def caption_ceiling(*, test_dirs, out_dir, settings, device: str = "auto", progress: bool = False) -> int:
    """Rule ``benchmark_ceiling``: every test clip (of every subject, each once) generated from its caption
    by ``settings.generator``."""
    import diffusers
    import torch
    from diffusers import CogVideoXPipeline
    from tqdm.auto import tqdm

    from ..atomic import atomic_dir
    from ..methods.cinesync.decoder import caption_embeddings
    from ..methods.cinesync.reconstruct import check_size, sample
    from ..stimuli import read_video, write_video
    from ..train.distributed import torch_device

    cs = settings if isinstance(settings, CeilingSettings) else build(CeilingSettings, settings, "benchmark.ceiling")
    rs, dev, out_dir = cs.sampling, torch_device(device), Path(out_dir)
    man = test_clips(test_dirs)
    if man["caption"].isna().any() or (man["caption"].astype(str).str.strip() == "").any():
        missing = man.loc[man["caption"].isna() | (man["caption"].astype(str).str.strip() == ""), "clip"]
        raise ValueError(f"{', '.join(map(str, test_dirs))}: test clips without a caption ({', '.join(missing[:3])}); fix: "
                         "give every clip a caption (captions stage) and rebuild the dataset (rule data_build)")  # fmt: skip
    fix = "fix: set benchmark.ceiling.generator to a text-to-video CogVideoX pipeline (with text_encoder/ and tokenizer/)"
    try:
        pipe = CogVideoXPipeline.from_pretrained(cs.generator).to(dev)
    except (OSError, ValueError) as e:
        raise ValueError(f"{cs.generator}: not a text-to-video CogVideoX pipeline ({e}); {fix}") from e
    if pipe.text_encoder is None or pipe.tokenizer is None:
        raise ValueError(f"{cs.generator}: the pipeline has no text encoder; {fix}")
    pipe.scheduler = getattr(diffusers, rs.scheduler).from_config(pipe.scheduler.config)
    n_frames, height, width = read_video(man["ground_truth"].iloc[0]).shape[:3]
    check_size(pipe, n_frames, height, width, man["ground_truth"].iloc[0])
    captions = man["caption"].astype(str).tolist()
    with atomic_dir(out_dir) as tmp:
        for b in tqdm(range(0, len(man), rs.batch_size), desc="caption ceiling", disable=not progress):
            with torch.no_grad():
                cond = caption_embeddings(pipe, captions[b : b + rs.batch_size],
                                          pipe.transformer.config.max_text_seq_length, dev)  # fmt: skip
            for clip, frames in zip(man["clip"].iloc[b : b + rs.batch_size], sample(pipe, cond, rs, n_frames, height,
                                                                                    width, dev), strict=True):  # fmt: skip
                write_video(tmp / f"{clip}.mp4", frames, rs.fps)
        man.assign(video=[str(out_dir / f"{c}.mp4") for c in man["clip"]]).to_parquet(tmp / "reconstructions.parquet")
    return len(man)
