"""Pre-training of the synthetic world's audio models: the tiny Vocos and the tiny F5-TTS.

The real decoder starts from F5-TTS-Base (a text-to-speech model trained on 95,000 hours) and Vocos
(a vocoder trained on LibriTTS); random tiny ones would make every reconstruction the same noise, so the
demo's audio row would say nothing. As the video world's models learn the synthetic films' world
(:mod:`cinebrain.synth.pretrain`), these learn its soundtrack — a tone per scene, its pitch set by the
shape (:data:`cinebrain.synth.stimuli.PITCH`), with a 3-6 Hz loudness modulation and room noise
(:func:`cinebrain.synth.stimuli.render_audio`) — on clips drawn from their own random stream, never the
dataset's:

- :func:`pretrain_vocos`: the Vocos (backbone + ISTFT head, its own mel front end) as a mel -> waveform
  model, with the L1 distance of log-mels (Vocos's ``MelSpecReconstructionLoss``) plus a multi-resolution
  STFT magnitude loss. Vocos's GAN discriminators are left out: for tones the spectral losses suffice
  (held-out LSD and dominant-frequency agreement in the report);
- :func:`pretrain_f5tts`: the F5-TTS DiT as the world's text-to-audio model, by F5-TTS's own flow-matching
  loss (``CFM.forward``) with the whole clip as the span to generate (as the brain decoder trains), reading
  the text ``"<shape> tone"`` through its character embedding (the folder's ``vocab.txt``); 20% of the
  batches unconditional. The report says, on held-out texts, how often the generated clip's dominant
  frequency is the named shape's pitch (the brain decoder's acceptance test, on text).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .stimuli import CATEGORIES, PITCH, Scene, render_audio


def render_tones(n: int, seed: int = 4321, seconds: float = 4.0, rate: int = 24000):
    """``n`` clips of the world's soundtrack: (waves (n, samples) float32, shapes). Each clip is one scene's
    tone (a random shape), the modulation rate and noise drawn as the films draw them."""
    rng = np.random.default_rng(seed)
    waves, shapes = [], []
    for _ in range(n):
        shape = str(rng.choice(CATEGORIES))
        scene = Scene(onset=0.0, duration=seconds + 1.0, category=shape, colour="red", direction="left",
                      background="black", speed=0.0, size=0.2)  # fmt: skip
        waves.append(render_audio([scene], seconds, rate, rng))
        shapes.append(shape)
    return np.stack(waves).astype(np.float32), shapes


def tone_text(shape: str) -> str:
    return f"{shape} tone"


def _batches(n: int, batch_size: int, steps: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield rng.choice(n, size=min(batch_size, n), replace=False)


def _stft_loss(x, y):
    import torch

    loss = 0.0
    for n_fft in (256, 1024, 2048):
        win = torch.hann_window(n_fft, device=x.device)
        a = torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs()
        b = torch.stft(y, n_fft, n_fft // 4, window=win, return_complex=True).abs()
        loss = loss + (a - b).norm() / b.norm().clamp_min(1e-7) + (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
    return loss / 3


def pretrain_vocos(folder, train: np.ndarray, test: np.ndarray, *, steps: int = 800, batch_size: int = 16,
                   crop: int = 24000, lr: float = 2e-3, seed: int = 0, progress: bool = False) -> dict:  # fmt: skip
    """Train the Vocos in ``folder`` (config.yaml + pytorch_model.bin) as a vocoder of the world's audio, on
    random ``crop``-sample windows of the clips (a vocoder is local in time); saved in place; returns the
    report (losses, held-out LSD and dominant-frequency error on whole clips)."""
    import torch
    import yaml
    from tqdm.auto import tqdm
    from vocos.loss import MelSpecReconstructionLoss

    from ..benchmark.audio import dominant_frequency, lsd
    from ..models.vocoder import load_vocos, mel_settings, save_vocos

    torch.manual_seed(seed)
    folder = Path(folder)
    vocos = load_vocos(folder).train()
    rate = mel_settings(vocos)["sample_rate"]
    mel_loss = MelSpecReconstructionLoss(sample_rate=rate)
    params = [*vocos.backbone.parameters(), *vocos.head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x = torch.from_numpy(train)
    losses = []
    crop_rng = np.random.default_rng(seed + 1)
    for idx in tqdm(_batches(len(x), batch_size, steps, seed), total=steps, desc="vocos", disable=not progress):
        start = int(crop_rng.integers(0, max(1, x.shape[-1] - crop)))
        wave = x[idx, start : start + crop]
        with torch.no_grad():
            feats = vocos.feature_extractor(wave)
        out = vocos.head(vocos.backbone(feats))[..., : wave.shape[-1]]
        wave = wave[..., : out.shape[-1]]
        loss = 45 * mel_loss(out, wave) + _stft_loss(out, wave)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    vocos.eval()
    with torch.no_grad():
        rec = vocos(torch.from_numpy(test))[..., : test.shape[-1]].numpy()
    report = {"steps": steps, "train_clips": len(train), "test_clips": len(test), "loss_first": losses[0],
              "loss_last": float(np.mean(losses[-20:])),
              "held_out": {"lsd_db": float(np.mean([lsd(a, b) for a, b in zip(test, rec, strict=True)])),
                           "dominant_frequency_error_hz": float(np.mean(
                               [abs(dominant_frequency(a, rate) - dominant_frequency(b, rate))
                                for a, b in zip(test, rec, strict=True)]))}}  # fmt: skip
    save_vocos(vocos, yaml.safe_load((folder / "config.yaml").read_text()), folder)
    (folder / "pretraining.json").write_text(json.dumps(report, indent=1))
    return report


def char_ids(texts: list[str], vocab: list[str]):
    """F5-TTS's character tokens (``list_str_to_idx``): index in the vocabulary, unknown characters 0,
    batch padding -1."""
    from f5_tts.model.utils import list_str_to_idx

    return list_str_to_idx(list(texts), {c: i for i, c in enumerate(vocab)})


def read_vocab(folder) -> list[str]:
    return [line.rstrip("\n") for line in (Path(folder) / "vocab.txt").read_text().splitlines(keepends=True)]


def nearest_pitch(frequency: float) -> str:
    """The shape whose tone is closest (in semitones) to ``frequency``."""
    return min(PITCH, key=lambda s: abs(np.log2(max(frequency, 1e-3) / PITCH[s])))


def pretrain_f5tts(folder, vocos_folder, train: tuple, test: tuple, *, steps: int = 600, batch_size: int = 16,
                   lr: float = 1e-3, seed: int = 0, sample_steps: int = 16, progress: bool = False) -> dict:  # fmt: skip
    """Train the F5-TTS in ``folder`` on (waves, shapes) ``train`` as a ``"<shape> tone"`` -> audio model
    (module doc); saved in place; the report includes the held-out share of generated clips (vocoded by
    the trained Vocos in ``vocos_folder``) whose dominant frequency is the named shape's pitch."""
    import random

    import torch
    from tqdm.auto import tqdm

    from ..benchmark.audio import dominant_frequency
    from ..models import f5tts
    from ..models.vocoder import load_vocos, mel, mel_settings, vocode

    torch.manual_seed(seed)
    random.seed(seed)  # CFM draws its condition drops from Python's generator
    folder = Path(folder)
    cfm = f5tts.load_f5tts(folder).train()
    step_file = f5tts.checkpoint_file(folder)
    vocab = read_vocab(folder)
    vocos = load_vocos(vocos_folder)
    rate = mel_settings(vocos)["sample_rate"]
    waves, shapes = train
    mels = torch.cat([mel(vocos, torch.from_numpy(waves[i : i + 32])) for i in range(0, len(waves), 32)]).transpose(1, 2)
    texts = char_ids([tone_text(s) for s in shapes], vocab)
    opt = torch.optim.AdamW(cfm.transformer.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * s / steps)))
    losses = []
    for idx in tqdm(_batches(len(mels), batch_size, steps, seed), total=steps, desc="f5-tts", disable=not progress):
        loss, _, _ = cfm(mels[idx], text=texts[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(cfm.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    cfm.eval()
    test_waves, test_shapes = test
    n = test_waves.shape[-1]
    frames = f5tts.mel_frames(n, mel_settings(vocos)["hop_length"])
    gen = _sample_text(cfm, char_ids([tone_text(s) for s in test_shapes], vocab), frames, sample_steps, seed)
    audio = vocode(vocos, gen.transpose(1, 2), n).numpy()
    hits = [nearest_pitch(dominant_frequency(a, rate)) == s for a, s in zip(audio, test_shapes, strict=True)]
    report = {"steps": steps, "train_clips": len(waves), "test_clips": len(test_shapes), "text": "'<shape> tone'",
              "loss_first": losses[0], "loss_last": float(np.mean(losses[-20:])),
              "held_out": {"pitch_accuracy": float(np.mean(hits)), "chance": 1 / len(PITCH),
                           "sample_steps": sample_steps}}  # fmt: skip
    step_file.unlink()
    f5tts.save_f5tts(cfm, folder, step=steps)
    (folder / "pretraining.json").write_text(json.dumps(report, indent=1))
    return report


def _sample_text(cfm, text_ids, frames: int, steps: int, seed: int):
    """Text-conditioned samples of the world's F5-TTS (CFM.sample with no audio prompt)."""
    import torch

    b = text_ids.shape[0]
    cond = torch.zeros(b, frames, cfm.num_channels)
    with torch.no_grad():
        out, _ = cfm.sample(cond, text_ids, frames, lens=torch.zeros(b, dtype=torch.long), steps=steps,
                            cfg_strength=2.0, sway_sampling_coef=-1.0, seed=seed)  # fmt: skip
    return out


# --- the shipped audio world (resources/world/world_audio.json), as the video world is shipped ---

#: The settings (``models.tiny``) that decide what the audio world's models become.
AUDIO_WORLD_SETTINGS = ("audio_world_clips", "vocoder_pretrain_steps", "f5tts_pretrain_steps")
AUDIO_WORLD_MANIFEST = "world_audio.json"


def audio_world_settings(tiny: dict) -> dict:
    """The audio-world-deciding part of ``models.tiny`` (a dict or :class:`cinebrain.synth.settings.TinyModels`)."""
    get = tiny.get if isinstance(tiny, dict) else lambda k: getattr(tiny, k)
    return {k: int(get(k)) for k in AUDIO_WORLD_SETTINGS}


def audio_world_key(settings: dict) -> str:
    """SHA-256 of what decides the audio world's weights: the source of this module, of the soundtrack's
    renderer (:mod:`cinebrain.synth.stimuli`), of the functions that build, save, load and run the tiny
    F5-TTS and Vocos (:mod:`cinebrain.models.f5tts`, :mod:`cinebrain.models.vocoder`, the writers of
    :mod:`cinebrain.synth.models`) and of the metrics the reports use — not of whole modules, so that a
    message or a docstring elsewhere leaves the shipped world current — the installed f5-tts and vocos
    versions, and the ``settings``."""
    import hashlib
    import inspect
    from importlib import metadata

    from ..benchmark import audio as audio_metrics
    from ..models import f5tts, vocoder
    from . import models, stimuli

    h = hashlib.sha256()
    for path in (__file__, stimuli.__file__):
        h.update(Path(path).read_bytes())
    for fn in (models.save_tiny_f5tts, models.save_tiny_vocos, f5tts.f5_classes, f5tts.read_config, f5tts.model_config,
               f5tts.checkpoint_file, f5tts.build_cfm, f5tts._vocab_size, f5tts.load_f5tts, f5tts.save_f5tts,
               f5tts.mel_frames, f5tts.sample, vocoder.load_vocos, vocoder.save_vocos, vocoder.vocos_config,
               vocoder.mel, vocoder.mel_settings, vocoder.vocode, audio_metrics.lsd, audio_metrics.dominant_frequency,
               audio_metrics.power_spectrogram):  # fmt: skip
        h.update(inspect.getsource(fn).encode())
    h.update(f"{models._F5_CHARS} f5-tts {metadata.version('f5-tts')} vocos {metadata.version('vocos')}".encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def shipped_audio_world(manifest, settings: dict) -> Path | None:
    """The shipped world's folder when its audio manifest ``manifest`` (``<models.tiny.world_cache>/
    world_audio.json``; None: none shipped) holds :func:`audio_world_key` of ``settings``, else None with the
    reason on stderr (rule models_world_audio then trains). The video world's check
    (:func:`cinebrain.synth.pretrain.shipped_world`) is not reused: its module's source is part of the video
    world's key, so changing it would make the shipped video world stale."""
    import sys

    if not manifest:
        return None
    manifest = Path(manifest)
    if not manifest.is_file():
        print(f"{manifest}: no shipped audio world (training it); fix: run `make world-audio`", file=sys.stderr)
        return None
    if json.loads(manifest.read_text()).get("key") != audio_world_key(settings):
        print(f"{manifest}: stale — the audio world's code or settings changed since it was trained (training it "
              "now); fix: run `make world-audio` and commit resources/world/audio", file=sys.stderr)  # fmt: skip
        return None
    print(f"{manifest}: the shipped audio world matches this code and these settings; copied, not trained",
          file=sys.stderr)  # fmt: skip
    return manifest.parent


def world_audio(f5_out, vocos_out, *, f5_steps: int, vocos_steps: int, clips: int = 256, seed: int = 4321,
                progress: bool = False, shipped: Path | None = None) -> dict:  # fmt: skip
    """Rule ``models_world_audio``: the tiny Vocos and F5-TTS written and trained on ``clips`` rendered
    clips (the last eighth held out) in ``vocos_out`` and ``f5_out``; 0 steps: left random; ``shipped``
    (:func:`shipped_audio_world`): copied from its ``audio/`` folder."""
    from .models import save_tiny_f5tts, save_tiny_vocos
    from .pretrain import _copy  # the video world's copy (reading it does not change the video world's key)

    if shipped is not None:
        _copy(Path(shipped) / "audio" / "vocos", vocos_out)
        _copy(Path(shipped) / "audio" / "f5tts", f5_out)
        return {name: json.loads((Path(folder) / "pretraining.json").read_text())
                for name, folder in (("vocoder", vocos_out), ("f5tts", f5_out))}  # fmt: skip
    import shutil

    for folder in (vocos_out, f5_out):  # a fresh start: an older checkpoint (model_<step>) would be loaded instead
        shutil.rmtree(folder, ignore_errors=True)
    vocos, f5 = save_tiny_vocos(vocos_out), save_tiny_f5tts(f5_out)
    waves, shapes = render_tones(clips, seed)
    k = max(2, clips // 8)
    train, test = (waves[:-k], shapes[:-k]), (waves[-k:], shapes[-k:])
    report = {"vocoder": {"steps": 0}, "f5tts": {"steps": 0}}
    if vocos_steps:
        report["vocoder"] = pretrain_vocos(vocos, train[0], test[0], steps=vocos_steps, progress=progress)
    if f5_steps:
        report["f5tts"] = pretrain_f5tts(f5, vocos, train, test, steps=f5_steps, progress=progress)
    for name, folder in (("vocoder", vocos), ("f5tts", f5)):
        (Path(folder) / "pretraining.json").write_text(json.dumps(report[name] | {"clips": clips, "seed": seed}, indent=1))
    return report


def build_audio_world(out, tiny: dict, progress: bool = False) -> dict:
    """``cinebrain world --audio`` (``make world-audio``): train the audio world with the ``models.tiny``
    settings ``tiny`` into ``out/audio/`` (``vocos/``, ``f5tts/``) and write its manifest
    (:data:`AUDIO_WORLD_MANIFEST`: the :func:`audio_world_key`, the settings, the reports)."""
    import platform
    import time

    import torch

    out, settings = Path(out), audio_world_settings(tiny)
    t0 = time.perf_counter()
    reports = world_audio(out / "audio" / "f5tts", out / "audio" / "vocos", f5_steps=settings["f5tts_pretrain_steps"],
                          vocos_steps=settings["vocoder_pretrain_steps"], clips=settings["audio_world_clips"],
                          progress=progress)  # fmt: skip
    manifest = {"key": audio_world_key(settings), "settings": settings, "reports": reports,
                "seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
                "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}  # fmt: skip
    (out / AUDIO_WORLD_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
