"""Brain Netflix's configuration (``methods.brainflix``): every key, default and allowed value.

The defaults are the paper's ("Brain Netflix: Scaling Data to Reconstruct Videos from Brain Signals", seed 004,
sections 4-5): MBM patch 16, width 1,024, 24 encoder layers, mask ratio 0.75, contrastive temperature 0.9,
batch 300 (MBM) and 120 (alignment); regression MLPs of a linear layer and 3 residual blocks of 2,048 units
(dropout 0.3, GELU, batch norm); BLIP decoding with repetition penalty 6, length 4-20; re-noising strength 0.8
and 40 denoising steps of Zeroscope v2. Where the paper gives no value (the MBM decoder's size, learning rates,
steps, the guidance scale) the description says whose value we took. The demo's tiny sizes go in
config/config.yaml. Importing this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import section, setting
from ...train.loop import TrainSettings
from .. import check_variants, subjects_setting
from ..cinesync.settings import Evaluation

#: The variants with reconstructions: the single-subject model (the paper's "Brainflix"), section 5.2's
#: ablations of its conditioning (the regressed latent alone, the decoded caption alone), the multi-subject
#: model (all the method's subjects pooled, scored per subject) and the leave-one-subject-out model (trained
#: without the scored subject: 5.3's zero-shot setting).
VARIANTS = ("brainflix", "latent_only", "caption_only", "pooled", "loso")
#: The model each variant reconstructs with.
MODEL_OF = {"brainflix": "brainflix", "latent_only": "brainflix", "caption_only": "brainflix", "pooled": "pooled",
            "loso": "loso"}  # fmt: skip
#: How each model variant pools subjects (the benchmark's protocol names).
PROTOCOLS = {"brainflix": "within_subject", "pooled": "multi_subject", "loso": "leave_one_subject_out"}
BACKBONES = ("mlp", "ridge")


@dataclass(frozen=True)
class MbmModel:
    """Stage 1's masked brain model (section 4, after MinD-Vis): a ViT encoder over patches of the fMRI vector
    and a lighter decoder that reconstructs the masked patches."""

    patch: int = setting(16, "voxels per patch (4: 16)", minimum=1)
    width: int = setting(1024, "encoder width: the fMRI embedding's size (4: 1,024)", minimum=8)
    depth: int = setting(24, "encoder layers (4: 24)", minimum=1)
    heads: int = setting(16, "encoder attention heads (MinD-Vis: 16)", minimum=1)
    decoder_width: int = setting(512, "decoder width (not given; MinD-Vis: 512)", minimum=8)
    decoder_depth: int = setting(8, "decoder layers (not given; MinD-Vis: 8)", minimum=1)
    decoder_heads: int = setting(16, "decoder attention heads (MinD-Vis: 16)", minimum=1)
    mlp_ratio: float = setting(4.0, "feed-forward width / width", exclusiveMinimum=0)
    mask_ratio: float = setting(0.75, "share of patches masked in MBM (4: 75%)", exclusiveMinimum=0, exclusiveMaximum=1)
    subject_layer: str = setting("none", "per-subject differences: none (one encoder for every subject's fsLR "
                                 "grayordinates, as the paper) or affine (a per-subject, per-voxel scale and shift "
                                 "before the encoder, identity at the start; an unseen subject gets the trained "
                                 "subjects' mean)", enum=("none", "affine"))  # fmt: skip

    def __post_init__(self):
        for w, h, what in ((self.width, self.heads, "width"), (self.decoder_width, self.decoder_heads, "decoder_width")):
            if w % h:
                raise ValueError(f"methods.brainflix.mbm.model: {what} {w} is not divisible by its heads {h}")


@dataclass(frozen=True)
class MbmPool:
    """The MBM pool: fMRI samples that need no stimulus, from every run of the pool's subjects that is not a test
    run (film runs of training episodes, and runs without a film, e.g. resting state, when the inventory has them)."""

    window: int | None = setting(None, "consecutive volumes averaged into one sample (null: the clips' volume "
                                 "count, so that a sample is scaled as a clip's fMRI vector)", minimum=1)  # fmt: skip
    stride: int = setting(1, "volumes between consecutive samples of a run", minimum=1)


@dataclass(frozen=True)
class MbmTrain(TrainSettings):
    steps: int = setting(2000, "optimiser steps (4: 200 epochs of HCP + HAD + BMD; set for your pool)", minimum=1)
    batch_size: int = setting(300, "samples per step (4: 300)", minimum=1)
    lr: float = setting(2.5e-4, "peak learning rate (not given; MinD-Vis: 2.5e-4)", exclusiveMinimum=0)


@dataclass(frozen=True)
class MbmSettings:
    model: MbmModel = section(MbmModel)
    pool: MbmPool = section(MbmPool)
    train: MbmTrain = section(MbmTrain)


@dataclass(frozen=True)
class AlignTrain(TrainSettings):
    steps: int = setting(500, "optimiser steps (4: 50 epochs of BMD + CC2017; set for your dataset)", minimum=1)
    batch_size: int = setting(120, "clips per step (4: 120)", minimum=1)
    lr: float = setting(1e-4, "peak learning rate (not given)", exclusiveMinimum=0)


@dataclass(frozen=True)
class AlignSettings:
    """Stage 1's alignment: the MBM encoder fine-tuned with a CLIP-style contrastive loss between its embedding
    (projected to the caption space) and the clip's caption embedding, the MBM loss kept ("simultaneously")."""

    temperature: float = setting(0.9, "temperature tau of the contrastive loss (4: 0.9)", exclusiveMinimum=0)
    mbm_weight: float = setting(1.0, "weight of the masked-patch loss while aligning (0: contrastive alone)",
                                minimum=0)  # fmt: skip
    train: AlignTrain = section(AlignTrain)


