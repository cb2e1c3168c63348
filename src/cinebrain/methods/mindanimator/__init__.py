"""Mind-Animator ("Animate Your Thoughts: Reconstruction of Dynamic Natural Vision from Human Brain Activity",
seed 002) as a plug-in method: semantic, structure and motion decoders per subject (:mod:`.model`,
:mod:`.train`), an inflated Stable Diffusion (:mod:`.generator`), reconstructions of the paper's variants
(:mod:`.reconstruct`) and voxel importance maps (:mod:`.importance`). Configuration: :mod:`.settings`."""

from .settings import Settings

__all__ = ["Settings"]
