"""CineSync's configuration section (``methods.cinesync``): every key, default and allowed value.

The defaults are the paper's (CineBrain, seed 000, section 5.2); the demo's tiny sizes are set in
config/config.yaml.  Importing this module does not import torch (Snakemake reads it at start-up).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ...models.augment import FmriAugmentSettings
from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import subjects_setting

#: Encoder variants: the paper's model and its two single-modality ablations, by the modalities they read.
VARIANTS = {"cinesync": ("fmri", "eeg"), "cinesync_fmri": ("fmri",), "cinesync_eeg": ("eeg",)}
LOSSES = ("clip", "siglip")
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")
PARTS = ("lora", "encoder", "adapter")
ADAPTERS = ("auto", "linear", "none")
DTYPES = ("auto", "float32", "bfloat16", "float16")
SCHEDULERS = ("CogVideoXDPMScheduler", "CogVideoXDDIMScheduler")
#: diffusers' caching hooks for CogVideoX's transformer (reuse of block or attention outputs across denoising
#: steps): First-Block Cache, Pyramid Attention Broadcast, FasterCache.
CACHES = ("off", "first_block", "pyramid_attention", "faster_cache")


@dataclass(frozen=True)
class EncoderModel:
    """The Multi-Modal Fusion Encoder's size (per modality: a ViT over n_tokens tokens + class token)."""

    n_tokens: int = setting(226, "tokens per modality (+ a class token)", minimum=1)
    width: int = setting(2048, "transformer width", minimum=8)
    depth: int = setting(24, "transformer layers per modality", minimum=1)
    heads: int = setting(16, "attention heads", minimum=1)
    mlp_ratio: float = setting(4.0, "feed-forward width / width", exclusiveMinimum=0)
    dropout: float = setting(0.0, "dropout in the transformers", minimum=0, maximum=1)
    cond_dim: int = setting(4096, "width of the fused brain feature (CogVideoX-5B: 4096)", minimum=1)
    loss: str = setting("clip", "contrastive loss: clip (InfoNCE) or siglip", enum=LOSSES)
    align_modalities: float = setting(0.0, "weight of an extra fMRI-EEG contrastive term (cinesync only)", minimum=0)


@dataclass(frozen=True)
class CineSyncConfig(EncoderModel):
    """A built encoder's architecture: the configured size plus what the data fix (shapes, target width)."""

    variant: str = "cinesync"
    fmri_shape: tuple = (5, 18946)
    eeg_shape: tuple = (64, 4000)
    embed_dim: int = 768
    #: What the class embeddings are contrasted with: the clip's frames and captions (video decoding), or
    #: only the text — the transcript, in CineSync's audio configuration (section 4.3).
    targets: tuple = ("video", "text")

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        if not self.targets or set(self.targets) - {"video", "text"}:
            raise ValueError(f"encoder targets {self.targets}: a non-empty selection of video, text")
        if self.variant not in VARIANTS:
            raise ValueError(f"encoder variant '{self.variant}' does not exist; fix: one of {sorted(VARIANTS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss '{self.loss}' is not clip or siglip")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")

    @property
    def modalities(self) -> tuple:
        return VARIANTS[self.variant]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EncoderTrain(TrainSettings):
    """Stage 1, contrastive training (the paper: batch 16, about 50 epochs of 4,860 clips)."""

    steps: int = setting(15000, "optimiser steps", minimum=1)
    warmup_steps: int = setting(500, "linear warm-up steps", minimum=0)
    checkpoint_every: int = setting(500, "steps between checkpoints", minimum=1)


@dataclass(frozen=True)
class Evaluation:
    """Retrieval among n_candidates random test clips (all if fewer), averaged over repeats."""

    n_candidates: int = setting(300, "candidates per retrieval trial", minimum=2)
    repeats: int = setting(20, "repeats of the candidate draw", minimum=1)
    seed: int = setting(0, "seed of the candidate draws", minimum=0)


@dataclass(frozen=True)
class EncoderSettings:
    """Stage 1: the encoder of every variant, trained per subject."""

    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    model: EncoderModel = section(EncoderModel)
    train: EncoderTrain = section(EncoderTrain)
    evaluation: Evaluation = section(Evaluation)
    fmri_augment: FmriAugmentSettings = section(FmriAugmentSettings)


