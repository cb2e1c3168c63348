"""Cine-Benchmark's audio half (CineBrain, seed 000, section 4.4 "Audio Metrics", Tab. B.1).

Per clip, a reconstruction ``<clip>.wav`` against the clip's ground-truth audio (both brought to
``rate``, 24 kHz by default, and cut to the ground truth's length):

semantic
    ``wer``, ``cer``: Whisper's greedy transcript of the reconstruction against the reference transcript
    (the ground truth's Whisper transcript, the paper's "ground-truth text"), by jiwer after jiwer's
    default normalisation plus lower-casing and punctuation removal. A clip whose reference is empty (no
    speech) has no WER/CER (NaN): an error rate over zero reference words is undefined.
    ``fad``: Fréchet Audio Distance over a set of clips (:func:`fad`), with EnCodec's encoder
    (transformers ``EncodecModel``, ``facebook/encodec_24khz``) as the embedding model, one 128-d
    embedding per encoder frame (75 Hz), all frames of all clips pooled before the Gaussians are fitted —
    fadtk's ``encodec-emb`` convention; the Fréchet distance is :func:`~.semantic.frechet_distance`. VGGish
    (the classic FAD model) is TensorFlow-only and CLAP's audio tower would need a 48-kHz resampling;
    EnCodec reads the clips' own 24 kHz. FAD is a set statistic: the per-clip table has no FAD column, the
    summary has one value per set (and per control).

perceptual
    ``lsd``: log-spectral distance, mean over STFT frames of sqrt(mean over bins of (10 log10 P_gt -
    10 log10 P_rec)^2), in dB, on the power spectrogram (n_fft 2,048, hop 512, Hann; eps 1e-10 on power).
    ``mcd``: mel-cepstral distortion by the ``mel-cepstral-distance`` package (``compare_audio_files``:
    Hann windows of 1,024 samples (42.7 ms at 24 kHz), 8-ms hop, 20 mel bands, coefficients 1-16, both signals peak-normalised) after
    **DTW alignment** of the mel spectrograms (radius 10), the package's default.
    ``mel_ssim``, ``mel_rmse``: SSIM (scikit-image, 7 x 7 window) and RMSE between log-mel spectrograms
    (Vocos's 100-band mel at 24 kHz, the decoder's own representation), both min-max normalised by the
    ground truth's range and clipped to [0, 1].
    ``peak_semitones`` (not in the paper): the distance in semitones between the dominant frequencies of
    the two clips' mean power spectra (bins of 11.7 Hz) — the check the synthetic soundtrack allows.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import setting

#: The per-clip audio metrics, in table order (all lower-is-better but mel_ssim): the paper's six, and
#: ``peak_semitones`` (ours), the distance in semitones between the dominant frequencies of reconstruction
#: and ground truth — what the synthetic soundtrack (a tone per shape) can be checked on.
AUDIO_METRICS = ("wer", "cer", "lsd", "mcd", "mel_ssim", "mel_rmse", "peak_semitones")
LSD_FFT, LSD_HOP, LSD_EPS = 2048, 512, 1e-10
MCD_FFT = 1024


@dataclass(frozen=True)
class AudioBenchmarkSettings:
    """The audio half of Cine-Benchmark (rules benchmark_audio_*): its models and conventions."""

    whisper: str = setting("openai/whisper-large-v3", "Whisper for the transcripts of ground truth and reconstruction "
                           "(the paper's: Whisper-large-v3)")  # fmt: skip
    language: str | None = setting("en", "the transcripts' language (null: detected per clip)")
    max_new_tokens: int = setting(128, "longest transcript in tokens", minimum=1)
    fad_model: str = setting("facebook/encodec_24khz", "EnCodec (transformers) whose encoder frames FAD compares")
    rate: int = setting(24000, "rate both signals are compared at (Hz; the reconstructions' and Vocos's)", minimum=8000)
    fad_bootstrap: int = setting(200, "bootstrap resamples of the clips for FAD's interval", minimum=0)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy) of mono audio to ``target`` Hz."""
    if rate == target:
        return np.asarray(audio, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(np.asarray(audio, np.float64), target // g, rate // g).astype(np.float32)


def match_length(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``estimate`` cut or zero-padded to the reference's length."""
    out = np.zeros(len(reference), np.float32)
    n = min(len(reference), len(estimate))
    out[:n] = estimate[:n]
    return out


# --- semantic ------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    import re

    return " ".join(re.sub(r"[^\w\s']", " ", str(text).lower()).split())


def error_rates(reference: str, hypothesis: str) -> tuple[float, float]:
    """(WER, CER) of one transcript against its reference, after lower-casing and removing punctuation;
    NaN for an empty reference."""
    import jiwer

    ref, hyp = _normalise(reference), _normalise(hypothesis)
    if not ref:
        return float("nan"), float("nan")
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))


def load_whisper(model: str, device: str = "cpu"):
    """Whisper's processor and model (transformers), in eval mode."""
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    return AutoProcessor.from_pretrained(model), AutoModelForSpeechSeq2Seq.from_pretrained(model).to(device).eval()


def transcribe(whisper, audio: np.ndarray, rate: int, language: str | None = "en", max_new_tokens: int = 128) -> str:
    """Whisper's greedy transcript of one clip (resampled to Whisper's rate)."""
    import torch

    processor, net = whisper
    sr = processor.feature_extractor.sampling_rate
    feats = processor(resample(audio, rate, sr), sampling_rate=sr, return_tensors="pt").input_features
    with torch.no_grad():
        ids = net.generate(feats.to(net.device), language=language, task="transcribe", do_sample=False,
                           max_new_tokens=max_new_tokens)  # fmt: skip
    return processor.tokenizer.decode(ids[0], skip_special_tokens=True).strip()


def load_encodec(model: str, device: str = "cpu"):
    """EnCodec's feature extractor and model (transformers), in eval mode: FAD's embedding model."""
    from transformers import AutoProcessor, EncodecModel

    return AutoProcessor.from_pretrained(model), EncodecModel.from_pretrained(model).to(device).eval()


def encodec_embeddings(encodec, audio: np.ndarray, rate: int) -> np.ndarray:
    """EnCodec encoder outputs before quantisation, one row per encoder frame ``(frames, dim)``."""
    import torch

    processor, net = encodec
    sr = processor.sampling_rate
    inputs = processor(raw_audio=resample(audio, rate, sr), sampling_rate=sr, return_tensors="pt")
    with torch.no_grad():
        emb = net.encoder(inputs["input_values"].to(net.device))
    return emb[0].T.float().cpu().numpy()


def fad(reference_embeddings: list[np.ndarray], estimate_embeddings: list[np.ndarray]) -> float:
    """Fréchet Audio Distance between two sets of clips, each a list of per-frame embeddings
    ``(frames, dim)``: the frames of every clip pooled, then the Fréchet distance of the two Gaussians."""
    from .semantic import frechet_distance

    return frechet_distance(np.concatenate(reference_embeddings), np.concatenate(estimate_embeddings))


# --- perceptual ----------------------------------------------------------------------------------


def power_spectrogram(audio: np.ndarray, n_fft: int = LSD_FFT, hop: int = LSD_HOP) -> np.ndarray:
    """|STFT|^2 (frames, bins) of the raw DFT, Hann window, frames centred (scipy.signal.stft, whose
    1 / sum(window) scaling is undone so that the 1e-10 floor sits far below any audible bin)."""
    from scipy.signal import get_window, stft

    _, _, z = stft(np.asarray(audio, np.float64), nperseg=n_fft, noverlap=n_fft - hop, window="hann", boundary="even",
                   padded=True)  # fmt: skip
    return (np.abs(z * get_window("hann", n_fft).sum()) ** 2).T


def lsd(reference: np.ndarray, estimate: np.ndarray, n_fft: int = LSD_FFT, hop: int = LSD_HOP,
        eps: float = LSD_EPS) -> float:  # fmt: skip
    """Log-spectral distance in dB (see the module doc)."""
    a = 10 * np.log10(power_spectrogram(reference, n_fft, hop) + eps)
    b = 10 * np.log10(power_spectrogram(estimate, n_fft, hop) + eps)
    return float(np.mean(np.sqrt(np.mean((a - b) ** 2, axis=1))))


def mcd(reference_wav, estimate_wav, rate: int) -> float:
    """Mel-cepstral distortion of two WAV files, DTW-aligned (``mel-cepstral-distance``; see the module doc)."""
    from mel_cepstral_distance import compare_audio_files

    window_ms = 1000.0 * MCD_FFT / rate  # the package takes milliseconds; a power-of-2 window is its fast path
    value, _penalty = compare_audio_files(str(reference_wav), str(estimate_wav), sample_rate=rate, n_fft=window_ms,
                                          win_len=window_ms, hop_len=8, aligning="dtw")  # fmt: skip
    return float(value)


@functools.lru_cache(maxsize=4)
def _mel_transform(rate: int, n_fft: int, hop: int, n_mels: int):
    import torchaudio

    # built once per setting: its filter bank takes most of a 4-s clip's time (0.26 s against 0.01 s)
    return torchaudio.transforms.MelSpectrogram(sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                                center=True, power=1)  # fmt: skip


def log_mel(audio: np.ndarray, rate: int = 24000, n_fft: int = 1024, hop: int = 256, n_mels: int = 100) -> np.ndarray:
    """Vocos's log-mel spectrogram (n_mels, frames): torchaudio's magnitude mel, log of max(x, 1e-5)."""
    import torch

    mel = _mel_transform(rate, n_fft, hop, n_mels)
    with torch.no_grad():
        m = mel(torch.as_tensor(np.asarray(audio, np.float32)))
    return torch.log(torch.clamp(m, min=1e-5)).numpy()


def mel_similarity(reference: np.ndarray, estimate: np.ndarray, rate: int = 24000) -> tuple[float, float]:
    """(SSIM, RMSE) of the log-mel spectrograms, both normalised by the ground truth's range (module doc)."""
    from skimage.metrics import structural_similarity

    a, b = log_mel(reference, rate), log_mel(estimate, rate)
    lo, hi = float(a.min()), float(a.max())
    scale = hi - lo if hi > lo else 1.0
    a, b = np.clip((a - lo) / scale, 0, 1), np.clip((b - lo) / scale, 0, 1)
    return float(structural_similarity(a, b, data_range=1.0)), float(np.sqrt(np.mean((a - b) ** 2)))


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the largest peak of the clip's mean power spectrum."""
    p = power_spectrogram(audio).mean(axis=0)
    return float(np.argmax(p) * rate / LSD_FFT)


def score_clip(reference: np.ndarray, estimate: np.ndarray, rate: int, *, reference_wav, estimate_wav,
               transcript: str | None = None, hypothesis: str | None = None) -> dict:  # fmt: skip
    """Every per-clip audio metric of one reconstruction (``estimate``, already at ``rate`` and the
    reference's length; the WAV paths are what MCD reads)."""
    wer, cer = error_rates(transcript or "", hypothesis or "") if transcript is not None else (np.nan, np.nan)
    ssim, rmse = mel_similarity(reference, estimate, rate)
    return {"wer": wer, "cer": cer, "lsd": lsd(reference, estimate), "mcd": mcd(reference_wav, estimate_wav, rate),
            "mel_ssim": ssim, "mel_rmse": rmse, "peak_semitones": peak_semitones(reference, estimate, rate)}  # fmt: skip


def peak_semitones(reference: np.ndarray, estimate: np.ndarray, rate: int) -> float:
    """|12 log2(f_est / f_ref)| of the dominant frequencies (:func:`dominant_frequency`; a DC peak counts
    as the first bin)."""
    f_ref = max(dominant_frequency(reference, rate), rate / LSD_FFT)
    f_est = max(dominant_frequency(estimate, rate), rate / LSD_FFT)
    return float(abs(12 * np.log2(f_est / f_ref)))


# --- the benchmark rules ---------------------------------------------------------------------------


def _fad_with_ci(gt: list, est: list, n_boot: int, seed: int) -> dict:
    """FAD of two lists of per-clip frame embeddings, with a bootstrap interval over the clips (in pairs)."""
    value = fad(gt, est) if len(gt) >= 2 else float("nan")
    draws = np.random.default_rng(seed).integers(0, len(gt), (n_boot, len(gt)))
    boots = [fad([gt[i] for i in d], [est[i] for i in d]) for d in draws if len(np.unique(d)) >= 2]
    ci = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))] if boots else None
    return {"fad": value, "fad_ci": ci}


