"""GPU work through submitit: a launch profile (``config/launch/<name>.yaml``) picks where a task runs.

A GPU rule is a ``localrule`` launcher: it calls :func:`launch` with a task — an importable function
and its keyword arguments, all plain config values and paths — and a profile name from the config
(e.g. ``encoder.launch: slurm-h100x1``).  :func:`launch` submits a :class:`Task`
(``submitit.helpers.Checkpointable``) and waits for it:

``debug``   in this process, without submitit (whose DebugExecutor stops at a pdb prompt on any failure
            when a terminal is attached: a hang with nothing printed); tests and the demo;
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

A task never runs unattended: while the launcher waits it touches ``<log folder>/launcher.heartbeat``
every :data:`HEARTBEAT_S` seconds, and the task watches that file (the log folder is on the file system
that submitit already shares between the launcher and the job).  When the launcher is gone (Snakemake
killed with SIGKILL, the login node rebooted) the heartbeat stops; after ``launcher_timeout_s`` (a profile
key, default 600 s) the task sends itself SIGTERM (a training loop saves its checkpoint and stops) and
exits :data:`GRACE_S` seconds later whatever it is doing.  A launcher that is stopped with SIGTERM, SIGINT or
SIGHUP (Ctrl-C, a closed terminal) cancels its job (scancel) before it exits.  A rerun resumes
from the checkpoint.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

import yaml

EXECUTORS = ("debug", "local", "slurm")
_SLURM_KEYS = ("slurm_partition", "slurm_account", "slurm_qos", "slurm_signal_delay_s", "slurm_max_num_timeout",
               "slurm_additional_parameters")  # fmt: skip
#: Environment variables a task reports when it starts (SLURM sets them; CUDA_VISIBLE_DEVICES from --gpus).
_TASK_ENV = ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION", "SLURM_PROCID", "CUDA_VISIBLE_DEVICES")
_COMMON_KEYS = ("timeout_min", "nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "mem_gb")
#: profile keys of cinebrain's own (not submitit's parameters)
_OWN_KEYS = ("launcher_timeout_s",)
#: seconds between the launcher's heartbeats, and seconds a task has to stop after its SIGTERM
HEARTBEAT_S = 30.0
GRACE_S = 300.0
HEARTBEAT_FILE = "launcher.heartbeat"


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
    allowed = {"executor", *_COMMON_KEYS, *_OWN_KEYS, *(_SLURM_KEYS if kind == "slurm" else ())}
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


def watch_launcher(heartbeat: Path, timeout_s: float, grace_s: float = GRACE_S, poll_s: float | None = None):
    """Start a daemon thread that stops this process when ``heartbeat`` has not been touched for
    ``timeout_s``: SIGTERM first (the training loop checkpoints and stops), then exit after ``grace_s``."""
    poll_s = poll_s if poll_s is not None else min(HEARTBEAT_S, timeout_s / 4)

    def watch():
        while True:
            time.sleep(poll_s)
            try:
                age = time.time() - heartbeat.stat().st_mtime
            except OSError:
                age = float("inf")
            if age > timeout_s:
                print(f"task: no heartbeat from the launcher for {age:.0f} s ({heartbeat}): it is gone; stopping "
                      f"(SIGTERM, then exit in {grace_s:.0f} s); run the workflow again to resume", flush=True)  # fmt: skip
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(grace_s)
                os._exit(143)

    thread = threading.Thread(target=watch, name="launcher-watchdog", daemon=True)
    thread.start()
    return thread


class Task(_Checkpointable):
    """``module:function`` and its keyword arguments; resubmitted as is when SLURM pre-empts it.  With a
    ``heartbeat`` file the task stops when its launcher stops touching it (:func:`watch_launcher`)."""

    def __init__(self, target: str, kwargs: dict, heartbeat: str | None = None, launcher_timeout_s: float = 600.0):
        self.target, self.kwargs = target, kwargs
        self.heartbeat, self.launcher_timeout_s = heartbeat, launcher_timeout_s

    def __call__(self):
        from .train.distributed import setup, teardown

        # where the task runs, in its log (submitit's <job>_<task>_log.out): the job, its requeues, the GPUs
        where = {k: os.environ[k] for k in _TASK_ENV if k in os.environ}
        print(f"task {self.target} on {socket.gethostname()}: "
              + (", ".join(f"{k}={v}" for k, v in where.items()) or "not under SLURM"), flush=True)  # fmt: skip
        if self.heartbeat:
            watch_launcher(Path(self.heartbeat), self.launcher_timeout_s)
        setup()
        try:
            return _resolve(self.target)(**self.kwargs)
        finally:
            teardown()


class _Stopped(Exception):
    """The launcher received SIGTERM, SIGINT or SIGHUP while it waited."""


def _heartbeat(path: Path, stop: threading.Event, every_s: float) -> None:
    while not stop.is_set():
        path.touch()
        stop.wait(every_s)


def launch(target: str, kwargs: dict, profile: str, log_folder, launch_dir):
    """Run ``target(**kwargs)`` as configured by the launch profile, wait, and return its result.

    A failure raises LaunchError with the job's id and its log folder (stderr of every task is there).
    """
    prof = load_profile(profile, launch_dir)
    _resolve(target)  # fail here, not in a queued job, if the function does not exist
    log_folder = Path(log_folder)
    log_folder.mkdir(parents=True, exist_ok=True)
    if prof["executor"] == "debug":  # in this process: an error is raised and printed, never a pdb prompt
        print(f"launch: {target} in this process (profile {profile})", flush=True)
        try:
            return Task(target, kwargs)()
        except Exception as exc:
            raise LaunchError(f"{target} (profile {profile}) failed: {type(exc).__name__}: {exc}") from exc
    heartbeat = log_folder / HEARTBEAT_FILE
    heartbeat.touch()
    ex = make_executor(prof, log_folder)
    timeout_s = float(prof.get("launcher_timeout_s", 600))
    job = ex.submit(Task(target, kwargs, str(heartbeat.absolute()), timeout_s))
    print(f"launch: {target} as job {job.job_id} ({prof['executor']}, profile {profile}); logs in {log_folder}", flush=True)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(heartbeat, stop, min(HEARTBEAT_S, timeout_s / 4)), daemon=True)
    beat.start()

    def on_stop(signum, frame):
        raise _Stopped(signal.Signals(signum).name)

    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        results = job.results()
    except _Stopped as why:
        job.cancel(check=False)
        raise LaunchError(f"launcher stopped by {why} while job {job.job_id} ({target}) ran: the job was cancelled; "
                          "run the workflow again to resume from its checkpoint") from None  # fmt: skip
    except Exception as exc:
        raise LaunchError(f"job {job.job_id} ({target}, profile {profile}) failed: {exc}; logs: {log_folder}") from exc
    finally:
        stop.set()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return results[0]