@dataclass(frozen=True)
class DecoderConfig:
    """The Neuro Latent Decoder: CogVideoX + LoRA conditioned on the fused brain feature."""

    base: str = setting("THUDM/CogVideoX-5b", "CogVideoX pipeline folder or hub id (transformer/, vae/, scheduler/)")
    lora_rank: int = setting(128, "LoRA rank", minimum=1)
    lora_alpha: float = setting(64, "LoRA alpha; the update is scaled by alpha / rank", exclusiveMinimum=0)
    lora_targets: tuple[str, ...] = setting(LORA_TARGETS, "modules of every DiT block that get LoRA", minItems=1)
    lora_dropout: float = setting(0.0, "dropout on the LoRA input", minimum=0, maximum=1)
    train_parts: tuple[str, ...] = setting(PARTS, "what trains", items={"enum": list(PARTS)}, uniqueItems=True,
                                           minItems=1)  # fmt: skip
    adapter: str = setting("auto", "fused feature -> text embeddings: auto, linear or none", enum=ADAPTERS)
    gradient_checkpointing: bool = setting(True, "recompute the DiT blocks' activations in the backward pass")
    checkpoint_blocks: int | None = setting(None, "with gradient_checkpointing: how many DiT blocks (the last ones) "
                                            "recompute their activations; null: on a GPU as many as its memory needs "
                                            "(measured at the first step), on the CPU all", minimum=0)  # fmt: skip
    base_dtype: str = setting("auto", "frozen weights: bfloat16 on a GPU, float32 on the CPU (auto)", enum=DTYPES)
    noise_beta: float = setting(0.0, "NeuroCine's dependent training noise: shared-component ratio", minimum=0,
                                exclusiveMaximum=1)  # fmt: skip
    caption_alignment: float = setting(0.0, "weight of the brain feature's squared error to the caption's text embedding "
                                       "(0: off, as the paper)", minimum=0)  # fmt: skip

    def __post_init__(self):
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        object.__setattr__(self, "train_parts", tuple(self.train_parts))
        bad = set(self.train_parts) - set(PARTS)
        if bad:
            raise ValueError(f"methods.cinesync.decoder.model.train_parts: {sorted(bad)} not among {PARTS}")
        if self.adapter not in ADAPTERS:
            raise ValueError(f"methods.cinesync.decoder.model.adapter '{self.adapter}' is not one of {ADAPTERS}")
        if self.base_dtype not in DTYPES:
            raise ValueError(f"methods.cinesync.decoder.model.base_dtype '{self.base_dtype}' is not auto, float32, bfloat16 or float16")
        if not 0.0 <= self.noise_beta < 1.0:
            raise ValueError(f"methods.cinesync.decoder.model.noise_beta {self.noise_beta} is not in [0, 1)")

    def dtype(self, device):
        import torch

        if self.base_dtype == "auto":
            return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        return getattr(torch, self.base_dtype)


@dataclass(frozen=True)
class DecoderTrain(TrainSettings):
    """Stage 2 (the paper: 5,000 steps, batch 2 per GPU on 4 GPUs)."""

    steps: int = setting(5000, "optimiser steps", minimum=1)
    batch_size: int = setting(8, "clips per step (all processes together)", minimum=1)
    weight_decay: float = setting(0.0, "AdamW weight decay (not on biases and norms)", minimum=0)
    checkpoint_every: int = setting(250, "steps between checkpoints", minimum=1)


@dataclass(frozen=True)
class ReconstructSettings:
    """CogVideoXPipeline with the brain feature as prompt_embeds; CFG against a zeroed feature."""

    steps: int = setting(50, "denoising steps", minimum=1)
    guidance_scale: float = setting(6.0, "classifier-free guidance scale", minimum=0)
    scheduler: str = setting("CogVideoXDPMScheduler", "sampler", enum=SCHEDULERS)
    seed: int = setting(42, "seed of the initial noise (and the DPM sampler's noise)", minimum=0)
    noise_beta: float = setting(0.0, "NeuroCine's dependent prior noise (eq. 7)", minimum=0, exclusiveMaximum=1)
    batch_size: int = setting(1, "clips per pipeline call", minimum=1)
    fps: float = setting(8.0, "frame rate of the written mp4", exclusiveMinimum=0)
    figure_frames: int = setting(4, "frames of each clip in the report's grid", minimum=1)
    cache: str = setting("off", "diffusers' caching hook on the transformer: off, first_block (First-Block Cache), "
                         "pyramid_attention (Pyramid Attention Broadcast) or faster_cache (FasterCache)", enum=CACHES)  # fmt: skip
    cache_threshold: float = setting(0.05, "first_block: the first block's relative residual change below which a "
                                     "step reuses the other blocks' cached residual", minimum=0)  # fmt: skip
    cache_skip_range: int = setting(2, "pyramid_attention, faster_cache: the spatial attention is computed every this "
                                    "many steps and reused between", minimum=1)  # fmt: skip
    cache_timesteps: tuple[int, ...] | None = setting(None, "pyramid_attention, faster_cache: the range of timesteps "
                                                      "(of 1,000) where attention is reused; null: the method's own "
                                                      "(100-800, -1-681)", minItems=2, maxItems=2)  # fmt: skip
    compile: bool = setting(False, "torch.compile each DiT block (one graph all blocks reuse)")

    def __post_init__(self):
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"methods.cinesync.decoder.reconstruct.scheduler '{self.scheduler}' is not one of {SCHEDULERS}")
        if self.cache not in CACHES:
            raise ValueError(f"methods.cinesync.decoder.reconstruct.cache '{self.cache}' is not one of {CACHES}")
        if self.cache_timesteps is not None:
            object.__setattr__(self, "cache_timesteps", tuple(int(t) for t in self.cache_timesteps))
            if len(self.cache_timesteps) != 2 or self.cache_timesteps[0] >= self.cache_timesteps[1]:
                raise ValueError(f"methods.cinesync.decoder.reconstruct.cache_timesteps {list(self.cache_timesteps)}: "
                                 "two timesteps, the first below the second; fix: e.g. [100, 800], or null")  # fmt: skip
        if not 0.0 <= self.noise_beta < 1.0:
            raise ValueError(f"methods.cinesync.decoder.reconstruct.noise_beta {self.noise_beta} is not in [0, 1)")