def score_audio(recon_dir, test_dir, *, settings, audio: dict | None = None, out_dir, device: str = "cpu",
                base_dir=None, progress: bool = False):  # fmt: skip
    """Rule ``benchmark_audio_score``: ``out_dir/metrics.parquet`` (one row per test clip and condition — the
    reconstruction and its shuffled-brain and no-brain controls, as the video benchmark pairs them, see
    :func:`cinebrain.benchmark.score.condition_videos` — with the transcripts), ``out_dir/set.json`` (FAD
    per condition). ``settings``: the ``benchmark`` section (its seed, shuffle gap and bootstrap);
    ``audio``: ``benchmark.audio`` (:class:`AudioBenchmarkSettings`)."""
    import tempfile

    import pandas as pd
    from tqdm.auto import tqdm

    from ..atomic import atomic_dir
    from ..settings import build
    from ..stimuli import read_wav, write_wav
    from .pixel import MetricInputError
    from .score import _settings, condition_videos, test_reconstructions

    bench = _settings(settings)
    st = build(AudioBenchmarkSettings, audio or {}, "benchmark.audio")
    recon_dir, out_dir = Path(recon_dir), Path(out_dir)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    table = test_reconstructions(recon_dir, test_dir, "audio ", "cinesync_audio_reconstruct")
    conditions = condition_videos(recon_dir, table, bench.seed, bench.shuffle_gap, suffix=".wav")

    def load(path):
        p = Path(path)
        p = p if p.is_absolute() else base / p
        if not p.exists():
            raise MetricInputError(f"{p}: missing; fix: rerun the method's reconstruction rule (e.g. cinesync_audio_reconstruct)")
        x, sr = read_wav(p)
        return resample(x, sr, st.rate)

    whisper = load_whisper(st.whisper, device)
    encodec = load_encodec(st.fad_model, device)
    cache: dict = {}  # per file: (audio, transcript, embeddings); a control reuses the reconstructions'

    def analyse(path, length=None):
        key = str(path)
        if key not in cache:
            x = load(path)
            cache[key] = (x, transcribe(whisper, x, st.rate, st.language, st.max_new_tokens),
                          encodec_embeddings(encodec, x, st.rate))  # fmt: skip
        x, text, emb = cache[key]
        return (x if length is None else match_length(np.zeros(length), x)), text, emb

    rows, gt_emb, cond_emb = [], [], {c: [] for c in conditions}
    with tempfile.TemporaryDirectory() as tmp:  # MCD reads files: both signals at `rate`, the estimate cut to length
        for i, r in enumerate(tqdm(list(table.itertuples()), desc="scoring audio", disable=not progress)):
            gt, ref_text, emb = analyse(r.ground_truth)
            gt_emb.append(emb)
            write_wav(Path(tmp) / "gt.wav", gt, st.rate)
            for cond, paths in conditions.items():
                est, hyp_text, emb = analyse(paths[i], len(gt))
                cond_emb[cond].append(emb)
                write_wav(Path(tmp) / "est.wav", est, st.rate)
                row = {"clip": r.clip, "episode": r.episode, "has_cut": bool(r.has_cut), "condition": cond,
                       "reference_text": ref_text, "transcript": hyp_text}  # fmt: skip
                row.update(score_clip(gt, est, st.rate, reference_wav=Path(tmp) / "gt.wav",
                                      estimate_wav=Path(tmp) / "est.wav", transcript=ref_text, hypothesis=hyp_text))  # fmt: skip
                rows.append(row)
    df = pd.DataFrame(rows)[["clip", "episode", "has_cut", "condition", *AUDIO_METRICS, "reference_text", "transcript"]]
    set_level = {"clips": len(table), "fad_model": st.fad_model, "whisper": st.whisper,
                 **{c: _fad_with_ci(gt_emb, e, st.fad_bootstrap, bench.seed) for c, e in cond_emb.items()}}  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        df.to_parquet(tmp / "metrics.parquet")
        (tmp / "set.json").write_text(json.dumps(set_level, indent=1))
    return df


