"""NeuroCine's configuration (``methods.neurocine``): every key, default and allowed value.

The defaults are the paper's (seed 003: sections 3.1-3.2, 4.3 and Table 1's best row, experiment 8: spatial
mask ratio 0.2, temporal interpolation ratio 1/3, both augmentation losses weighted 1, dependent noise
ratio 0.25); where the paper gives no value (phase 1's and phase 2b's steps, the temperature) the
description says so. The demo's tiny sizes go in config/config.yaml. Importing this module does not import
torch. Our copy of the paper lost its spaces in extraction, not its equations.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import subjects_setting
from ..cinesync.settings import Evaluation


@dataclass(frozen=True)
class EncoderModel:
    """Phase 1's fMRI encoder (3.1, 4.3): a ViT over voxel patches of each volume of the window (Sun et al.'s
    DC-MAE encoder: patch 16, 24 layers, width 1024), a projection to CLIP space and a head to SD's condition."""

    patch: int = setting(16, "voxels per token (4.3: 16)", minimum=1)
    width: int = setting(1024, "token width (4.3: 1024)", minimum=8)
    depth: int = setting(24, "transformer layers (4.3: 24)", minimum=1)
    heads: int = setting(16, "attention heads (Sun et al.'s ViT-L: 16)", minimum=1)
    mlp_ratio: float = setting(4.0, "feed-forward width / width", exclusiveMinimum=0)
    dropout: float = setting(0.0, "dropout in the transformer", minimum=0, maximum=1)
    window: int | None = setting(None, "volumes per encoder input (3.1.1's sliding window w; cc2017: 2). Training "
                                 "draws the window's start among the clip's lagged volumes, testing averages "
                                 "every start; null: all the clip's volumes", minimum=1)  # fmt: skip
    pretrained: str | None = setting(None, "a state dict (safetensors or .pt) of a pre-trained fMRI encoder of this "
                                     "shape (4.3: Sun et al.'s DC-MAE on HCP), loaded before phase 1")  # fmt: skip
    temperature: float = setting(0.07, "InfoNCE temperature of the contrastive losses (not given; CLIP's)",
                                 exclusiveMinimum=0)  # fmt: skip

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"methods.neurocine.encoder.model: width {self.width} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class EncoderAugment:
    """Phase 1's augmented views (3.1.2) and the weights of their losses (eq. 3)."""

    spatial_mask: float = setting(0.2, "gamma_spa: share of a window's voxels zeroed (Table 1: 0.2)", minimum=0,
                                  maximum=1)  # fmt: skip
    temporal_interpolation: float = setting(1 / 3, "gamma_tem: probability a volume is replaced by its neighbours' "
                                            "distance-weighted mean (Table 1: 1/3)", minimum=0, maximum=1)  # fmt: skip
    mu_spa: float = setting(1.0, "weight of the spatial-view contrastive loss (Table 1: 1)", minimum=0)
    mu_tem: float = setting(1.0, "weight of the temporal-view contrastive loss (Table 1: 1)", minimum=0)


@dataclass(frozen=True)
class EncoderTrain(TrainSettings):
    steps: int = setting(4000, "optimiser steps (not given in the paper)", minimum=1)
    batch_size: int = setting(32, "clips per step (not given in the paper)", minimum=1)
    lr: float = setting(1e-4, "peak learning rate (not given in the paper)", exclusiveMinimum=0)


@dataclass(frozen=True)
class EncoderSettings:
    model: EncoderModel = section(EncoderModel)
    augment: EncoderAugment = section(EncoderAugment)
    train: EncoderTrain = section(EncoderTrain)


@dataclass(frozen=True)
class DecoderModel:
    """Phase 2's video diffusion (3.2.2): SD's UNet with pseudo-3-D convolutions and a temporal attention layer
    after each spatial transformer, each frame's tokens attending to the previous ``temporal_window`` frames."""

    temporal_window: int = setting(2, "earlier frames a frame's temporal attention sees (3.2.2: the previous two)",
                                   minimum=0)  # fmt: skip
    noise_beta: float = setting(0.25, "dependent prior noise ratio beta of eq. 7 (Table 1's best: 0.25; 0: "
                                "independent noise)", minimum=0, exclusiveMaximum=1)  # fmt: skip
    train_temporal_convs: bool = setting(True, "train the pseudo-3-D convolutions too (the paper names only the "
                                         "attention layers; ours start as the identity and stay so untrained)")  # fmt: skip


