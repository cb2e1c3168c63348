"""NeuroCine ("NeuroCine: Decoding Vivid Video Sequences from Human Brain Activities", seed 003) as a plug-in
method: phase 1, an fMRI encoder trained with spatial-masking and temporal-interpolation views and contrastive
alignment to CLIP (:mod:`.encoder`); phase 2, Stable Diffusion made a video model by pseudo-3D convolutions and
temporal attention (diffusers' UNet3DConditionModel built from the SD UNet, :mod:`.video`), fine-tuned on
captions and then on the fMRI with the dependent prior noise; reconstructions (:mod:`.reconstruct`).
Configuration: :mod:`.settings`."""

from .settings import Settings

__all__ = ["Settings"]
