"""The tiny workflow configuration the workflow and SLURM tests run, and how they call Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

SMK = str(Path(sys.executable).with_name("snakemake"))
TINY = {
    "dataset": {"bids_root": "results/synth/bids", "fmriprep_dir": "results/synth/bids/derivatives/fmriprep",
                "task": "movie", "tr": 0.8, "volume_marker": "R128"},
    "synth": {"enabled": True, "out": "results/synth", "subjects": 2, "episodes": 3, "episode_seconds": 10,
              "eeg_sfreq": 250, "seed": 1, "height": 32, "width": 48, "fps": 8},
    "split": {"test_episodes": 1},
    # 14-s runs at 250 Hz: the output rate follows the recording's, and a small ICA
    # the synthetic recording at 250 Hz: its gradient is generated band-limited to a quarter of the rate (the
    # amplifier's anti-aliasing filter of cinebrain.synth.eeg), so nothing aliases and the 1-kHz floor of
    # eeg.gradient.min_sfreq, which guards real recordings, can be lowered here
    "eeg": {"sfreq": 250, "gradient": {"min_sfreq": 250}, "ica": {"n_components": 8}},
    # 4-s clips of the 32 x 48 films, ground-truth captions, tiny models written by models_tiny
    "stimuli": {"height": 32, "width": 48, "shot_threshold": 15.0},
    "models": {"tiny": {"enabled": True, "out": "results/models/tiny"}},
    "features": {"embedder": {"model": "results/models/tiny/clip"},
                 "vae": {"model": "results/models/tiny/cogvideox", "subfolder": "vae", "dtype": "float32"},
                 # CineNeuron's action embeddings and Wan latents
                 "action": {"model": "results/models/tiny/xclip"},
                 "wan_vae": {"model": "results/models/tiny/wan", "subfolder": "vae", "dtype": "float32"}},
    # CineSync with a tiny encoder (2 training clips per subject: batches of 2, a few steps); the tiny
    # CogVideoX takes 32 x 32 text embeddings: the 226 x 8 brain feature goes through the adapter
    "methods": {"cinesync": {
        "encoder": {"model": {"width": 16, "depth": 1, "heads": 2, "cond_dim": 8},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}, "evaluation": {"repeats": 1}},
        "decoder": {"model": {"base": "results/models/tiny/cogvideox", "lora_rank": 4, "lora_alpha": 4},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1},
                    "reconstruct": {"steps": 2, "batch_size": 2}},
    },
    # CineSync's audio configuration: the fused variant and the EEG-only one, tiny encoder, the tiny
    # random F5-TTS and Vocos of models_tiny (the demo's are pre-trained on the synthetic soundtrack)
    "cinesync_audio": {
        # the tiny workflow extracts the visual ROI set only; its captions (the truth) name the tone
        "variants": ["cinesync", "cinesync_eeg"], "roi_sets": ["visual"], "star_roi_sets": ["visual"],
        "text_sources": ["truth"],
        "encoder": {"model": {"width": 16, "depth": 1, "heads": 2, "cond_dim": 8},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}, "evaluation": {"repeats": 1}},
        "decoder": {"variants": ["cinesync", "cinesync_eeg"],
                    "model": {"base": "results/models/tiny/f5tts", "config": None, "vocoder": "results/models/tiny/vocos",
                              "lora_rank": 4, "lora_alpha": 4},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1},
                    "reconstruct": {"steps": 2, "batch_size": 2, "figure_clips": 2, "playable_clips": 1}},
    },
    # CineNeuron with a tiny Brain Model and the tiny Wan (the demo leaves it off: README)
    "cineneuron": {
        "roi_sets": None,
        "brain": {"model": {"n_tokens": 4, "width": 16, "depth": 1, "heads": 2},
                  "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1, "schedule": "cosine"},
                  "evaluation": {"repeats": 1}},
        "memory": {"top_k": 1, "heads": 2},
        "decoder": {"model": {"base": "results/models/tiny/wan", "tokens": 96},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1, "schedule": "cosine"},
                    "reconstruct": {"steps": 2, "batch_size": 2}},
    },
    # Mind-Animator for one subject, the full model and one ablation, tiny decoders and the tiny Stable Diffusion
    "mindanimator": {
        "subjects": ["01"], "variants": ["mindanimator", "no_motion"], "roi_sets": None,
        "base": "results/models/tiny/stable_diffusion", "frames": 4,
        "semantic": {"model": {"hidden": 32}, "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1},
                     "captions": {"variants": 1}},
        "structure": {"model": {"hidden": 32}, "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}},
        "motion": {"model": {"patch": 2, "width": 16, "depth": 1, "heads": 2},
                   "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}},
        "reconstruct": {"steps": 2, "inversion_steps": 2}, "evaluation": {"repeats": 1}},
    # NeuroCine for one subject: a tiny fMRI encoder over windows of 2 of the 5 volumes, 2 steps of each phase
    "neurocine": {
        "subjects": ["01"], "roi_sets": None, "base": "results/models/tiny/stable_diffusion", "frames": 4,
        "size": None,
        "encoder": {"model": {"patch": 64, "width": 16, "depth": 1, "heads": 2, "window": 2},
                    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}},
        "decoder": {"video_train": {"steps": 2, "batch_size": 2, "warmup_steps": 1},
                    "train": {"steps": 2, "batch_size": 2, "warmup_steps": 1}, "reconstruct": {"steps": 2}},
        "evaluation": {"repeats": 1}},
    # Brain Netflix for both subjects: the single-subject model and the leave-one-subject-out model (each
    # subject's, trained on the other's data); tiny MBM encoder, ridge and MLP, the tiny Zeroscope-layout generator
    # and BLIP (the ablations' reconstruction paths are tested in test_brainflix.py: scoring costs 50 s a variant)
    "brainflix": {
        "variants": ["brainflix", "loso"], "roi_sets": None,
        "generator": "results/models/tiny/zeroscope", "blip": "results/models/tiny/blip", "frames": 2, "size": [32, 32],
        "mbm": {"model": {"patch": 256, "width": 16, "depth": 1, "heads": 2, "decoder_width": 8, "decoder_depth": 1,
                          "decoder_heads": 2}, "train": {"steps": 3, "batch_size": 4, "warmup_steps": 1}},
        "align": {"train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}},
        "regression": {"backbones": ["ridge", "mlp"], "mlp": {"width": 16},
                       "train": {"steps": 3, "batch_size": 2, "warmup_steps": 1}},
        "reconstruct": {"steps": 2}, "evaluation": {"repeats": 1}},
    },
    # the benchmark with the tiny metric networks, 2 shuffles per clip, few bootstrap draws
    "benchmark": {"networks": {k: f"results/models/tiny/{v}" for k, v in [("video_classifier", "videomae"),
                  ("image_classifier", "vit"), ("clip", "clip"), ("dino", "dino"), ("fvd", "videomae")]},
                  "trials": 20, "shuffle_n": 2, "bootstrap": 100, "fvd_bootstrap": 10,
                  # the ledger without Mind-Animator's 512 x 512 EPE (tests/test_benchmark.py checks it): it made each
                  # run's scoring ~120 s instead of ~10 s, about 10 minutes of the tiny workflow
                  "as_released": ["hue_cosine", "ssim_gray"],
                  "audio": {"whisper": "results/models/tiny/whisper", "fad_model": "results/models/tiny/encodec",
                            "max_new_tokens": 4, "fad_bootstrap": 10},
                  "ceiling": {"generator": "results/models/tiny/cogvideox", "sampling": {"steps": 2, "batch_size": 2}}},
}  # fmt: skip


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


#: The tiny cc2017-shaped replica (cinebrain synth --shape cc2017: fMRI only, TR 2 s, repeats) through every
#: method that reads the fMRI alone: 2 training segments seen twice, 1 test segment seen 3 times (averaged),
#: 10-s segments cut into 2-s clips of 33 frames (16 fps: the 4-s clips' shapes of TINY), one subject.
CC2017 = _merged(TINY, {
    "dataset": {"bids_root": "results/synth/cc2017", "fmriprep_dir": "results/synth/cc2017", "tr": 2.0,
                "adapter": "cc2017", "modalities": ["fmri"]},
    "synth": {"shape": "cc2017", "subjects": 1, "episodes": 2, "episode_seconds": 10, "fps": 16, "test_segments": 1,
              "train_repeats": 2, "test_repeats": 3},
    "split": {"test_episodes": ["test1"]},
    "stimuli": {"clip_seconds": 2.0, "fps": 16, "frames": 33},
    # the stimulus-activated columns of the repeated training segments, added to the datasets as a set (with 2
    # segments of 5 volumes the test has 1 degree of freedom: the set may be empty, so no method reads it here)
    "fmri": {"activation": {"enabled": True}},
    "methods": {
        "cinesync": {"variants": ["cinesync_fmri"], "decoder": {"variants": ["cinesync_fmri"]}},
        "cinesync_audio": {"enabled": False},
        "mindanimator": {"variants": ["mindanimator"]},
        # a clip is one 2-s volume here: NeuroCine's window is that volume
        "neurocine": {"encoder": {"model": {"window": None}}},
        # one subject: no leave-one-subject-out model
        "brainflix": {"variants": ["brainflix"]},
    },
})  # fmt: skip


#: The tiny per-clip betas replica (cinebrain synth --shape betas: a beta vector per 2-s video and repeat, the layout
#: BOLD Moments / Human Actions convert to) through Brain Netflix, the method of those datasets: 4 training videos
#: seen twice, 2 test videos seen 3 times (averaged), one subject; no CineNeuron features, no ceilings.
BETAS = _merged(TINY, {
    "dataset": {"bids_root": "results/synth/betas", "fmriprep_dir": "results/synth/betas", "tr": 2.0,
                "adapter": "betas", "modalities": ["fmri"]},
    "synth": {"shape": "betas", "subjects": 1, "episodes": 4, "episode_seconds": 2, "fps": 16, "test_segments": 2,
              "train_repeats": 2, "test_repeats": 3},
    "stimuli": {"clip_seconds": 2.0, "fps": 16, "frames": 33},
    "features": {"action": {"model": None}, "wan_vae": {"model": None}},
    "methods": {**{m: {"enabled": False} for m in ("cinesync", "cinesync_audio", "cineneuron", "mindanimator",
                                                    "neurocine")},
                "brainflix": {"variants": ["brainflix"]}},
    "benchmark": {"ceiling": {"enabled": False}},
})  # fmt: skip


#: Every way out to the network closed (proxies and the hub's endpoint on a port nothing listens on): the tiny
#: workflow runs under it, so that a download attempted by any job fails the run.
NO_NETWORK = {**{k: "http://127.0.0.1:9" for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                                   "https_proxy", "all_proxy", "HF_ENDPOINT")},
              "NO_PROXY": "", "no_proxy": ""}  # fmt: skip


def smk(workdir: Path, *args, check=True, env: dict | None = None):
    # targets and options first: --configfile takes every value that follows it
    cmd = [SMK, "-s", str(REPO / "Snakefile"), *args, "--directory", str(workdir), "--configfile",
           str(workdir / "config.yaml")]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res
