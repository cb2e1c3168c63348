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
"""

from __future__ import annotations

import numpy as np

#: The per-clip audio metrics and whether larger is better.
AUDIO_METRICS = {"wer": False, "cer": False, "lsd": False, "mcd": False, "mel_ssim": True, "mel_rmse": False}
#: Set-level metrics (one value per set of clips).
SET_METRICS = {"fad": False}
LSD_FFT, LSD_HOP, LSD_EPS = 2048, 512, 1e-10
MCD_FFT = 1024


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


def log_mel(audio: np.ndarray, rate: int = 24000, n_fft: int = 1024, hop: int = 256, n_mels: int = 100) -> np.ndarray:
    """Vocos's log-mel spectrogram (n_mels, frames): torchaudio's magnitude mel, log of max(x, 1e-5)."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                               center=True, power=1)  # fmt: skip
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
            "mel_ssim": ssim, "mel_rmse": rmse}  # fmt: skip
