"""Mind-Animator's configuration (``methods.mindanimator``): every key, default and allowed value.

The defaults are the paper's ("Animate Your Thoughts", seed 002: section 3, appendix C.1); the demo's tiny
sizes go in config/config.yaml. The paper trains by epochs over CC2017's 4,320 training clips in batches of
64 (67.5 steps an epoch) and keeps the weights of epoch 30 (semantic), 75 (structure) and 70 (motion): the
step defaults are those epochs in steps. Importing this module does not import torch.

Our copy of the paper lost its equations in extraction; where a value's place in an equation is read from
the surrounding text, the setting's description says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...models.augment import FmriAugmentSettings
from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import check_variants, subjects_setting
from ..cinesync.settings import Evaluation

#: The variants: the full model and the paper's ablations (Tab. 6: without the semantic, structure or
#: motion decoder; Fig. 7: the motion generator without fMRI guidance).
VARIANTS = ("mindanimator", "no_semantic", "no_structure", "no_motion", "no_fmri_guidance")


@dataclass(frozen=True)
class SemanticModel:
    """Semantic decoder (section 3.2): a three-layer MLP fMRI -> CLIP space, a two-layer MLP -> text condition."""

    hidden: int = setting(4096, "hidden width of both MLPs (the paper does not give it)", minimum=1)
    dropout: float = setting(0.0, "dropout after each hidden layer", minimum=0, maximum=1)
    temperature: float = setting(0.07, "initial InfoNCE temperature (learned, as CLIP's)", exclusiveMinimum=0)
    lambda1: float = setting(0.5, "weight of the fMRI-video term in the tri-modal loss, 1 - lambda1 the fMRI-text "
                             "term (C.1: 0.5; our reading of eq. 2)", minimum=0, maximum=1)  # fmt: skip
    lambda2: float = setting(0.01, "weight of the projection loss (C.1: 0.01; our reading of eq. 5)", minimum=0)
    alpha: float = setting(0.5, "weight of the fMRI-text closeness loss (C.1: 0.5; our reading of eq. 3 and 5)",
                           minimum=0)  # fmt: skip


@dataclass(frozen=True)
class CaptionAugment:
    """Caption augmentation (C.1; EDA, Wei & Zou 2019): each operation applied to a caption with its probability."""

    variants: int = setting(4, "augmented captions made per training clip (encoded once, drawn at each step; 0: off)",
                            minimum=0)  # fmt: skip
    synonym: float = setting(0.5, "probability of a synonym replacement (C.1: 0.5)", minimum=0, maximum=1)
    insert: float = setting(0.2, "probability of a random insertion of a synonym (C.1: 0.2)", minimum=0, maximum=1)
    swap: float = setting(0.2, "probability of swapping two words (C.1: 0.2)", minimum=0, maximum=1)
    delete: float = setting(0.2, "probability of deleting a word (C.1: 0.2)", minimum=0, maximum=1)
    synonyms: str = setting("resources/synonyms.tsv", "synonym table (word<TAB>synonym,synonym,...; e.g. exported from "
                            "WordNet), relative to the checkout")  # fmt: skip


@dataclass(frozen=True)
class SemanticTrain(TrainSettings):
    steps: int = setting(2025, "optimiser steps (the paper: epoch 30 of batch 64 over 4,320 clips)", minimum=1)
    batch_size: int = setting(64, "clips per step (C.1: 64)", minimum=1)
    lr: float = setting(2e-4, "peak learning rate (C.1: 2e-4)", exclusiveMinimum=0)
    warmup_steps: int = setting(0, "linear warm-up steps", minimum=0)


@dataclass(frozen=True)
class SemanticSettings:
    model: SemanticModel = section(SemanticModel)
    train: SemanticTrain = section(SemanticTrain)
    captions: CaptionAugment = section(CaptionAugment)


@dataclass(frozen=True)
class StructureModel:
    """Structure decoder (section 3.2): a two-layer MLP fMRI -> the first frame's VAE latent (MSE)."""

    hidden: int = setting(4096, "hidden width (the paper does not give it)", minimum=1)
    dropout: float = setting(0.0, "dropout after the hidden layer", minimum=0, maximum=1)


@dataclass(frozen=True)
class StructureTrain(TrainSettings):
    steps: int = setting(5063, "optimiser steps (the paper: epoch 75 of batch 64 over 4,320 clips)", minimum=1)
    batch_size: int = setting(64, "clips per step (C.1: 64)", minimum=1)
    lr: float = setting(1e-6, "peak learning rate (C.1: 1e-6)", exclusiveMinimum=0)
    warmup_steps: int = setting(50, "linear warm-up steps (C.1: 50)", minimum=0)


@dataclass(frozen=True)
class StructureSettings:
    model: StructureModel = section(StructureModel)
    train: StructureTrain = section(StructureTrain)