@dataclass(frozen=True)
class VideoTrain(TrainSettings):
    """Phase 2a: the video model fine-tuned on the training clips' captions (4.3)."""

    steps: int = setting(1000, "optimiser steps (4.3: 1,000)", minimum=1)
    batch_size: int = setting(14, "clips per step (4.3: 14)", minimum=1)
    lr: float = setting(2e-5, "peak learning rate (4.3: 2e-5)", exclusiveMinimum=0)
    weight_decay: float = setting(0.0, "AdamW weight decay", minimum=0)


@dataclass(frozen=True)
class BrainTrain(TrainSettings):
    """Phase 2b: the fMRI encoder in place of the text encoder, fine-tuned with the video model's attention (4.3)."""

    steps: int = setting(3000, "optimiser steps (not given in the paper)", minimum=1)
    batch_size: int = setting(24, "clips per step (4.3: 24)", minimum=1)
    lr: float = setting(2e-5, "peak learning rate (4.3: 2e-5)", exclusiveMinimum=0)
    weight_decay: float = setting(0.0, "AdamW weight decay", minimum=0)


@dataclass(frozen=True)
class ReconstructSettings:
    steps: int = setting(50, "DDIM sampling steps", minimum=1)
    guidance_scale: float = setting(7.5, "classifier-free guidance against the empty caption (not given; SD's)",
                                    minimum=0)  # fmt: skip
    seed: int = setting(42, "seed of the initial dependent noise, the same for every clip", minimum=0)
    fps: float = setting(8.0, "frame rate of the written mp4", exclusiveMinimum=0)


@dataclass(frozen=True)
class DecoderSettings:
    model: DecoderModel = section(DecoderModel)
    video_train: VideoTrain = section(VideoTrain)
    train: BrainTrain = section(BrainTrain)
    reconstruct: ReconstructSettings = section(ReconstructSettings)


@dataclass(frozen=True)
class Settings:
    """NeuroCine (seed 003): phase 1's fMRI encoder, phase 2's video diffusion, one variant per subject."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()
    roi_sets: tuple[str, ...] | None = setting(None, "the fMRI columns the encoder takes, by ROI set (null: all)",
                                               minItems=1)  # fmt: skip
    base: str = setting("runwayml/stable-diffusion-v1-5", "Stable Diffusion pipeline folder or hub id (4.3: v1-5)")
    frames: int = setting(12, "frames per clip, evenly spaced (4.3: 3 fps, 6 per 2-s fMRI frame; 12 per 4-s clip), "
                          "each held for its share of the clip's frames in the written video", minimum=2)  # fmt: skip
    size: tuple[int, ...] | None = setting((256, 256), "[height, width] of the generated frames (4.3: 256 x 256; "
                                           "null: the clips')", minItems=2, maxItems=2)  # fmt: skip
    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    encoder: EncoderSettings = section(EncoderSettings)
    decoder: DecoderSettings = section(DecoderSettings)
    evaluation: Evaluation = section(Evaluation)

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        return ("neurocine",)

    def recon_variants(self) -> tuple:
        return ("neurocine",)

    def launch_profiles(self) -> tuple:
        return (self.launch,)

    def extra_outputs(self, subjects) -> list[str]:
        """The phase-2 decoders beyond the contract's outputs."""
        from ..contract import model_dir

        return [f"{model_dir('neurocine', 'neurocine', s)}/decoder/decoder.json" for s in subjects]

    def check(self, config: dict) -> list[str]:
        """Cross-key problems: the ROI sets must be extracted."""
        from .. import roi_set_problems

        return roi_set_problems("neurocine", self.roi_sets, config)
