"""The audio half: Cine-Benchmark's audio metrics on known answers (cinebrain.benchmark.audio), F5-TTS and
Vocos loaded by their own packages (cinebrain.models.f5tts, .vocoder), and CineSync's audio decoder
(cinebrain.methods.cinesync_audio): LoRA training, round trip, reconstruction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cinebrain.benchmark import audio as A
from cinebrain.stimuli import write_wav

RATE = 24000


def _tone(freq=440.0, seconds=4.0, amp=0.2, noise=0.05, seed=0):
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))).astype(np.float32)


# --- metrics: known answers ---------------------------------------------------------------------


def test_identical_audio_scores_perfectly(tmp_path):
    x = _tone()
    write_wav(tmp_path / "a.wav", x, RATE)
    write_wav(tmp_path / "b.wav", x, RATE)
    s = A.score_clip(x, x, RATE, reference_wav=tmp_path / "a.wav", estimate_wav=tmp_path / "b.wav",
                     transcript="Hello, world.", hypothesis="hello world")  # fmt: skip
    assert s == {"wer": 0.0, "cer": 0.0, "lsd": 0.0, "mcd": 0.0, "mel_ssim": 1.0, "mel_rmse": 0.0, "peak_semitones": 0.0}


def test_level_shift_gives_the_hand_computed_lsd():
    """Every bin of 2x the signal has 4x the power: the log-spectral distance is 10 log10(4) dB exactly."""
    x = _tone()
    assert A.lsd(x, 2 * x) == pytest.approx(20 * np.log10(2), abs=1e-6)
    assert A.lsd(x, 0.5 * x) == pytest.approx(20 * np.log10(2), abs=1e-6)
    y = _tone(660.0, seed=1)
    assert A.lsd(x, y) == pytest.approx(A.lsd(y, x)) and A.lsd(x, y) > 1.0  # symmetric, and a pitch change costs


def test_word_and_character_error_rates():
    assert A.error_rates("the cat sat on the mat", "the dog sat on the mat") == pytest.approx((1 / 6, 3 / 22))
    assert A.error_rates("the cat", "the cat sat") == pytest.approx((1 / 2, 4 / 7))  # 1 inserted word, 4 chars
    wer, cer = A.error_rates("", "anything")  # no reference words: undefined
    assert np.isnan(wer) and np.isnan(cer)


def test_mcd_grows_with_a_spectral_change(tmp_path):
    x, y = _tone(440.0), _tone(660.0, seed=1)
    write_wav(tmp_path / "x.wav", x, RATE)
    write_wav(tmp_path / "y.wav", y, RATE)
    write_wav(tmp_path / "x2.wav", _tone(440.0, seed=2), RATE)
    same_pitch = A.mcd(tmp_path / "x.wav", tmp_path / "x2.wav", RATE)
    assert 0 < same_pitch < A.mcd(tmp_path / "x.wav", tmp_path / "y.wav", RATE)


def test_mel_similarity_falls_with_a_pitch_change():
    x = _tone(440.0)
    ssim_same, rmse_same = A.mel_similarity(x, _tone(440.0, seed=1))
    ssim_other, rmse_other = A.mel_similarity(x, _tone(660.0, seed=1))
    assert ssim_same > ssim_other and rmse_same < rmse_other
    assert A.dominant_frequency(x, RATE) == pytest.approx(440.0, abs=RATE / A.LSD_FFT)
    assert A.peak_semitones(x, _tone(880.0, seed=1), RATE) == pytest.approx(12.0, abs=0.5)  # an octave


def test_fad_is_zero_for_the_same_set_and_grows_with_a_shift(tmp_path):
    from cinebrain.synth.models import save_tiny_encodec

    enc = A.load_encodec(save_tiny_encodec(tmp_path / "encodec"))
    ref = [A.encodec_embeddings(enc, _tone(300 + 40 * i, seconds=1.0, seed=i), RATE) for i in range(6)]
    assert ref[0].shape == (75, 32)  # 75 frames per second of 24-kHz audio, the tiny model's width
    assert A.fad(ref, ref) == pytest.approx(0.0, abs=1e-6)
    same = [A.encodec_embeddings(enc, _tone(300 + 40 * i, seconds=1.0, seed=10 + i), RATE) for i in range(6)]
    noise = [A.encodec_embeddings(enc, np.random.default_rng(i).normal(0, 0.2, RATE).astype(np.float32), RATE)
             for i in range(6)]  # fmt: skip
    assert 0 < A.fad(ref, same) < A.fad(ref, noise) / 10  # the same tones in other noise are much closer than noise


def test_whisper_transcribes_a_clip_with_a_tiny_model(tmp_path):
    from cinebrain.synth.models import save_tiny_whisper

    whisper = A.load_whisper(save_tiny_whisper(tmp_path / "whisper"))
    text = A.transcribe(whisper, _tone(seconds=1.0), RATE, max_new_tokens=5)
    assert isinstance(text, str)
    assert A.transcribe(whisper, _tone(seconds=1.0), RATE, max_new_tokens=5) == text  # greedy: deterministic


# --- packages -----------------------------------------------------------------------------------


def test_decoder_packages_import_without_their_heavy_dependencies():
    """The environment the Makefile made (f5-tts and vocos installed with --no-deps): F5-TTS's model classes
    and Vocos import in a fresh interpreter, and gradio, wandb, bitsandbytes and datasets are neither
    installed nor imported."""
    from importlib import metadata
    from pathlib import Path

    code = ("import sys; from cinebrain.models.f5tts import f5_classes; CFM, DiT, MelSpec = f5_classes(); "
            "import vocos; print(sorted(m for m in ('wandb', 'gradio', 'datasets', 'bitsandbytes') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for heavy in ("wandb", "gradio", "bitsandbytes", "datasets"):
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(heavy)
    repo = Path(__file__).resolve().parents[1]
    pins = [ln for ln in (repo / "requirements-nodeps.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    for pin in pins:
        name, version = pin.split("==")
        assert metadata.version(name) == version
        assert pin in (repo / "envs/torch.post-deploy.sh").read_text()  # the conda environment installs the same


def test_vocos_mel_round_trip_keeps_the_length(tmp_path):
    from cinebrain.models.vocoder import load_vocos, mel, mel_settings, vocode
    from cinebrain.synth.models import save_tiny_vocos

    vocos = load_vocos(save_tiny_vocos(tmp_path / "vocos"))
    assert mel_settings(vocos) == {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100}
    x = torch.from_numpy(np.stack([_tone(), _tone(330.0)]))
    m = mel(vocos, x)
    assert m.shape == (2, 100, 376)  # 96,000 / 256 + 1 frames, centred
    assert vocode(vocos, m, 96000).shape == (2, 96000)
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        (tmp_path / "vocos/pytorch_model.bin").unlink()
        load_vocos(tmp_path / "vocos")


def test_f5tts_folder_round_trip_and_bad_checkpoint(tmp_path):
    from cinebrain.models import f5tts
    from cinebrain.synth.models import save_tiny_f5tts

    folder = save_tiny_f5tts(tmp_path / "f5")
    a = f5tts.load_f5tts(folder)
    b = f5tts.load_f5tts(folder)
    x, t = torch.randn(1, 50, 100), torch.tensor([0.3])
    text = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(a.transformer(x=x, cond=x * 0, text=text, time=t),
                           b.transformer(x=x, cond=x * 0, text=text, time=t))  # fmt: skip
    assert f5tts.read_config("F5TTS_Base")["model"]["arch"]["dim"] == 1024  # the package's config, by name
    cfg = json.loads(json.dumps(a.config))
    cfg["model"]["arch"]["depth"] = 1
    import yaml

    (folder / "model.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="does not fit the config's model.*fix"):
        f5tts.load_f5tts(folder)
    with pytest.raises(ValueError, match=r"does not fit the config's model \(size mismatch for .*fix: the config the checkpoint"):
        f5tts.load_f5tts(tmp_path / "f5", config="F5TTS_Base")  # a tiny checkpoint read as F5-TTS-Base


# --- the decoder --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audio_setup(tmp_path_factory):
    """A tiny F5-TTS and Vocos, a trained-looking encoder (fused 10 tokens x 12), and splits whose clips
    carry 24-kHz tones (pitch by clip) with fMRI that encodes the pitch."""
    from safetensors.torch import save_file

    from cinebrain.methods.cinesync.encoder import CineSyncConfig, CineSyncEncoder
    from cinebrain.synth.models import save_tiny_f5tts, save_tiny_vocos

    from .test_cinesync_encoder import TINY, _split

    root = tmp_path_factory.mktemp("audio")
    torch.manual_seed(0)
    cfg = CineSyncConfig(variant="cinesync", **TINY)
    (root / "encoder").mkdir()
    save_file(CineSyncEncoder(cfg).state_dict(), str(root / "encoder/model.safetensors"))
    (root / "encoder/config.json").write_text(json.dumps({"model": cfg.to_dict()}, default=list))
    for split, n, seed in (("train", 8, 0), ("test", 3, 1)):
        _split(root / split, n, seed)
        man = pd.read_parquet(root / split / "manifest.parquet")
        paths = []
        for i in range(n):
            write_wav(root / split / f"c{i}.wav", _tone(262.0 * (1 + i % 2), seconds=1.0, seed=i), RATE)
            paths.append(f"c{i}.wav")
        man["audio_24000"] = paths
        man["episode"], man["has_cut"] = f"ep{seed}", False
        man.to_parquet(root / split / "manifest.parquet")
    return {"root": root, "f5": str(save_tiny_f5tts(root / "f5")), "vocos": str(save_tiny_vocos(root / "vocos")),
            "encoder": root / "encoder", "train": root / "train", "test": root / "test"}  # fmt: skip


MODEL = {"lora_rank": 4, "lora_alpha": 2, "config": None}


def _train_audio(s, out, steps=4):
    from cinebrain.methods.cinesync_audio.decoder import train_audio_decoder

    return train_audio_decoder(variant="cinesync", train_dir=s["train"], encoder_dir=s["encoder"],
                               model={"base": s["f5"], "vocoder": s["vocos"], **MODEL},
                               train={"steps": steps, "batch_size": 4, "warmup_steps": 1, "lr": 1e-3,
                                      "betas": (0.9, 0.95), "checkpoint_every": 2},
                               out_dir=out, device="cpu", progress=False)  # fmt: skip


def test_only_lora_the_brain_path_and_its_embedding_train(audio_setup):
    from cinebrain.methods.cinesync_audio.decoder import build_audio_decoder

    net, info = build_audio_decoder({"base": audio_setup["f5"], **MODEL}, audio_setup["encoder"])
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    dit = {n for n in trainable if n.startswith("cfm.transformer.")}
    assert dit and all("lora_" in n or ".text_embed." in n for n in dit)
    assert any(n.startswith("brain.encoder.") for n in trainable)
    assert info["trainable_parameters"] == sum(p.numel() for p in net.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def audio_trained(audio_setup):
    out = audio_setup["root"] / "dec"
    return out, _train_audio(audio_setup, out, steps=30)


def test_training_lowers_the_loss_and_round_trips(audio_setup, audio_trained):
    from cinebrain.data import ClipDataset
    from cinebrain.methods.cinesync_audio.decoder import load_audio_decoder
    from cinebrain.methods.cinesync_audio.reconstruct import reconstruct_audio
    from cinebrain.models.vocoder import load_vocos

    tmp_path = audio_trained[0].parent
    meta = audio_trained[1]
    curve = pd.read_csv(tmp_path / "dec/metrics.csv")
    assert len(curve) == 30 and curve["loss"].tail(5).mean() < curve["loss"].head(5).mean()
    assert meta["mel_frames"] == 94 and meta["train_clips"] == 8  # 1-s clips: 24,000 / 256 + 1
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["brain.safetensors", "decoder.json", "metrics.csv",
                                                                   "pytorch_lora_weights.safetensors", "tensorboard"]  # fmt: skip
    net, saved = load_audio_decoder(tmp_path / "dec")
    assert saved["base_signature"] == meta["base_signature"]
    test = ClipDataset(audio_setup["test"], modalities=("fmri", "eeg"))
    batch = torch.utils.data.default_collate([test[i] for i in range(3)])
    vocos = load_vocos(audio_setup["vocos"])
    a = reconstruct_audio(net, vocos, [batch], 24000, steps=4, seed=3)
    b = reconstruct_audio(net, vocos, [{k: v[:1] for k, v in batch.items()}, {k: v[1:] for k, v in batch.items()}],
                          24000, steps=4, seed=3)  # fmt: skip
    assert a.shape == (3, 24000) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)  # a clip's output does not depend on its batch


def test_decoder_errors_name_the_file_and_the_fix(audio_setup, tmp_path):
    from cinebrain.methods.cinesync.decoder import DecoderError
    from cinebrain.methods.cinesync_audio.decoder import load_audio_decoder

    with pytest.raises(DecoderError, match=r"decoder.json: no audio decoder here; fix: train it first"):
        load_audio_decoder(tmp_path / "none")
    import shutil

    bad = tmp_path / "noaudio"
    shutil.copytree(audio_setup["train"], bad)
    man = pd.read_parquet(bad / "manifest.parquet").drop(columns=["audio_24000"])
    man.to_parquet(bad / "manifest.parquet")
    s = dict(audio_setup, train=bad)
    with pytest.raises(DecoderError, match=r"manifest.parquet: no clip audio at 24000 Hz.*fix: add 24000 to stimuli.audio_rates"):
        _train_audio(s, tmp_path / "dec", steps=1)
    assert not (tmp_path / "dec/decoder.json").exists()


def test_reconstruction_writes_the_contract_and_the_report_files(audio_setup, audio_trained, tmp_path):
    from cinebrain.methods.cinesync_audio.reconstruct import reconstruct
    from cinebrain.stimuli import read_wav

    out = tmp_path / "recon"
    info = reconstruct(decoder_dir=audio_trained[0], test_dir=audio_setup["test"], train_dir=audio_setup["train"],
                       out_dir=out, settings={"steps": 4, "batch_size": 2, "figure_clips": 2, "playable_clips": 2},
                       figure=tmp_path / "mel.png", clips_page=tmp_path / "clips.html", device="cpu", progress=False)  # fmt: skip
    assert info == {"clips": 3, "rate": 24000, "samples": 24000}
    table = pd.read_parquet(out / "reconstructions.parquet")
    assert list(table.columns) == ["clip", "episode", "has_cut", "audio", "ground_truth", "no_brain"]
    assert sorted(p.name for p in out.iterdir()) == ["c0.wav", "c1.wav", "c2.wav", "no_brain.wav",
                                                     "reconstructions.parquet"]  # fmt: skip
    for path in table["audio"]:
        audio, rate = read_wav(path)
        assert rate == 24000 and len(audio) == 24000  # the clip's length at the vocoder's rate
    assert (tmp_path / "mel.png").stat().st_size > 10_000
    page = (tmp_path / "clips.html").read_text()
    assert page.count("<audio controls src='data:audio/wav;base64,") == 5  # 2 clips x 2, and the control


def test_audio_benchmark_scores_the_ground_truth_perfectly_and_its_controls_not(audio_setup, tmp_path):
    """A 'reconstruction' that is the ground truth: LSD 0, MCD 0, mel SSIM 1, FAD 0, WER/CER 0 where the
    reference transcript has words; the shuffled-brain control (another clip) scores worse; the summary
    has every metric with its interval, and the paired differences."""
    import shutil

    from cinebrain.benchmark.audio import AUDIO_METRICS, score_audio, summarise_audio
    from cinebrain.synth.models import save_tiny_encodec, save_tiny_whisper

    test = audio_setup["test"]
    man = pd.read_parquet(test / "manifest.parquet")
    recon = tmp_path / "benchmark_in"
    recon.mkdir()
    rows = []
    for clip, path in zip(man["clip"], man["audio_24000"], strict=True):
        shutil.copy(test / path, recon / f"{clip}.wav")
        rows.append({"clip": clip, "episode": "ep1", "has_cut": False, "audio": str(recon / f"{clip}.wav"),
                     "ground_truth": str(test / path), "no_brain": str(recon / "no_brain.wav")})  # fmt: skip
    write_wav(recon / "no_brain.wav", _tone(300.0, seconds=1.0, seed=9), RATE)
    pd.DataFrame(rows).to_parquet(recon / "reconstructions.parquet")
    audio = {"whisper": str(save_tiny_whisper(tmp_path / "whisper")), "fad_model": str(save_tiny_encodec(tmp_path / "enc")),
             "max_new_tokens": 4, "fad_bootstrap": 20}  # fmt: skip
    settings = {"shuffle_gap": 1, "bootstrap": 50}
    df = score_audio(recon, test, settings=settings, audio=audio, out_dir=tmp_path / "scores" / "m" / "v" / "sub-01")
    assert sorted(set(df["condition"])) == ["no_brain", "reconstruction", "shuffled_brain"] and len(df) == 9
    rec = df[df["condition"] == "reconstruction"]
    assert (rec["lsd"] == 0).all() and (rec["mcd"] == 0).all() and (rec["mel_ssim"] == 1).all()
    assert (rec["mel_rmse"] == 0).all() and (rec["transcript"] == rec["reference_text"]).all()
    spoken = rec[rec["reference_text"].str.strip() != ""]
    assert (spoken["wer"] == 0).all() and rec.loc[rec["reference_text"].str.strip() == "", "wer"].isna().all()
    shuffled = df[df["condition"] == "shuffled_brain"]
    assert (shuffled["lsd"].to_numpy() > 0).all() and (shuffled["mel_ssim"].to_numpy() < 1).all()
    sets = json.loads((tmp_path / "scores/m/v/sub-01/set.json").read_text())
    assert sets["reconstruction"]["fad"] == pytest.approx(0, abs=1e-9) and sets["no_brain"]["fad"] > 0
    summary = summarise_audio([tmp_path / "scores/m/v/sub-01"], settings, tmp_path / "s.csv", tmp_path / "s.md")
    assert set(summary["metric"]) == {*AUDIO_METRICS, "fad"}
    assert {"reconstruction - shuffled_brain", "reconstruction - no_brain"} <= set(summary["condition"])
    assert "EnCodec encoder frames" in (tmp_path / "s.md").read_text()


# --- the synthetic world's audio models -----------------------------------------------------------


def test_world_audio_trains_a_vocoder_and_a_text_to_tone_model_briefly(tmp_path):
    """A few steps of each (the shipped ones: 800 and 600 steps); the reports say what they reached on
    held-out clips; the vocoder keeps the mel layout F5-TTS generates."""
    from cinebrain.models import f5tts
    from cinebrain.models.vocoder import load_vocos
    from cinebrain.synth.pretrain_audio import render_tones, world_audio

    waves, shapes = render_tones(4, seed=1, seconds=1.0)
    assert waves.shape == (4, 24000) and set(shapes) <= {"circle", "square", "triangle", "star", "cross"}
    report = world_audio(tmp_path / "f5", tmp_path / "vocos", f5_steps=2, vocos_steps=2, clips=16)
    assert report["vocoder"]["steps"] == 2 and report["f5tts"]["steps"] == 2
    assert 0 <= report["f5tts"]["held_out"]["pitch_accuracy"] <= 1 and report["f5tts"]["held_out"]["chance"] == 0.2
    assert json.loads((tmp_path / "f5/pretraining.json").read_text())["clips"] == 16
    assert f5tts.checkpoint_file(tmp_path / "f5").name == "model_2.safetensors"
    cfm = f5tts.load_f5tts(tmp_path / "f5")
    from cinebrain.methods.cinesync_audio.decoder import check_vocoder

    check_vocoder(cfm, load_vocos(tmp_path / "vocos"), "test")  # same mel: no error


def test_shipped_audio_world_matches_the_code_and_the_demo_settings(tmp_path, capsys):
    """resources/world/audio was trained by the current code with config/config.yaml's models.tiny settings
    (else the demo trains it: run `make world-audio` and commit it); a changed setting makes it stale."""
    import yaml

    from cinebrain.synth import pretrain_audio as pa

    root = Path(__file__).resolve().parents[1]
    tiny = yaml.safe_load((root / "config/config.yaml").read_text())["models"]["tiny"]
    manifest = root / tiny["world_cache"] / pa.AUDIO_WORLD_MANIFEST
    settings = pa.audio_world_settings(tiny)
    assert pa.shipped_audio_world(manifest, settings) == manifest.parent, f"{manifest} is stale: run `make world-audio`"
    assert json.loads(manifest.read_text())["reports"]["f5tts"]["held_out"]["pitch_accuracy"] >= 0.9
    for part in ("f5tts", "vocos"):
        assert (manifest.parent / "audio" / part / "pretraining.json").is_file()
    assert pa.shipped_audio_world(manifest, settings | {"f5tts_pretrain_steps": 1}) is None
    assert "stale" in capsys.readouterr().err
    out = pa.world_audio(tmp_path / "f5", tmp_path / "vocos", f5_steps=5, vocos_steps=5, shipped=manifest.parent)
    assert out["f5tts"]["steps"] == settings["f5tts_pretrain_steps"]  # copied, not trained
    assert (tmp_path / "f5/vocab.txt").read_text() == (manifest.parent / "audio/f5tts/vocab.txt").read_text()


def test_our_flow_sampler_equals_f5tts_own_on_text(tmp_path):
    """cinebrain.models.f5tts.sample (written because CFM.sample reads the output length off an integer text
    tensor) integrates the same flow as F5-TTS's CFM.sample: on a text condition, with no audio prompt, the
    same seed, steps, CFG and sway sampling, the two mels agree to float precision."""
    from cinebrain.models import f5tts
    from cinebrain.synth.models import save_tiny_f5tts
    from cinebrain.synth.pretrain_audio import char_ids, read_vocab

    folder = save_tiny_f5tts(tmp_path / "f5", seed=3)
    cfm = f5tts.load_f5tts(folder)
    with torch.no_grad():  # a random tiny DiT outputs zeros (F5-TTS zero-initialises its output layers): perturb them
        for p in cfm.transformer.parameters():
            p.add_(0.02 * torch.randn_like(p))
    text = char_ids(["star tone"], read_vocab(folder))
    frames = 60
    ours = f5tts.sample(cfm, text, frames, steps=16, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=7)
    theirs, _ = cfm.sample(torch.zeros(1, frames, 100), text, frames, lens=torch.zeros(1, dtype=torch.long), steps=16,
                           cfg_strength=2.0, sway_sampling_coef=-1.0, seed=7)  # fmt: skip
    assert ours.abs().mean() > 0.1
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_text_sources_select_the_transcripts_and_name_the_fix(tmp_path):
    """ClipDataset(text_sources=...) keeps the caption rows of those sources only (the audio encoders'
    transcripts); a clip without one, or an embedding file that does not name its sources, is one error."""
    from safetensors.numpy import save_file

    from cinebrain.data import ClipDataset, DatasetError

    from .test_cinesync_encoder import _split

    root = tmp_path / "ds"
    _split(root, 3, 0)
    with pytest.raises(DatasetError, match="do not name their sources; fix: rerun rule features_embed"):
        ClipDataset(root, modalities=("fmri",), targets=("text",), text_index=0, text_sources=["whisper"])[0]
    text = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)  # clip 0: rows 0 (vlm), 1 (whisper); clip 1: ...
    save_file({"frames": np.zeros((3, 33, 8), np.float32), "text": text, "text_clip": np.repeat(np.arange(3), 2)},
              str(root / "ep.safetensors"), metadata={"text_source": json.dumps(["vlm", "whisper"] * 2 + ["vlm", "vlm"])})  # fmt: skip
    ds = ClipDataset(root, modalities=("fmri",), targets=("text",), text_index=0, text_sources=["whisper"])
    assert torch.equal(ds[0]["text"], torch.from_numpy(text[1])) and torch.equal(ds[1]["text"], torch.from_numpy(text[3]))
    with pytest.raises(DatasetError, match=r"clip 2 has no caption of the source\(s\) \['whisper'\]; fix: add them to captions.sources"):
        ds[2]
    every = ClipDataset(root, modalities=("fmri",), targets=("text",), text_index=0)
    assert torch.equal(every[0]["text"], torch.from_numpy(text[0]))  # all sources by default


def test_audio_world_key_follows_the_builders_not_their_modules(monkeypatch):
    """The key changes with a function that builds or runs the world's audio models, not with another function of
    the same modules (a message or a helper elsewhere leaves the shipped world current)."""
    from cinebrain.models import f5tts
    from cinebrain.synth import pretrain_audio as pa

    settings = {k: 1 for k in pa.AUDIO_WORLD_SETTINGS}
    key = pa.audio_world_key(settings)

    def another(*args, **kwargs):  # any function whose source differs
        return None

    monkeypatch.setattr(f5tts, "condition_on_brain", another)
    assert pa.audio_world_key(settings) == key
    monkeypatch.setattr(f5tts, "build_cfm", another)
    assert pa.audio_world_key(settings) != key