@dataclass(frozen=True)
class MotionModel:
    """Consistency Motion Generator (section 3.2, appendix D.2): L blocks of a temporal module (sparse causal
    self-attention over frames) and a spatial module (cross-attention to the embedded fMRI) + FFN."""

    patch: int = setting(64, "patch size on the VAE latents (C.1: 64, one patch per 64 x 64 latent frame); must "
                         "divide the latent height and width", minimum=1)  # fmt: skip
    width: int = setting(1024, "frame-token width (the paper does not give it)", minimum=8)
    depth: int = setting(4, "CMG blocks L (the paper does not give it in our copy)", minimum=1)
    heads: int = setting(8, "attention heads", minimum=1)
    mlp_ratio: float = setting(4.0, "FFN width / width", exclusiveMinimum=0)
    dropout: float = setting(0.0, "dropout in attention and FFN", minimum=0, maximum=1)
    mask_style: str = setting("released", "how the random part reads mask_ratio: released (the released code: each "
                              "visible entry but the first frame's kept with probability mask_ratio) or share "
                              "(floor(mask_ratio i) of frame i's earlier frames hidden)", enum=("released", "share"))  # fmt: skip
    mask_ratio: float = setting(0.6, "the random part of the sparse causal mask at training (C.1: 0.6; none at "
                                "inference), read as mask_style says", minimum=0, maximum=1)  # fmt: skip

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"methods.mindanimator.motion.model: width {self.width} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class MotionTrain(TrainSettings):
    steps: int = setting(4725, "optimiser steps (the paper: epoch 70 of batch 64 over 4,320 clips)", minimum=1)
    batch_size: int = setting(64, "clips per step (C.1: 64)", minimum=1)
    lr: float = setting(4e-5, "peak learning rate (C.1: 4e-5)", exclusiveMinimum=0)
    warmup_steps: int = setting(50, "linear warm-up steps (C.1: 50)", minimum=0)


@dataclass(frozen=True)
class MotionSettings:
    model: MotionModel = section(MotionModel)
    train: MotionTrain = section(MotionTrain)


@dataclass(frozen=True)
class ReconstructSettings:
    """The inflated Stable Diffusion (section 3.3, appendix C.1, D.3)."""

    steps: int = setting(50, "DDIM sampling steps", minimum=1)
    inversion_steps: int = setting(50, "DDIM inversion steps of the decoded latents under the empty caption (C.1 and "
                                   "the released code: 50)", minimum=0)  # fmt: skip
    smoothing_timestep: int = setting(200, "timestep the inverted latents are noised to before sampling (the released "
                                      "code's 200: C.1's 'Gaussian smoothing'; 0: none)", minimum=0, maximum=999)  # fmt: skip
    guidance_scale: float = setting(7.5, "classifier-free guidance against the empty caption's condition (SD's "
                                    "default; the paper does not give it)", minimum=0)  # fmt: skip
    seed: int = setting(42, "seed of every random draw of the reconstructions (the ablations' noise)", minimum=0)
    fps: float = setting(8.0, "frame rate of the written mp4", exclusiveMinimum=0)


@dataclass(frozen=True)
class Settings:
    """Mind-Animator (seed 002): semantic, structure and motion decoders per subject, an inflated Stable
    Diffusion that never saw a video, and the paper's ablations as variants."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()
    variants: tuple[str, ...] = setting(VARIANTS, "variants: mindanimator (full), no_semantic, no_structure, no_motion, "
                                        "no_fmri_guidance (the paper's ablations)", minItems=1,
                                        items={"enum": list(VARIANTS)})  # fmt: skip
    roi_sets: tuple[str, ...] | None = setting(None, "the fMRI columns the decoders take, by ROI set (the paper: the "
                                               "visual cortex; null: all)", minItems=1)  # fmt: skip
    base: str = setting("runwayml/stable-diffusion-v1-5", "Stable Diffusion pipeline folder or hub id (vae/, unet/, "
                        "text_encoder/, tokenizer/, scheduler/): the generator, its VAE the structure and motion "
                        "latents' and its text encoder the semantic condition's")  # fmt: skip
    frames: int = setting(8, "frames decoded per clip, evenly spaced over the clip (the paper: 8); each is held "
                          "for its share of the clip's frames in the written video", minimum=2)  # fmt: skip
    size: tuple[int, ...] | None = setting(None, "[height, width] the frames are generated at (multiples of 8; "
                                           "null: the clips')", minItems=2, maxItems=2)  # fmt: skip
    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    fmri_augment: FmriAugmentSettings = section(FmriAugmentSettings)
    semantic: SemanticSettings = section(SemanticSettings)
    structure: StructureSettings = section(StructureSettings)
    motion: MotionSettings = section(MotionSettings)
    reconstruct: ReconstructSettings = section(ReconstructSettings)
    evaluation: Evaluation = section(Evaluation)

    def __post_init__(self):
        check_variants("mindanimator", self.variants, VARIANTS)

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        return ("mindanimator",)

    def recon_variants(self) -> tuple:
        return tuple(self.variants)

    def launch_profiles(self) -> tuple:
        return (self.launch,)

    def extra_outputs(self, subjects) -> list[str]:
        """The voxel importance maps (CIFTI) and their figure beyond the contract's outputs."""
        from ..contract import model_dir

        if not subjects:
            return []
        return [*(f"{model_dir('mindanimator', 'mindanimator', s)}/importance.dscalar.nii" for s in subjects),
                "results/report/mindanimator/importance.png"]  # fmt: skip

    def check(self, config: dict) -> list[str]:
        """Cross-key problems: the ROI sets must be extracted."""
        from .. import roi_set_problems

        return roi_set_problems("mindanimator", self.roi_sets, config)
