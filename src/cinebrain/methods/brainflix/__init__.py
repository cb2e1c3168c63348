"""Brain Netflix ("Brain Netflix: Scaling Data to Reconstruct Videos from Brain Signals", seed 004) as a plug-in
method: stage 1, masked brain modelling over fMRI patches then CLIP-style alignment (:mod:`.mbm`); stage 2, ridge
and MLP regression of the generator's latent and of BLIP's embedding (:mod:`.regress`, :mod:`.blip`); stage 3,
video-to-video reconstruction with a text-to-video U-Net conditioned on the decoded caption (:mod:`.reconstruct`).
Models are trained per subject, on all subjects pooled, or leaving the scored subject out (:mod:`.train`).
Configuration: :mod:`.settings`."""

from .settings import Settings

__all__ = ["Settings"]