AUDIO_NOTE = ("mean [95% bootstrap CI over clips] (clips excluded where the metric is undefined for them: WER and CER "
              "of a clip whose reference transcript is empty); \"reconstruction - <control>\": the mean paired "
              "difference by clip (lower is better for every metric but mel_ssim); shuffled_brain: each clip decoded "
              "from another test clip's brain input (the video benchmark's derangement); no_brain: decoded from the "
              "mean training brain feature; subject pooled: every subject's clips together. WER/CER: Whisper's "
              "transcript of the reconstruction against its transcript of the ground truth; FAD: EnCodec encoder "
              "frames; LSD in dB; MCD: DTW-aligned (mel-cepstral-distance); mel SSIM/RMSE on log-mels normalised "
              "by the ground truth's range; peak_semitones (not in the paper): distance of the dominant frequencies "
              "(cinebrain.benchmark.audio).")


def summarise_audio(score_dirs, settings, out_csv, out_md=None):
    """Rule ``benchmark_audio_summary``: as the video summary (:func:`cinebrain.benchmark.score.summarise`)
    over the audio metrics, FAD from each ``set.json``."""
    from .score import summarise

    return summarise(score_dirs, settings, out_csv, out_md, names=AUDIO_METRICS, note=AUDIO_NOTE)