@dataclass(frozen=True)
class MlpModel:
    """Stage 2's regularised MLP (section 4): a linear layer, 3 residual blocks, an output layer."""

    width: int = setting(2048, "units of the first layer and the residual blocks (4: 2,048)", minimum=1)
    blocks: int = setting(3, "residual blocks (4: 3)", minimum=0)
    dropout: float = setting(0.3, "dropout of every block (4: 0.3)", minimum=0, maximum=1)


@dataclass(frozen=True)
class MlpTrain(TrainSettings):
    steps: int = setting(2000, "optimiser steps per target (not given)", minimum=1)
    batch_size: int = setting(64, "clips per step (not given)", minimum=1)
    lr: float = setting(1e-3, "peak learning rate (not given)", exclusiveMinimum=0)


@dataclass(frozen=True)
class RegressionSettings:
    """Stage 2: the stage-1 embedding regressed to the generator's clip latent z and the BLIP embedding b."""

    backbones: tuple[str, ...] = setting(("mlp", "ridge"), "regressors fitted and scored (test MSE, as 5.2's "
                                         "comparison); the first one feeds the reconstructions", minItems=1,
                                         items={"type": "string", "enum": list(BACKBONES)})  # fmt: skip
    alphas: tuple[float, ...] = setting((0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0), "ridge penalties "
                                        "cross-validated (scikit-learn RidgeCV, one for all targets)", minItems=1,
                                        items={"type": "number", "exclusiveMinimum": 0})  # fmt: skip
    cv_folds: int = setting(5, "ridge cross-validation folds, grouped by episode, inside the training clips "
                            "(fewer episodes: one fold per episode)", minimum=2)  # fmt: skip
    mlp: MlpModel = section(MlpModel)
    train: MlpTrain = section(MlpTrain)

    def __post_init__(self):
        bad = [b for b in self.backbones if b not in BACKBONES]
        if bad:
            raise ValueError(f"methods.brainflix.regression.backbones: {', '.join(bad)} not among {', '.join(BACKBONES)}")


@dataclass(frozen=True)
class CaptionSettings:
    """Stage 3's caption: the regressed BLIP embedding decoded by BLIP's text decoder (section 4)."""

    repetition_penalty: float = setting(6.0, "repetition penalty (4: 6)", minimum=1)
    min_length: int = setting(4, "minimum length in tokens, the begin token included (4: 4)", minimum=1)
    max_length: int = setting(20, "maximum length in tokens, the begin token included (4: 20)", minimum=2)
    num_beams: int = setting(1, "beams (not given: greedy, transformers' default)", minimum=1)

    def __post_init__(self):
        if self.min_length > self.max_length:
            raise ValueError(f"methods.brainflix.caption: min_length {self.min_length} > max_length {self.max_length}")


@dataclass(frozen=True)
class ReconstructSettings:
    strength: float = setting(0.8, "re-noising strength of the regressed latent (4: 0.8)", exclusiveMinimum=0,
                              maximum=1)  # fmt: skip
    steps: int = setting(40, "denoising steps (4: 40; the pipeline runs strength x steps of them)", minimum=1)
    guidance_scale: float = setting(15.0, "classifier-free guidance (not given; diffusers' video-to-video default)",
                                    minimum=0)  # fmt: skip
    seed: int = setting(42, "seed of the re-noising and of caption_only's initial noise, the same for every clip",
                        minimum=0)  # fmt: skip
    fps: float = setting(8.0, "frame rate of the written mp4", exclusiveMinimum=0)


