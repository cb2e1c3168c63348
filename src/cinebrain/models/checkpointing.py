"""Selective activation checkpointing of a diffusers transformer's blocks (issue 26).

diffusers' ``enable_gradient_checkpointing`` recomputes every block's activations in the backward pass: the
least memory, and about a third more compute per step. On a device with memory to spare only some blocks
need it. :class:`SelectiveCheckpointing` is the ``gradient_checkpointing_func`` diffusers takes: it
recomputes the *last* ``n`` blocks and keeps the others' activations, ``n`` given, or (``None``) planned on a
GPU at the first forward pass from the measured activation memory of the first block and the device's free
memory (:func:`blocks_to_checkpoint`); on the CPU ``None`` recomputes every block, as before.

torch's own selective checkpointing (``torch.utils.checkpoint.create_selective_checkpoint_contexts``) picks
operations to save *inside* a checkpointed region; what is wanted here is the coarser choice of regions, which
diffusers' per-block call already offers, so this is the whole of it.
"""

from __future__ import annotations

import math


def blocks_to_checkpoint(n_blocks: int, block_bytes: int, free_bytes: int, reserve_bytes: int = 0) -> int:
    """How many of ``n_blocks`` blocks to recompute so that the activations of the others (``block_bytes``
    each) fit in ``free_bytes`` less ``reserve_bytes`` (what the step still allocates after the forward pass:
    the gradients and optimiser states of the trainable parameters, one recomputed block in the backward pass,
    a margin for the allocator). 0 when all fit; ``n_blocks`` when none does."""
    if n_blocks <= 0:
        return 0
    if block_bytes <= 0:
        return 0
    room = free_bytes - reserve_bytes
    keep = max(0, min(n_blocks, math.floor(room / block_bytes)))
    return n_blocks - keep


class SelectiveCheckpointing:
    """``gradient_checkpointing_func(block, *args)`` recomputing the last ``n`` of ``blocks`` (see the module).

    ``n``: a number of blocks, or None (automatic). ``reserve_bytes``: for the automatic plan, the memory the
    step needs beyond the kept activations (see :func:`blocks_to_checkpoint`); ``margin``: the fraction of the
    device's total memory also held back. After the first forward pass ``n`` is the plan in use, and
    ``checkpointed`` the indices of the blocks the last pass recomputed."""

    def __init__(self, blocks, n: int | None = None, *, reserve_bytes: int = 0, margin: float = 0.1):
        self.index = {id(b): i for i, b in enumerate(blocks)}
        self.n_blocks = len(self.index)
        if n is not None and not 0 <= n <= self.n_blocks:
            raise ValueError(f"checkpoint_blocks {n}: the transformer has {self.n_blocks} blocks; fix: a number from 0 "
                             f"to {self.n_blocks}, or null (automatic)")  # fmt: skip
        self.n, self.reserve_bytes, self.margin = n, int(reserve_bytes), float(margin)
        self.checkpointed: list[int] = []
        self.measured: dict = {}

    def __call__(self, block, *args):
        import torch
        from torch.utils.checkpoint import checkpoint

        i = self.index[id(block)]
        if i == 0:
            self.checkpointed = []
        if self.n is None:
            if not (torch.cuda.is_available() and any(torch.is_tensor(a) and a.is_cuda for a in args)):
                self.n = self.n_blocks  # on the CPU: every block, as diffusers' own checkpointing
            else:
                return self._plan(block, args)
        if i >= self.n_blocks - self.n:
            self.checkpointed.append(i)
            return checkpoint(block.__call__, *args, use_reentrant=False)
        return block(*args)

    def _plan(self, block, args):
        """Run the first block keeping its activations, measure them, and decide ``n`` for the rest."""
        import torch

        device = next(a for a in args if torch.is_tensor(a) and a.is_cuda).device
        before = torch.cuda.memory_allocated(device)
        out = block(*args)
        block_bytes = torch.cuda.memory_allocated(device) - before
        free, total = torch.cuda.mem_get_info(device)
        reserve = self.reserve_bytes + int(self.margin * total) + 2 * block_bytes
        # the first block is kept (it ran): plan the others
        self.n = min(self.n_blocks - 1, blocks_to_checkpoint(self.n_blocks - 1, block_bytes, free, reserve))
        self.measured = {"block_bytes": int(block_bytes), "free_bytes": int(free), "total_bytes": int(total),
                         "reserve_bytes": int(reserve)}  # fmt: skip
        print(f"gradient checkpointing: a block keeps {block_bytes / 2**30:.2f} GiB of activations, {free / 2**30:.1f} "
              f"GiB free (reserve {reserve / 2**30:.1f} GiB): recomputing {self.n} of {self.n_blocks} blocks", flush=True)  # fmt: skip
        return out

    def state(self) -> dict:
        """What a run's record says of it: the blocks and how many were recomputed, and the measurement."""
        return {"blocks": self.n_blocks, "checkpointed": self.n, **self.measured}
