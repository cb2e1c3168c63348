"""torch.distributed set-up: from submitit's job environment on a cluster, from torchrun's variables, or
none (one process).

On SLURM, submitit starts one task per GPU; :func:`setup` reads its ``JobEnvironment`` through
``submitit.helpers.TorchDistributedEnvironment`` (master address and port, rank, world size, local
rank), exports the variables of PyTorch's ``env://`` initialisation and joins the process group
(NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistState:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(backend: str | None = None) -> DistState:
    """Join the process group when launched as several processes; a one-process DistState otherwise."""
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistState(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    if "WORLD_SIZE" not in os.environ:
        try:  # inside a submitit job
            import submitit

            submitit.JobEnvironment()
            from submitit.helpers import TorchDistributedEnvironment

            env = TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            if env.world_size == 1:
                return DistState()
        except RuntimeError:  # not in a submitit job
            return DistState()
    world = int(os.environ["WORLD_SIZE"])
    if world == 1:
        return DistState()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend, init_method="env://")
    return DistState(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def torch_device(name: str, dist: DistState | None = None):
    """The torch device of ``name`` ("auto": cuda when there is a GPU, else cpu); under torch.distributed a
    bare "cuda" becomes this process's GPU (cuda:LOCAL_RANK): SLURM shows every task all of a node's GPUs."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist is not None and dist.world_size > 1:
        name = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(dist.local_rank)
    return name