@dataclass(frozen=True)
class DecoderSettings:
    """Stages 2-3: a decoder per variant named here and subject, then a reconstruction of every test clip."""

    variants: tuple[str, ...] = setting(("cinesync",), "encoder variants whose feature conditions a decoder",
                                        items={"enum": list(VARIANTS)}, uniqueItems=True)  # fmt: skip
    launch: str = setting("debug", "launch profile of config/launch/ or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    model: DecoderConfig = section(DecoderConfig)
    train: DecoderTrain = section(DecoderTrain)
    reconstruct: ReconstructSettings = section(ReconstructSettings)


@dataclass(frozen=True)
class Settings:
    """CineSync (CineBrain, seed 000): Multi-Modal Fusion Encoder + Neuro Latent Decoder (CogVideoX + LoRA)."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()
    variants: tuple[str, ...] = setting(tuple(VARIANTS), "encoder variants: the model and its ablations",
                                        items={"enum": list(VARIANTS)}, uniqueItems=True)  # fmt: skip
    roi_sets: tuple[str, ...] | None = setting(None, "the fMRI columns the encoder takes, by ROI set (null: all)",
                                               minItems=1)  # fmt: skip
    encoder: EncoderSettings = section(EncoderSettings)
    decoder: DecoderSettings = section(DecoderSettings)

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        """Variants with a trained model (weights, config.json, metrics.json, metrics.csv)."""
        return tuple(self.variants)

    def recon_variants(self) -> tuple:
        """Variants with reconstructions of the test clips."""
        return tuple(self.decoder.variants)

    def modalities(self) -> dict:
        """{variant: the brain modalities it reads} of the variants it trains (the dataset must have them)."""
        return {v: VARIANTS[v] for v in self.variants}

    def launch_profiles(self) -> tuple:
        return (self.encoder.launch, self.decoder.launch)

    def decoder_configs(self, subjects) -> list[str]:
        """Every decoder's decoder.json (what rule cinesync_report reads)."""
        from ..contract import model_dir

        return [f"{model_dir('cinesync', v, s)}/decoder/decoder.json" for v in self.recon_variants() for s in subjects]

    def extra_outputs(self, subjects) -> list[str]:
        """What ``rule all`` builds of CineSync beyond the contract's outputs (which the generic stages
        collect): the decoders, their report figures and summary."""
        configs = self.decoder_configs(subjects)
        if not configs:
            return []
        figures = [f"results/report/cinesync/{v}_sub-{s}_recon.png" for v in self.recon_variants() for s in subjects]
        return [*configs, *figures, "results/methods/cinesync/decoders.csv", "results/report/cinesync/training.png"]

    def check(self, config: dict) -> list[str]:
        """Cross-key problems of this section with the rest of the configuration (messages with the fix)."""
        import os

        errors = []
        extracted = list(config.get("fmri", {}).get("roi_sets", []))
        missing = [s for s in self.roi_sets or () if s not in extracted]
        if missing:
            errors.append(f"methods.cinesync.roi_sets names {', '.join(missing)}, which fmri.roi_sets "
                          f"({', '.join(extracted)}) does not extract; fix: add it to fmri.roi_sets, or choose "
                          "among those")  # fmt: skip
        untrained = [v for v in self.decoder.variants if v not in self.variants]
        if untrained:
            errors.append(f"methods.cinesync.decoder.variants names {', '.join(untrained)}, which "
                          f"methods.cinesync.variants ({', '.join(self.variants)}) does not train; fix: add it to "
                          "methods.cinesync.variants, or remove it")  # fmt: skip
        vae = config.get("features", {}).get("vae", {})
        base = self.decoder.model.base
        if self.decoder.variants and (os.path.normpath(str(vae.get("model"))) != os.path.normpath(base)
                                      or vae.get("subfolder") != "vae"):  # fmt: skip
            errors.append(f"features.vae ({vae.get('model')}, subfolder {vae.get('subfolder')}) is not the VAE of "
                          f"methods.cinesync.decoder.model.base ({base}): the decoder learns from those latents; fix: "
                          f"set features.vae.model: {base} and features.vae.subfolder: vae")  # fmt: skip
        return errors

