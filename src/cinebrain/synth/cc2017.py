"""A synthetic replica of the cc2017 release (``cinebrain synth --shape cc2017``), so that the cc2017 adapter and
every fMRI-only method run end to end without the real data.

Layout of ``OUT`` (the release's, :mod:`cinebrain.datasets.cc2017`)::

    cc2017/stimuli/seg1.mp4 ... segN.mp4, test1.mp4 ...   films of episode_seconds (scene captions beside them,
                                                            stimuli/<segment>_captions.tsv, as the demo's)
    cc2017/subject1/fmri/seg1/cifti/seg1_1_Atlas.dtseries.nii    91k CIFTI, TR 2 s, per segment and repeat
    truth/synth.json, truth/stimuli/<segment>_features.parquet,
    truth/sub-XX/sub-XX_fmri-model.npz, truth/sub-XX/<segment>_<repeat>_fmri.npz    (noise-free signals)

Every subject sees every segment, training segments ``train_repeats`` times and test segments
``test_repeats`` times; a repeat has the same stimulus-driven signal and its own noise, so that averaging
repeats raises the signal-to-noise ratio as in the real data.  As in the release, a training run (and
test1's) has 1 volume before the film, the others' test runs 2, and every run 4 after it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import fmri as fmri_model
from . import stimuli as stim
from .settings import SynthConfig

#: the release's repetition time (s) and the volumes around the film (lead: by segment, see the docstring)
TR = 2.0
TRAILING = 4


def segment_names(cfg: SynthConfig) -> tuple[list[str], list[str]]:
    return [f"seg{i + 1}" for i in range(cfg.episodes)], [f"test{i + 1}" for i in range(cfg.test_segments)]


def lead_volumes(segment: str) -> int:
    """Volumes before the film in a run of ``segment``: 1 for training segments and test1, 2 for the others."""
    return 2 if segment.startswith("test") and segment != "test1" else 1


def generate_cc2017(out, cfg: SynthConfig, progress: bool = True, *, roi_dir) -> dict:
    """Write the replica under ``out`` (``cc2017/`` and ``truth/``), atomically (``out.tmp`` then renamed);
    deterministic for ``cfg.seed``.  Returns the run table (also ``truth/synth.json``)."""
    from ..fmri import grayordinates as go

    if cfg.episode_seconds % TR:
        raise ValueError(f"episode_seconds {cfg.episode_seconds:g} is not a whole number of {TR:g}-s volumes; fix: "
                         "choose a multiple of 2 s for the cc2017 shape")  # fmt: skip
    areas = fmri_model.brain_areas(roi_dir)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    root, truth = tmp / "cc2017", tmp / "truth"
    (root / "stimuli").mkdir(parents=True)
    (truth / "stimuli").mkdir(parents=True)
    train, test = segment_names(cfg)
    features = {}
    with tqdm(total=len(train) + len(test), desc="synth cc2017: films", unit="film", disable=not progress) as bar:
        for e, seg in enumerate(train + test):
            rng = np.random.default_rng([cfg.seed, 11, e])
            scenes = stim.make_scenes(cfg.episode_seconds, rng)
            feats = stim.write_episode(root / "stimuli" / f"{seg}.mp4", scenes, cfg.episode_seconds, cfg.fps,
                                       cfg.height, cfg.width, cfg.audio_sfreq, rng)  # fmt: skip
            feats.to_parquet(truth / "stimuli" / f"{seg}_features.parquet")
            stim.captions_table(scenes).to_csv(root / "stimuli" / f"{seg}_captions.tsv", sep="\t", index=False)
            features[seg] = feats
            bar.update(1)

    parcels, labels = go.mmp_parcels()
    film_volumes = int(round(cfg.episode_seconds / TR))
    views = [(seg, r) for seg in train for r in range(1, cfg.train_repeats + 1)]
    views += [(seg, r) for seg in test for r in range(1, cfg.test_repeats + 1)]
    runs = []
    with tqdm(total=cfg.subjects * len(views), desc="synth cc2017: runs", unit="run", disable=not progress) as bar:
        for s in range(cfg.subjects):
            sub = f"{s + 1:02d}"
            rng = np.random.default_rng([cfg.seed, 12, s])
            model = fmri_model.subject_model(parcels, labels, areas, rng)
            sub_truth = truth / f"sub-{sub}"
            sub_truth.mkdir(parents=True)
            fmri_model.save_subject_model(sub_truth / f"sub-{sub}_fmri-model.npz", parcels, model)
            for seg, rep in views:
                lead = lead_volumes(seg)
                n_vol = lead + film_volumes + TRAILING
                run_rng = np.random.default_rng([cfg.seed, 13, s, *map(ord, seg), rep])
                sim = fmri_model.simulate_run(features[seg], cfg.fps, lead * TR, n_vol, TR, parcels, model["weights"],
                                              model["gains"], model["baseline"], model["motion_coef"], run_rng)  # fmt: skip
                folder = root / f"subject{s + 1}" / "fmri" / seg / "cifti"
                folder.mkdir(parents=True, exist_ok=True)
                go.write_dtseries(folder / f"{seg}_{rep}_Atlas.dtseries.nii", sim["bold"], TR)
                np.savez_compressed(sub_truth / f"{seg}_{rep}_fmri.npz", region_signal=sim["region_signal"],
                                    design=sim["design"])  # fmt: skip
                runs.append({"subject": sub, "segment": seg, "repeat": rep, "n_volumes": n_vol, "onset": lead * TR})
                bar.update(1)
    manifest = {"config": asdict(cfg), "shape": "cc2017", "tr": TR, "train_segments": train, "test_segments": test,
                "runs": runs}  # fmt: skip
    (truth / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return manifest
