"""CineSync's audio configuration (``methods.cinesync_audio``): every key, default and allowed value.

The defaults are the paper's (CineBrain, seed 000, sections 4.3 and 5.1 "Audio Reconstruction", appendix
A.2): encoders of 12 layers, width 1,920, 376 tokens + a class token per modality, contrastive against the
transcript only; F5-TTS-Base with LoRA rank 64 / alpha 32 on the attention layers, AdamW (0.9, 0.95), lr
1e-4, 30,000 steps at batch 8; Vocos. The demo's tiny sizes are set in config/config.yaml. Importing this
module does not import torch (Snakemake reads it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import check_variants, roi_set_problems, subjects_setting
from ..cinesync.settings import EncoderModel
from ..cinesync.settings import EncoderSettings as VideoEncoderSettings

#: The variants of Tab. B.1: the name, the encoder variant that fixes the modalities, and whether the fMRI
#: columns are the cross-modal set (CineSync*, section 5.5: visual ROIs added to the auditory ones).
VARIANTS = {"cinesync": ("cinesync", False), "cinesync_fmri": ("cinesync_fmri", False),
            "cinesync_eeg": ("cinesync_eeg", False), "cinesync_star": ("cinesync", True)}  # fmt: skip
#: F5-TTS's attention projections (the LoRA targets of section 4.3).
ATTENTION_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


@dataclass(frozen=True)
class AudioEncoderModel(EncoderModel):
    """The Multi-Modal Fusion Encoder in its audio configuration (section 5.1: 12 layers, width 1,920, 376
    tokens + a class token); the fused feature conditions F5-TTS in place of its text (512 wide in
    F5-TTS-Base)."""

    n_tokens: int = setting(376, "tokens per modality (+ a class token)", minimum=1)
    width: int = setting(1920, "transformer width", minimum=8)
    depth: int = setting(12, "transformer layers per modality", minimum=1)
    heads: int = setting(16, "attention heads", minimum=1)
    cond_dim: int = setting(512, "width of the fused brain feature (F5-TTS-Base's text width: 512)", minimum=1)


@dataclass(frozen=True)
class EncoderSettings(VideoEncoderSettings):
    """Stage 1: the encoder of every variant, trained per subject against the transcripts' embeddings (CineSync's
    encoder section with the audio configuration's sizes)."""

    model: AudioEncoderModel = section(AudioEncoderModel)


@dataclass(frozen=True)
class DecoderModel:
    """F5-TTS + LoRA on the fused brain feature, Vocos from mel to waveform."""

    base: str = setting("models/F5TTS_Base", "F5-TTS model folder (SWivid/F5-TTS's F5TTS_Base/: model_<step>.safetensors)")
    config: str | None = setting("F5TTS_Base", "F5-TTS config: one of the package's (F5TTS_Base, ...) or a YAML file; "
                                 "null: the YAML in the base folder")  # fmt: skip
    vocoder: str = setting("charactr/vocos-mel-24khz", "Vocos folder (config.yaml + pytorch_model.bin) or hub id")
    lora_rank: int = setting(64, "LoRA rank", minimum=1)
    lora_alpha: float = setting(32, "LoRA alpha; the update is scaled by alpha / rank", exclusiveMinimum=0)
    lora_targets: tuple[str, ...] = setting(ATTENTION_TARGETS, "modules of every DiT block that get LoRA", minItems=1)
    lora_dropout: float = setting(0.0, "dropout on the LoRA input", minimum=0, maximum=1)
    train_encoder: bool = setting(True, "fine-tune the encoder with the decoder (as the video decoder does)")

    def __post_init__(self):
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))


@dataclass(frozen=True)
class DecoderTrain(TrainSettings):
    """Stage 2 (the paper: AdamW (0.9, 0.95), lr 1e-4, 30,000 steps at batch 8 on one A6000)."""

    steps: int = setting(30000, "optimiser steps", minimum=1)
    batch_size: int = setting(8, "clips per step (all processes together)", minimum=1)
    lr: float = setting(1e-4, "peak learning rate", exclusiveMinimum=0)
    betas: tuple[float, ...] = setting((0.9, 0.95), "AdamW betas", minItems=2, maxItems=2)
    weight_decay: float = setting(0.0, "AdamW weight decay (not on biases and norms)", minimum=0)
    warmup_steps: int = setting(500, "linear warm-up steps", minimum=0)
    checkpoint_every: int = setting(500, "steps between checkpoints", minimum=1)


@dataclass(frozen=True)
class ReconstructSettings:
    """Sampling of the mel by the learned flow (F5-TTS's inference defaults) and Vocos."""

    steps: int = setting(32, "Euler steps of the flow (F5-TTS: 32; 5-7, 10, 12, 16 use its EPSS times)", minimum=1)
    cfg_strength: float = setting(2.0, "classifier-free guidance against the dropped brain condition", minimum=0)
    sway_sampling_coef: float | None = setting(-1.0, "F5-TTS's sway sampling of the times (null: off)")
    seed: int = setting(42, "seed of the initial noise (the same for every clip)", minimum=0)
    batch_size: int = setting(8, "clips per sampling call", minimum=1)
    figure_clips: int = setting(4, "clips in the report's mel-spectrogram figure", minimum=1)
    playable_clips: int = setting(3, "clips whose audio the report embeds (ground truth, reconstruction)", minimum=0)


