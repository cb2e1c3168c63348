"""A waveform of every test clip from a trained audio decoder (rule ``cinesync_audio_reconstruct``).

The mel is sampled by the learned flow from the clip's fused brain feature (every clip from the same
seeded noise: the clips differ by their brain input only, as the methods' contract asks), Vocos turns it
into 24-kHz audio, cut to the clip's length. The output folder follows the contract
(:mod:`cinebrain.methods.contract`): ``<clip>.wav``, ``no_brain.wav`` (the decode of the mean training
brain feature) and ``reconstructions.parquet`` (clip, episode, has_cut, audio, ground_truth, no_brain).
The report gets the mel spectrograms of a few clips (ground truth | reconstruction | no-brain control)
and a page that plays them.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import torch

from ...models import f5tts


def reconstruct_audio(net, vocos, batches, n_samples: int, *, steps: int = 32, cfg_strength: float = 2.0,
                      sway_sampling_coef: float | None = -1.0, seed: int = 42):  # fmt: skip
    """Waveforms (N, n_samples) of brain batches (dicts of brain windows, collated as the ClipDataset gives
    them, or ready conditions ``{"condition": (B, T, C)}``): mels sampled from the brain condition from the
    same ``seed`` noise, vocoded and cut to ``n_samples``."""
    from ...models.vocoder import mel_settings, vocode

    frames = f5tts.mel_frames(n_samples, mel_settings(vocos)["hop_length"])
    out = []
    for batch in batches:
        with torch.no_grad():
            cond = batch["condition"] if "condition" in batch else net.condition(batch)
        mels = f5tts.sample(net.cfm, cond, frames, steps=steps, cfg_strength=cfg_strength,
                            sway_sampling_coef=sway_sampling_coef, seed=seed)  # fmt: skip
        out.append(vocode(vocos, mels.transpose(1, 2).float(), n_samples).cpu().numpy())
    return np.concatenate(out)


def _batches(ds, batch_size: int, device):
    for b in range(0, len(ds), batch_size):
        batch = torch.utils.data.default_collate([ds[i] for i in range(b, min(b + batch_size, len(ds)))])
        yield {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def reconstruct(*, decoder_dir, test_dir, out_dir, settings: dict, train_dir=None, figure=None, clips_page=None,
                device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Rule ``cinesync_audio_reconstruct``'s task: ``out_dir/<clip>.wav`` for every test clip at the vocoder's
    rate and the clip's length, ``no_brain.wav`` (with ``train_dir``) and ``reconstructions.parquet``; the
    folder appears complete or not at all. ``figure``: the mel spectrograms of ``figure_clips`` clips;
    ``clips_page``: an HTML page playing ``playable_clips`` clips."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ...atomic import atomic_dir
    from ...data import ClipDataset
    from ...models.vocoder import load_vocos, mel_settings
    from ...settings import build
    from ...stimuli import write_wav
    from ...train.distributed import torch_device
    from ..cinesync.reconstruct import mean_brain_feature
    from .decoder import clip_audio, load_audio_decoder
    from .settings import ReconstructSettings

    rs = build(ReconstructSettings, settings, "methods.cinesync_audio.decoder.reconstruct")
    out_dir, dev = Path(out_dir), torch_device(device)
    net, meta = load_audio_decoder(decoder_dir, device=dev)
    vocos = load_vocos(meta["decoder"]["vocoder"], device=dev)
    rate = mel_settings(vocos)["sample_rate"]
    mods = tuple(meta["modalities"])
    ds = ClipDataset(test_dir, modalities=mods, fmri_columns=meta["fmri_columns"])
    truth = clip_audio(ds, rate)
    n_samples = len(truth[0])
    man = ds.manifest
    sampling = {"steps": rs.steps, "cfg_strength": rs.cfg_strength, "sway_sampling_coef": rs.sway_sampling_coef,
                "seed": rs.seed}  # fmt: skip
    batches = tqdm(_batches(ds, rs.batch_size, dev), total=-(-len(ds) // rs.batch_size), desc="reconstruct audio",
                   disable=not progress)  # fmt: skip
    audio = reconstruct_audio(net, vocos, batches, n_samples, **sampling)
    no_brain = None
    if train_dir is not None:
        train = ClipDataset(train_dir, modalities=mods, fmri_columns=meta["fmri_columns"])
        # the no-brain control's condition: the brain path's mean output over the training clips (CineSync's)
        cond = mean_brain_feature(net.brain, train, rs.batch_size, dev)
        no_brain = reconstruct_audio(net, vocos, [{"condition": cond}], n_samples, **sampling)[0]
    column = f"audio_{rate}"
    rows = []
    with atomic_dir(out_dir) as tmp:
        for i, clip in enumerate(man["clip"]):
            write_wav(tmp / f"{clip}.wav", audio[i], rate)
            rows.append({"clip": clip, "episode": man["episode"].iloc[i], "has_cut": bool(man["has_cut"].iloc[i]),
                         "audio": str(out_dir / f"{clip}.wav"), "ground_truth": str(ds.resolve(man[column].iloc[i]))}
                        | ({"no_brain": str(out_dir / "no_brain.wav")} if no_brain is not None else {}))  # fmt: skip
        if no_brain is not None:
            write_wav(tmp / "no_brain.wav", no_brain, rate)
        pd.DataFrame(rows).to_parquet(tmp / "reconstructions.parquet")
    title = f"{meta['variant']} sub-{meta['subject']}"
    shown = [(c, truth[i], audio[i]) for i, c in enumerate(man["clip"])]
    if figure is not None:
        plot_mels(shown[: rs.figure_clips], no_brain, rate, figure, title=title)
    if clips_page is not None:
        write_clips_page(shown[: rs.playable_clips], no_brain, rate, clips_page, title=title)
    return {"clips": len(rows), "rate": rate, "samples": n_samples}


def plot_mels(clips, no_brain, rate: int, out, title: str = "") -> None:
    """One row per clip: the log-mel spectrograms of the ground truth, the reconstruction and (when there is
    one) the no-brain control, on one colour scale per row (the ground truth's range)."""
    from ...benchmark.audio import log_mel
    from ...plotting import pyplot

    plt = pyplot()
    if not clips:
        raise ValueError(f"{out}: no clips to show")
    cols = ["ground truth", "reconstruction"] + (["no-brain control"] if no_brain is not None else [])
    fig, axes = plt.subplots(len(clips), len(cols), figsize=(3.2 * len(cols), 1.6 * len(clips) + 0.6), squeeze=False)
    seconds = len(clips[0][1]) / rate
    for r, (clip, gt, rec) in enumerate(clips):
        mels = [log_mel(gt, rate), log_mel(rec, rate)] + ([log_mel(no_brain, rate)] if no_brain is not None else [])
        lo, hi = float(mels[0].min()), float(mels[0].max())
        for c, m in enumerate(mels):
            ax = axes[r, c]
            ax.imshow(m, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma", extent=(0, seconds, 0, m.shape[0]))
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=8)
            if r < len(clips) - 1:
                ax.set_xticks([])
            else:
                ax.set_xlabel("s", fontsize=7)
        axes[r, 0].set_ylabel(clip, fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle(f"{title}: log-mel spectrograms (Vocos's 100 bands, 24 kHz)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _wav_uri(audio: np.ndarray, rate: int) -> str:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).round().astype("<i2").tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def write_clips_page(clips, no_brain, rate: int, out, title: str = "") -> None:
    """A self-contained HTML page (the WAVs inline) playing each clip's ground truth and reconstruction,
    and the no-brain control: the report shows it as it is."""
    import html

    rows = "".join(f"<tr><td>{html.escape(c)}</td><td><audio controls src='{_wav_uri(gt, rate)}'></audio></td>"
                   f"<td><audio controls src='{_wav_uri(rec, rate)}'></audio></td></tr>" for c, gt, rec in clips)  # fmt: skip
    control = (f"<p>no-brain control (the mean training brain feature): <audio controls src='{_wav_uri(no_brain, rate)}'>"
               "</audio></p>" if no_brain is not None else "")  # fmt: skip
    Path(out).write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                         f"<h3>{html.escape(title)}: test clips</h3><table><tr><th>clip</th><th>ground truth</th>"
                         f"<th>reconstruction</th></tr>{rows}</table>{control}")  # fmt: skip
