"""CineNeuron's configuration (``methods.cineneuron``): every key, default and allowed value.

The defaults are the paper's ("Bridging Brain and Semantics", seed 001: section 4.1 and supplementary
A.3); the demo's tiny sizes go in config/config.yaml.  Importing this module does not import torch.

Our copy of the paper lost its equations in extraction; where a value's place in an equation is read
from the surrounding text, the setting's description says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ...models.augment import FmriAugmentSettings
from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import subjects_setting
from ..cinesync.settings import Evaluation

#: The Brain Model's backbones: ``transformer`` (section 4.1: a MinD-Video/CineSync-style transformer over
#: fMRI tokens plus a global token) and ``mlp`` (supplementary C.3: MindEye2/NeuroClips' ridge projection
#: and residual MLP, the backbone of the paper's cc2017 extension).
BACKBONES = ("transformer", "mlp")
#: The memory pool's modalities, in the router's output order (section 3.2, eq. 4-5).
MODALITIES = ("text", "image", "action")


@dataclass(frozen=True)
class BrainModelSettings:
    """Stage 1's Brain Model: fMRI window -> a global token and an fMRI embedding (tokens x width)."""

    backbone: str = setting("transformer", "transformer (section 4.1) or mlp (supplementary C.3)", enum=BACKBONES)
    n_tokens: int = setting(512, "fMRI embedding tokens (the paper: 512, plus one global token)", minimum=1)
    width: int = setting(2048, "token width (the paper: 2048)", minimum=8)
    depth: int = setting(24, "transformer layers (the paper: 24)", minimum=1)
    heads: int = setting(16, "attention heads of the transformer backbone", minimum=1)
    mlp_ratio: float = setting(4.0, "feed-forward width / width", exclusiveMinimum=0)
    dropout: float = setting(0.0, "dropout in the backbone", minimum=0, maximum=1)
    ridge_dim: int = setting(4096, "mlp backbone: width of the ridge projection (MindEye2: 4096)", minimum=1)
    mlp_blocks: int = setting(4, "mlp backbone: residual MLP blocks (MindEye2: 4)", minimum=0)
    temperature: float = setting(0.07, "InfoNCE temperature (supplementary A.3: 0.07, fixed)", exclusiveMinimum=0)
    action_weight: float = setting(0.1, "weight of the action contrastive loss (A.3's first weight, 0.1, read as eq. 3's "
                                   "action term)", minimum=0)  # fmt: skip
    category_weight: float = setting(10.0, "weight of the category loss (A.3's second weight, 10, read as eq. 3's "
                                     "classification term)", minimum=0)  # fmt: skip
    focal_alpha: float = setting(0.25, "focal loss alpha (Lin et al. 2017; the paper does not give it)", minimum=0,
                                 maximum=1)  # fmt: skip
    focal_gamma: float = setting(2.0, "focal loss gamma (Lin et al. 2017; the paper does not give it)", minimum=0)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"methods.cineneuron.brain.model.backbone '{self.backbone}' is not one of {BACKBONES}")
        if self.backbone == "transformer" and self.width % self.heads:
            raise ValueError(f"methods.cineneuron.brain.model: width {self.width} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class BrainModelConfig(BrainModelSettings):
    """A built Brain Model: the configured size plus what the data fix."""

    fmri_shape: tuple = (5, 9964)  # (volumes per window, ROI columns): CineBrain visual 8,405 + hippocampus 1,559
    embed_dim: int = 768  # the CLIP space of the image and text targets (ViT-L/14: 768)
    action_dim: int = 768  # the action model's embedding (ViCLIP-L: 768; X-CLIP base: 512)
    n_classes: int = 15  # the superclasses of the captions stage (appendix B: 15)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BrainTrain(TrainSettings):
    """Stage 1's optimisation (section 4.1: AdamW, OneCycle, 8,000 steps of batch 144). Our copy of the paper
    lost the learning rate; the default is MindEye2's peak (3e-4)."""

    steps: int = setting(8000, "optimiser steps (the paper: 8,000)", minimum=1)
    batch_size: int = setting(144, "clips per step (the paper: 144)", minimum=1)
    lr: float = setting(3e-4, "peak learning rate (lost in our copy of the paper; MindEye2's)", exclusiveMinimum=0)
    schedule: str = setting("onecycle", "learning-rate schedule (the paper: OneCycle)",
                            enum=("cosine", "onecycle", "constant"))  # fmt: skip
    checkpoint_every: int = setting(500, "steps between checkpoints", minimum=1)


@dataclass(frozen=True)
class BrainSettings:
    """Stage 1: the Brain Model of each subject, trained on its training split and scored on its test split."""

    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    model: BrainModelSettings = section(BrainModelSettings)
    train: BrainTrain = section(BrainTrain)
    evaluation: Evaluation = section(Evaluation)
    fmri_augment: FmriAugmentSettings = section(FmriAugmentSettings)


@dataclass(frozen=True)
class MemorySettings:
    """Stage 2's Mixture-of-Memories (section 3.2): the pool, the router and the integration."""

    top_k: int = setting(3, "image and action memories retrieved per clip (the paper names k, not its value)", minimum=1)
    balance: float = setting(1.0, "eq. 8's weight of the integrated fMRI stream (supplementary A.3: 1)", minimum=0)
    heads: int = setting(8, "heads of the two cross-attention layers", minimum=1)
    extra: str | None = setting(None, "a folder of features of extra clips added to the pool (supplementary C.4)")
    score_bias: bool = setting(True, "add the retrieved entries' mixture scores to the cross-attention logits, so the "
                               "router learns through the hard top-k (the paper does not say how it learns)")  # fmt: skip


@dataclass(frozen=True)
class DecoderModelSettings:
    """Stage 2's video decoder: Wan2.1 + LoRA on the Mixture-of-Memories' fused embedding (section 4.1)."""

    base: str = setting("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Wan pipeline folder or hub id (vae/, transformer/, "
                        "scheduler/, text_encoder/, tokenizer/)")  # fmt: skip
    lora_rank: int = setting(16, "LoRA rank (the paper: 16)", minimum=1)
    lora_alpha: float = setting(16.0, "LoRA scaling alpha (the paper: 16)", exclusiveMinimum=0)
    lora_targets: tuple[str, ...] = setting(("to_q", "to_k", "to_v", "to_out.0"), "attention projections that get LoRA",
                                            minItems=1)  # fmt: skip
    tokens: int = setting(512, "tokens of the decoder's text condition (Wan2.1: 512; cut to the longest caption's to "
                          "shrink the memory pool)", minimum=1)  # fmt: skip
    flow_shift: float = setting(3.0, "noise-level shift of training (and of Wan's sampler at 480p: 3)", exclusiveMinimum=0)
    stage1_weight: float = setting(1.0, "weight of stage 1's loss in stage 2's (our reading of eq. 10)", minimum=0)


@dataclass(frozen=True)
class DecoderTrain(TrainSettings):
    """Stage 2's optimisation (section 4.1: 20 epochs of batch 32 — about 3,000 steps of CineBrain's 4,860
    training clips; the learning rate was lost in our copy of the paper)."""

    steps: int = setting(3000, "optimiser steps (the paper: 20 epochs)", minimum=1)
    batch_size: int = setting(32, "clips per step (the paper: 32)", minimum=1)
    lr: float = setting(1e-4, "peak learning rate (lost in our copy of the paper)", exclusiveMinimum=0)
    schedule: str = setting("onecycle", "learning-rate schedule (the paper: OneCycle)",
                            enum=("cosine", "onecycle", "constant"))  # fmt: skip
    weight_decay: float = setting(0.0, "AdamW weight decay (not on biases and norms)", minimum=0)
    checkpoint_every: int = setting(250, "steps between checkpoints", minimum=1)


@dataclass(frozen=True)
class ReconstructSettings:
    """WanPipeline with the fused embedding as prompt_embeds; CFG against a zeroed condition."""

    steps: int = setting(50, "denoising steps (Wan2.1: 50)", minimum=1)
    guidance_scale: float = setting(5.0, "classifier-free guidance scale (Wan2.1: 5)", minimum=0)
    seed: int = setting(42, "seed of the initial noise, the same for every clip", minimum=0)
    batch_size: int = setting(1, "clips per pipeline call", minimum=1)
    fps: float = setting(8.0, "frame rate of the written mp4", exclusiveMinimum=0)


@dataclass(frozen=True)
class DecoderSettings:
    """Stage 2: the memory pool, the joint training of Brain Model, router, fusion and LoRA, reconstruction."""

    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    model: DecoderModelSettings = section(DecoderModelSettings)
    train: DecoderTrain = section(DecoderTrain)
    reconstruct: ReconstructSettings = section(ReconstructSettings)


@dataclass(frozen=True)
class CineNeuronSettings:
    """``methods.cineneuron``: the Brain Model (stage 1) and the Mixture-of-Memories (stage 2)."""

    roi_sets: tuple[str, ...] | None = setting(None, "the fMRI columns the Brain Model takes, by ROI set (CineBrain: "
                                               "visual, hippocampus; null: all)", minItems=1)  # fmt: skip
    brain: BrainSettings = section(BrainSettings)
    memory: MemorySettings = section(MemorySettings)
    decoder: DecoderSettings = section(DecoderSettings)


@dataclass(frozen=True)
class Settings(CineNeuronSettings):
    """CineNeuron (seed 001): Brain Model (stage 1), memory pool, Mixture-of-Memories + Wan2.1 LoRA decoder
    (stage 2), reconstructions — one variant, ``cineneuron``, per subject."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        return ("cineneuron",)

    def recon_variants(self) -> tuple:
        return ("cineneuron",)

    def launch_profiles(self) -> tuple:
        return (self.brain.launch, self.decoder.launch)

    def decoder_configs(self, subjects) -> list[str]:
        from ..contract import model_dir

        return [f"{model_dir('cineneuron', 'cineneuron', s)}/decoder/decoder.json" for s in subjects]

    def extra_outputs(self, subjects) -> list[str]:
        """The decoders (their decoder.json) and the superclass figure beyond the contract's outputs."""
        configs = self.decoder_configs(subjects)
        if not configs:
            return []
        return [*configs, "results/methods/cineneuron/categories.csv", "results/report/cineneuron/categories.png"]

    def check(self, config: dict) -> list[str]:
        """Cross-key problems: the features CineNeuron reads must be configured, the Wan latents must be its
        decoder's VAE's, its ROI sets extracted."""
        import os

        errors = []
        features = config.get("features", {})
        if not (features.get("action") or {}).get("model"):
            errors.append("methods.cineneuron needs action embeddings: features.action.model is null; fix: set it to an "
                          "X-CLIP (the demo's: results/models/tiny/xclip)")  # fmt: skip
        wan, base = features.get("wan_vae") or {}, self.decoder.model.base
        if os.path.normpath(str(wan.get("model"))) != os.path.normpath(base) or wan.get("subfolder") != "vae":
            errors.append(f"features.wan_vae ({wan.get('model')}, subfolder {wan.get('subfolder')}) is not the VAE of "
                          f"methods.cineneuron.decoder.model.base ({base}): the decoder learns from those latents; fix: "
                          f"set features.wan_vae.model: {base} and features.wan_vae.subfolder: vae")  # fmt: skip
        from .. import roi_set_problems

        return errors + roi_set_problems("cineneuron", self.roi_sets, config)
