"""GPU work through submitit: a launch profile (``config/launch/<name>.yaml``) picks where a task runs.

A GPU rule is a ``localrule`` launcher: it calls :func:`launch` with a task — an importable function
and its keyword arguments, all plain config values and paths — and a profile name from the config
(e.g. ``encoder.launch: slurm-h100x1``).  :func:`launch` submits a :class:`Task`
(``submitit.helpers.Checkpointable``) and waits for it:

``debug``   in this process (submitit's DebugExecutor): tests;
``local``   a subprocess on this machine, ``gpus_per_node`` GPUs;
``slurm``   a SLURM job (partition, nodes, GPUs and tasks per node, memory, time, account/qos); SLURM
            sends SIGUSR2 ``slurm_signal_delay_s`` before the time limit, and at pre-emption on clusters
            with ``preempt_send_user_signal``.  The training loop (cinebrain.train) finishes its step,
            saves a checkpoint and hands the signal on to submitit, which calls
            :meth:`Task.checkpoint` (the same task, resubmitted; up to ``slurm_max_num_timeout`` times
            after time-outs) and requeues the job; the requeued task resumes from the checkpoint.  Tested
            on a one-node SLURM cluster (tests/test_slurm.py).

With several tasks per node, every process runs the function; torch.distributed is set up from
submitit's job environment (:func:`cinebrain.train.distributed.setup`).
"""

from __future__ import annotations

import importlib
import os
import socket
from pathlib import Path

import yaml

EXECUTORS = ("debug", "local", "slurm")
_SLURM_KEYS = ("slurm_partition", "slurm_account", "slurm_qos", "slurm_signal_delay_s", "slurm_max_num_timeout",
               "slurm_additional_parameters")  # fmt: skip
#: Environment variables a task reports when it starts (SLURM sets them; CUDA_VISIBLE_DEVICES from --gpus).
_TASK_ENV = ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION", "SLURM_PROCID", "CUDA_VISIBLE_DEVICES")
_COMMON_KEYS = ("timeout_min", "nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "mem_gb")


class LaunchError(ValueError):
    """A launch profile is missing or invalid, or the task failed."""


def load_profile(name: str, folder) -> dict:
    """The launch profile ``name`` (a file of ``folder`` — the workflow's ``config/launch/`` — or a path to a
    YAML file)."""
    folder = Path(folder)
    path = Path(name) if str(name).endswith((".yaml", ".yml")) else folder / f"{name}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in folder.glob("*.yaml"))
        raise LaunchError(f"launch profile '{name}' does not exist ({path}); fix: one of {have}, or write "
                          f"{folder}/{name}.yaml (see README, 'GPU jobs')")  # fmt: skip
    prof = yaml.safe_load(path.read_text()) or {}
    kind = prof.get("executor")
    if kind not in EXECUTORS:
        raise LaunchError(f"{path}: executor is {kind!r}; fix: one of {EXECUTORS}")
    allowed = {"executor", *_COMMON_KEYS, *(_SLURM_KEYS if kind == "slurm" else ())}
    unknown = sorted(set(prof) - allowed)
    if unknown:
        raise LaunchError(f"{path}: unknown key(s) {unknown} for executor {kind}; allowed: {sorted(allowed)}")
    if kind == "slurm" and str(prof.get("slurm_partition", "")).startswith("CHANGE_ME"):
        raise LaunchError(f"{path}: slurm_partition is a placeholder; fix: set your cluster's GPU partition")
    return prof


def make_executor(profile: dict, folder):
    """The submitit executor of a profile, its parameters set."""
    import submitit

    kind = profile["executor"]
    extra = {}
    if kind == "slurm" and profile.get("slurm_max_num_timeout") is not None:
        extra["slurm_max_num_timeout"] = int(profile["slurm_max_num_timeout"])  # requeues after time-outs
    ex = submitit.AutoExecutor(folder=str(folder), cluster=kind, **extra)
    params = {k: v for k, v in profile.items() if k in _COMMON_KEYS and v is not None}
    if kind == "slurm":
        params.update({k: v for k, v in profile.items()
                       if k in _SLURM_KEYS and k != "slurm_max_num_timeout" and v is not None})  # fmt: skip
    if kind == "debug":
        params = {}
    ex.update_parameters(**params)
    return ex


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


try:
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover - submitit is a dependency
    _Checkpointable = object


class Task(_Checkpointable):
    """``module:function`` and its keyword arguments; resubmitted as is when SLURM pre-empts it."""

    def __init__(self, target: str, kwargs: dict):
        self.target, self.kwargs = target, kwargs

    def __call__(self):
        from .train.distributed import setup, teardown

        # where the task runs, in its log (submitit's <job>_<task>_log.out): the job, its requeues, the GPUs
        where = {k: os.environ[k] for k in _TASK_ENV if k in os.environ}
        print(f"task {self.target} on {socket.gethostname()}: "
              + (", ".join(f"{k}={v}" for k, v in where.items()) or "not under SLURM"), flush=True)  # fmt: skip
        setup()
        try:
            return _resolve(self.target)(**self.kwargs)
        finally:
            teardown()


def launch(target: str, kwargs: dict, profile: str, log_folder, launch_dir):
    """Run ``target(**kwargs)`` as configured by the launch profile, wait, and return its result.

    A failure raises LaunchError with the job's id and its log folder (stderr of every task is there).
    """
    prof = load_profile(profile, launch_dir)
    _resolve(target)  # fail here, not in a queued job, if the function does not exist
    log_folder = Path(log_folder)
    log_folder.mkdir(parents=True, exist_ok=True)
    ex = make_executor(prof, log_folder)
    job = ex.submit(Task(target, kwargs))
    print(f"launch: {target} as job {job.job_id} ({prof['executor']}, profile {profile}); logs in {log_folder}", flush=True)
    try:
        results = job.results()
    except Exception as exc:
        raise LaunchError(f"job {job.job_id} ({target}, profile {profile}) failed: {exc}; logs: {log_folder}") from exc
    return results[0]