@dataclass(frozen=True)
class DecoderSettings:
    """Stages 2-3: a decoder per variant named here and subject, then a reconstruction of every test clip."""

    variants: tuple[str, ...] = setting(tuple(VARIANTS), "variants whose encoder conditions a decoder",
                                        items={"enum": list(VARIANTS)}, uniqueItems=True)  # fmt: skip
    launch: str = setting("debug", "launch profile of config/launch/ or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    model: DecoderModel = section(DecoderModel)
    train: DecoderTrain = section(DecoderTrain)
    reconstruct: ReconstructSettings = section(ReconstructSettings)


@dataclass(frozen=True)
class Settings:
    """CineSync for audio (CineBrain, seed 000, sections 4.3 and 5.4, Tab. B.1): transcript-aligned fusion
    encoder, F5-TTS + LoRA decoder, Vocos."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()
    variants: tuple[str, ...] = setting(tuple(VARIANTS), "encoder variants: CineSync, -fMRI, -EEG, CineSync* (cross-modal ROIs)",
                                        items={"enum": list(VARIANTS)}, uniqueItems=True)  # fmt: skip
    roi_sets: tuple[str, ...] = setting(("auditory",), "the fMRI columns of every variant but cinesync_star, by ROI set",
                                        minItems=1)  # fmt: skip
    star_roi_sets: tuple[str, ...] = setting(("auditory", "visual"), "cinesync_star's fMRI columns (section 5.5: "
                                             "visual ROIs added to the auditory ones)", minItems=1)  # fmt: skip
    text_sources: tuple[str, ...] = setting(("whisper",), "the caption sources (captions.sources names) whose texts are "
                                            "the transcripts the encoder aligns with", minItems=1)  # fmt: skip
    encoder: EncoderSettings = section(EncoderSettings)
    decoder: DecoderSettings = section(DecoderSettings)

    def __post_init__(self):
        check_variants("cinesync_audio", self.variants, VARIANTS)
        check_variants("cinesync_audio", self.decoder.variants, VARIANTS)

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        """Variants with a trained encoder (the contract's weights, config.json, metrics.json, metrics.csv)."""
        return tuple(self.variants)

    def modalities(self) -> dict:
        """{variant: the brain modalities it reads} of the variants it trains (the dataset must have them)."""
        from ..cinesync.settings import VARIANTS as ENCODERS

        return {v: ENCODERS[VARIANTS[v][0]] for v in self.variants}

    def recon_variants(self) -> tuple:
        """Variants with video reconstructions: none (this method reconstructs audio: :meth:`audio_variants`)."""
        return ()

    def audio_variants(self) -> tuple:
        """Variants with audio reconstructions of the test clips (scored by the audio benchmark)."""
        return tuple(self.decoder.variants)

    def launch_profiles(self) -> tuple:
        return (self.encoder.launch, self.decoder.launch)

    def variant_roi_sets(self, variant: str) -> list[str]:
        return list(self.star_roi_sets if VARIANTS[variant][1] else self.roi_sets)

    def decoder_configs(self, subjects) -> list[str]:
        """Every decoder's decoder.json (what rule cinesync_audio_report reads)."""
        from ..contract import model_dir

        return [f"{model_dir('cinesync_audio', v, s)}/decoder/decoder.json" for v in self.audio_variants()
                for s in subjects]  # fmt: skip

    def extra_outputs(self, subjects) -> list[str]:
        """What ``rule all`` builds beyond the contract's outputs: the decoders, their report figures and
        summary (the reconstructions are the audio benchmark's inputs)."""
        configs = self.decoder_configs(subjects)
        if not configs:
            return []
        figures = [f"results/report/cinesync_audio/{v}_sub-{s}_{kind}" for v in self.audio_variants() for s in subjects
                   for kind in ("mel.png", "clips.html")]  # fmt: skip
        return [*configs, *figures, "results/methods/cinesync_audio/decoders.csv",
                "results/report/cinesync_audio/training.png"]  # fmt: skip

    def check(self, config: dict) -> list[str]:
        """Cross-key problems of this section with the rest of the configuration (messages with the fix)."""
        errors = roi_set_problems("cinesync_audio", [*self.roi_sets, *self.star_roi_sets], config)
        untrained = [v for v in self.decoder.variants if v not in self.variants]
        if untrained:
            errors.append(f"methods.cinesync_audio.decoder.variants names {', '.join(untrained)}, which "
                          f"methods.cinesync_audio.variants does not train; fix: add it there, or remove it")  # fmt: skip
        sources = [s.get("name") for s in config.get("captions", {}).get("sources", [])]
        missing = [s for s in self.text_sources if s not in sources]
        if missing:
            errors.append(f"methods.cinesync_audio.text_sources names {', '.join(missing)}, which captions.sources "
                          f"({', '.join(map(str, sources))}) does not produce; fix: add a whisper source of that name to "
                          "captions.sources, or name one of those")  # fmt: skip
        rates = config.get("stimuli", {}).get("audio_rates", [16000, 24000])
        if self.decoder.variants and 24000 not in rates:
            errors.append("methods.cinesync_audio: the decoder learns the clips' 24-kHz audio (Vocos's rate), but "
                          f"stimuli.audio_rates is {rates}; fix: add 24000 to stimuli.audio_rates")  # fmt: skip
        return errors
