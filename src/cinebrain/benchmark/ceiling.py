"""The benchmark's ceilings (rules ``benchmark_ceiling`` and ``benchmark_ground_truth``): what the metrics
give when the generator is told what the clip shows, and when the "reconstruction" is the clip itself.

- ``caption``: the decoders' generator — a CogVideoX text-to-video pipeline, ``benchmark.ceiling.generator``
  (the demo: the tiny pre-trained one, whose text encoder is the tiny CLIP's) — conditioned on each test
  clip's caption (the dataset's ``caption`` column) through its own text encoder, sampled exactly as the
  brain decoders sample (:func:`cinebrain.methods.cinesync.reconstruct.sample`: the same seeded initial
  noise for every clip, classifier-free guidance against a zeroed conditioning);
- ``ground_truth``: a copy of each ground-truth clip (every metric at its best).

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


def _rows(man: pd.DataFrame, ds, out_dir: Path) -> list[dict]:
    return [{"clip": r.clip, "episode": r.episode, "has_cut": bool(r.has_cut), "video": str(out_dir / f"{r.clip}.mp4"),
             "ground_truth": str(ds.resolve(r.video))} for r in man.itertuples()]  # fmt: skip


def ground_truth_copies(*, test_dir, out_dir) -> int:
    """Rule ``benchmark_ground_truth``: every test clip's file copied as its own "reconstruction"."""
    from ..atomic import atomic_dir
    from ..data import ClipDataset

    out_dir = Path(out_dir)
    ds = ClipDataset(test_dir, modalities=())
    man = ds.manifest
    with atomic_dir(out_dir) as tmp:
        for r in man.itertuples():
            shutil.copyfile(ds.resolve(r.video), tmp / f"{r.clip}.mp4")
        pd.DataFrame(_rows(man, ds, out_dir)).to_parquet(tmp / "reconstructions.parquet")
    return len(man)


def caption_ceiling(*, test_dir, out_dir, settings, device: str = "auto", progress: bool = False) -> int:
    """Rule ``benchmark_ceiling``: every test clip generated from its caption by ``settings.generator``."""
    import diffusers
    import torch
    from diffusers import CogVideoXPipeline
    from tqdm.auto import tqdm

    from ..atomic import atomic_dir
    from ..data import ClipDataset
    from ..methods.cinesync.reconstruct import check_size, sample
    from ..stimuli import read_video, write_video
    from ..train.distributed import torch_device

    cs = settings if isinstance(settings, CeilingSettings) else build(CeilingSettings, settings, "benchmark.ceiling")
    rs, dev, out_dir = cs.sampling, torch_device(device), Path(out_dir)
    ds = ClipDataset(test_dir, modalities=())
    man = ds.manifest
    if "caption" not in man or man["caption"].isna().any() or (man["caption"].astype(str).str.strip() == "").any():
        raise ValueError(f"{Path(test_dir) / 'manifest.parquet'}: test clips without a caption; fix: give every clip a "
                         "caption (captions stage, a sidecar source) and rebuild the dataset (rule data_build)")  # fmt: skip
    pipe = CogVideoXPipeline.from_pretrained(cs.generator).to(dev)
    if pipe.text_encoder is None:
        raise ValueError(f"{cs.generator}: the pipeline has no text encoder; fix: set benchmark.ceiling.generator to a "
                         "text-to-video CogVideoX pipeline (text_encoder/ and tokenizer/)")  # fmt: skip
    pipe.scheduler = getattr(diffusers, rs.scheduler).from_config(pipe.scheduler.config)
    n_frames, height, width = read_video(ds.resolve(man["video"].iloc[0])).shape[:3]
    check_size(pipe, n_frames, height, width, ds.resolve(man["video"].iloc[0]))
    captions = man["caption"].astype(str).tolist()
    with atomic_dir(out_dir) as tmp:
        for b in tqdm(range(0, len(man), rs.batch_size), desc="caption ceiling", disable=not progress):
            with torch.no_grad():
                cond = pipe.encode_prompt(captions[b : b + rs.batch_size], do_classifier_free_guidance=False,
                                          max_sequence_length=pipe.transformer.config.max_text_seq_length,
                                          device=dev)[0]  # fmt: skip
            for clip, frames in zip(man["clip"].iloc[b : b + rs.batch_size], sample(pipe, cond, rs, n_frames, height,
                                                                                    width, dev), strict=True):  # fmt: skip
                write_video(tmp / f"{clip}.mp4", frames, rs.fps)
        pd.DataFrame(_rows(man, ds, out_dir)).assign(caption=captions).to_parquet(tmp / "reconstructions.parquet")
    return len(man)
