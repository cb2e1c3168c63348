"""CineNeuron ("Bridging Brain and Semantics", seed 001) as a method of the workflow.

- :mod:`.settings`: its configuration section (``methods.cineneuron``);
- :mod:`.brain`: stage 1, the Brain Model (global token + fMRI embedding) and its image, text, action and
  category objectives;
- :mod:`.memory`: stage 2's Mixture-of-Memories: the memory pool of training clips, the router, the
  mixture-score retrieval and the cross-attention integration that makes the decoder's condition;
- :mod:`.decoder`: the Wan2.1 decoder with LoRA and its rectified-flow objective;
- :mod:`.train`: the tasks of rules ``cineneuron_brain``, ``cineneuron_memory`` and ``cineneuron_decoder``;
- :mod:`.reconstruct`: rule ``cineneuron_reconstruct``'s task.
"""

from .settings import Settings

__all__ = ["Settings"]
