"""The step timer the training benchmarks share: median seconds per optimiser step after a warm-up step,
peak memory (CUDA's allocator on a GPU, the process's resident set on the CPU), trainable parameters."""

from __future__ import annotations

import resource
import statistics
import time

import torch


def timed_steps(step, params, steps: int, device: str) -> dict:
    """Run ``steps`` + 1 optimiser steps of ``step()`` (a loss) under bf16 autocast on CUDA; time all but the first."""
    opt = torch.optim.AdamW(params, lr=1e-4)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = step()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return {"s_per_step": statistics.median(times), "peak_gib": peak_gib(device),
            "trainable": sum(p.numel() for p in params), "loss": float(loss.detach())}  # fmt: skip


def peak_gib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed_call(fn, device: str) -> dict:
    """Seconds and peak memory of one call of ``fn()`` (no gradients)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return {"s": time.perf_counter() - t0, "peak_gib": peak_gib(device)}