@dataclass(frozen=True)
class Settings:
    """Brain Netflix (seed 004): masked brain modelling and alignment, regression, video-to-video reconstruction."""

    enabled: bool = setting(True, "train, reconstruct and score this method")
    subjects: tuple[str, ...] | None = subjects_setting()
    variants: tuple[str, ...] = setting(VARIANTS, "variants reconstructed and scored: brainflix (single subject), "
                                        "latent_only, caption_only (5.2's ablations), pooled (all subjects pooled), "
                                        "loso (trained without the scored subject; needs 2 subjects)", minItems=1,
                                        items={"type": "string", "enum": list(VARIANTS)})  # fmt: skip
    roi_sets: tuple[str, ...] | None = setting(None, "the fMRI columns the model takes, by ROI set (null: all)",
                                               minItems=1)  # fmt: skip
    generator: str = setting("cerspense/zeroscope_v2_576w", "text-to-video pipeline folder or hub id loaded as "
                             "diffusers' VideoToVideoSDPipeline (4: Zeroscope v2)")  # fmt: skip
    blip: str = setting("Salesforce/blip-image-captioning-base", "BLIP captioner folder or hub id "
                        "(BlipForConditionalGeneration; 4: BLIP, embeddings of width 768)")  # fmt: skip
    frames: int = setting(15, "frames of the latent z (4: z of shape 4 x 15 x 33 x 33)", minimum=1)
    size: tuple[int, ...] | None = setting((264, 264), "[height, width] of the frames z encodes (4: 33 x 33 "
                                           "latents, 264 x 264 pixels; null: the clips')", minItems=2,
                                           maxItems=2)  # fmt: skip
    launch: str = setting("debug", "launch profile of config/launch/ (debug, local, slurm-*) or a path")
    device: str = setting("auto", "auto (cuda when there is a GPU), cpu, cuda, cuda:N")
    mbm: MbmSettings = section(MbmSettings)
    align: AlignSettings = section(AlignSettings)
    regression: RegressionSettings = section(RegressionSettings)
    caption: CaptionSettings = section(CaptionSettings)
    reconstruct: ReconstructSettings = section(ReconstructSettings)
    evaluation: Evaluation = section(Evaluation)

    def __post_init__(self):
        check_variants("brainflix", self.variants, VARIANTS)

    # --- what the generic stages read (cinebrain.methods) ---

    def model_variants(self) -> tuple:
        return tuple(dict.fromkeys(MODEL_OF[v] for v in self.variants))

    def recon_variants(self) -> tuple:
        return tuple(self.variants)

    def launch_profiles(self) -> tuple:
        return (self.launch,)

    def protocols(self) -> dict:
        """{model variant: protocol} (within_subject, multi_subject, leave_one_subject_out)."""
        return {v: PROTOCOLS[v] for v in self.model_variants()}

    def extra_outputs(self, subjects) -> list[str]:
        """The regression report figure beyond the contract's outputs."""
        return ["results/report/brainflix/regression.png"] if subjects else []

    def check(self, config: dict) -> list[str]:
        """Cross-key problems: the ROI sets must be extracted; leave-one-subject-out needs two listed subjects (the
        dataset's subjects are checked when the workflow knows them)."""
        from .. import roi_set_problems

        problems = roi_set_problems("brainflix", self.roi_sets, config)
        if "loso" in self.variants and self.subjects is not None and len(self.subjects) < 2:
            problems.append(f"methods.brainflix.variants has loso but methods.brainflix.subjects lists one subject "
                            f"({', '.join(self.subjects)}); fix: list at least 2, or drop loso")  # fmt: skip
        return problems


def pool_name(variant: str, subject: str) -> str:
    """The folder name of the stage-1/2 models a model variant of ``subject`` uses: ``sub-XX`` (its own data),
    ``all`` (every subject's, one model), ``loso-XX`` (every subject's but XX's)."""
    model = MODEL_OF[variant]
    return {"brainflix": f"sub-{subject}", "pooled": "all", "loso": f"loso-{subject}"}[model]


def pool_subjects(pool: str, subjects) -> list[str]:
    """The subjects whose data trains the models of ``pool`` (a :func:`pool_name`), among the method's ``subjects``;
    an error when a pool would be empty or names a subject the method does not run for."""
    subjects = [str(s) for s in subjects]
    if pool == "all":
        return subjects
    kind, _, sub = pool.partition("-")
    if sub not in subjects:
        raise ValueError(f"Brain Netflix pool '{pool}': subject {sub} is not among the method's subjects "
                         f"({', '.join(subjects)})")  # fmt: skip
    if kind == "sub":
        return [sub]
    rest = [s for s in subjects if s != sub]
    if kind != "loso" or not rest:
        raise ValueError(f"Brain Netflix pool '{pool}': leave-one-subject-out needs at least 2 subjects (has "
                         f"{', '.join(subjects)}); fix: more subjects, or drop loso from methods.brainflix.variants")  # fmt: skip
    return rest
