"""One training loop for every encoder, written to be read (after diffusers' training examples).

``Trainer(model, loss_fn, dataset, settings, out_dir).fit()`` runs ``settings.steps`` optimiser steps:

- AdamW; learning rate warm-up then cosine decay (``schedule: cosine``), OneCycle, or constant;
- ``grad_accum`` micro-batches per step, gradient clipping, bf16 autocast on CUDA;
- data order drawn from ``seed`` and the epoch only, so it is the same after a restart;
- a checkpoint (the model's trainable weights and buffers — frozen parameters, such as a LoRA-tuned
  base model's, are not copied into it — optimiser, scheduler, step, data position, every RNG state) every
  ``checkpoint_every`` steps, at the end, and when SIGTERM, SIGUSR1 or SIGUSR2 arrives (cluster
  pre-emption or the scheduler's warning before a time limit): the loop finishes its step and saves;
  then, if a handler was installed for that signal before ``fit`` (submitit's USR2 handler, which
  resubmits the task and requeues the SLURM job), it is called, and :class:`TrainingInterrupted` is raised
  when it returns.  A new ``Trainer`` on the same ``out_dir`` resumes from the checkpoint and, on the CPU,
  ends with exactly the weights of an uninterrupted run.  Under torch.distributed every rank stops at the
  same step (the ranks agree on it after every step), whichever rank the signal reached;
- per-step metrics appended to ``metrics.csv``: a step's loss and logs stay on the device and the rows of
  ``log_every`` steps are copied to the host together (one synchronisation, not one per value and step);
  the checkpoint carries the rows up to its step, so that a
  resumed run rewrites the file from them (Snakemake deletes a failed job's declared outputs, the curve
  among them) and the curve is whole; every resume is printed and listed in :attr:`Trainer.summary`; and,
  when the ``tensorboard`` package is installed (extra ``cinebrain[tensorboard]``), written as TensorBoard
  scalars to ``out_dir/tensorboard`` (events after the checkpoint are purged on resume);
- under torch.distributed (see :mod:`cinebrain.train.distributed`) the model is wrapped in DDP, each
  rank takes its share of every batch, and only rank 0 writes.

``loss_fn(model, batch) -> (loss, {name: value})`` is the only model-specific piece (a value: a float or a
detached 0-d tensor, which is better: a float forces a host synchronisation per step on a GPU); it gets the
model itself (never a DDP wrapper) and may call its forward or any of its methods: the Trainer runs it inside
DDP's forward.

Speed (issue 26's levers, each a setting, none changing what is computed beyond float rounding): the AdamW
implementation (``optimizer``: fused kernels on a GPU by default), ``torch.compile`` of the model's repeated
blocks or of the whole step (``compile``, ``compile_mode``; ``reduce-overhead`` adds CUDA graphs), and the
host synchronisations (``log_every``).
"""

from __future__ import annotations

import csv
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path

import numpy as np

from ..settings import setting

SCHEDULES = ("cosine", "onecycle", "constant")
PRECISIONS = ("auto", "bf16", "fp32")
#: AdamW's implementations in torch: ``auto`` is fused on a GPU and torch's own default elsewhere (on the CPU
#: the single-tensor loop, which the demo's numbers were made with).
OPTIMIZERS = ("auto", "fused", "foreach", "forloop")
#: ``blocks``: each block of the model's stacks of identical blocks (a transformer's layers) compiled on its
#: own — torch's "regional compilation", one compiled graph reused by every layer, compiled in seconds instead
#: of the whole model's minutes; ``model``: the whole training step's forward.
COMPILES = ("off", "blocks", "model")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: ``log_every: 0`` (auto): rows written every step on the CPU (nothing to synchronise), every this many on a GPU.
AUTO_LOG_EVERY_GPU = 25
#: Signals that stop training with a checkpoint: SLURM's default termination signal, and the signals
#: schedulers are asked to send before a time limit or at pre-emption (submitit asks for SIGUSR2).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after saving a checkpoint; run again to resume."""


class TrainingLocked(RuntimeError):
    """Another training holds this output folder (e.g. one orphaned by a killed Snakemake)."""


def _lock_folder(out_dir: Path):
    """An exclusive lock on ``out_dir/.train.lock`` (flock), recording this host and process; raises
    :class:`TrainingLocked` naming the holder when another process trains into the same folder."""
    import fcntl
    import socket

    path = out_dir / ".train.lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        import errno

        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):  # a file system without locks
            print(f"training: {path} cannot be locked ({exc.strerror}); two trainings into this folder would not "
                  "be stopped", flush=True)  # fmt: skip
            return fh
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise TrainingLocked(f"{out_dir}: another training is running in this folder ({holder}), e.g. one whose "
                             "Snakemake was killed; fix: let it finish or stop it (kill the process, or scancel its "
                             "job), then run again: the training resumes from its checkpoint") from None  # fmt: skip
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    fh.flush()
    return fh


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of :class:`Trainer` (AdamW, warm-up + schedule, checkpoints)."""

    steps: int = setting(1000, "optimiser steps", minimum=1)
    batch_size: int = setting(16, "clips per step (all processes together)", minimum=1)
    lr: float = setting(1e-4, "peak learning rate", exclusiveMinimum=0)
    weight_decay: float = setting(0.05, "AdamW weight decay (not on biases and norms)", minimum=0)
    betas: tuple[float, ...] = setting((0.9, 0.999), "AdamW betas", minItems=2, maxItems=2)
    warmup_steps: int = setting(100, "linear warm-up steps", minimum=0)
    schedule: str = setting("cosine", "learning-rate schedule after the warm-up", enum=SCHEDULES)
    min_lr_ratio: float = setting(0.0, "final learning rate / peak (cosine)", minimum=0, maximum=1)
    grad_accum: int = setting(1, "micro-batches per step", minimum=1)
    clip_grad: float | None = setting(1.0, "gradient norm clipping (null: off)", exclusiveMinimum=0)
    precision: str = setting("auto", "bf16 autocast on a GPU (auto, bf16) or fp32", enum=PRECISIONS)
    seed: int = setting(0, "initialisation, data order and every random draw of training", minimum=0)
    checkpoint_every: int = setting(100, "steps between checkpoints", minimum=1)
    drop_last: bool = setting(True, "drop the last incomplete batch of an epoch")
    optimizer: str = setting("auto", "AdamW implementation: auto (fused on a GPU, torch's default on the CPU), fused, "
                             "foreach or forloop", enum=OPTIMIZERS)  # fmt: skip
    compile: str = setting("off", "torch.compile: off, blocks (each repeated block, e.g. transformer layers) or model",
                           enum=COMPILES)  # fmt: skip
    compile_mode: str = setting("default", "torch.compile mode (reduce-overhead: CUDA graphs)", enum=COMPILE_MODES)
    log_every: int = setting(0, "steps whose metrics rows are copied from the device together (one synchronisation); "
                             f"0: auto (1 on the CPU, {AUTO_LOG_EVERY_GPU} on a GPU)", minimum=0)  # fmt: skip

    def check(self, n_samples: int | None = None, world_size: int = 1) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule '{self.schedule}' is not one of {SCHEDULES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision '{self.precision}' is not one of {PRECISIONS}")
        for key, allowed in (("optimizer", OPTIMIZERS), ("compile", COMPILES), ("compile_mode", COMPILE_MODES)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} '{getattr(self, key)}' is not one of {allowed}")
        if self.log_every < 0:
            raise ValueError(f"log_every {self.log_every} is negative; fix: 0 (auto) or a number of steps")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("steps, batch_size and grad_accum must be at least 1")
        if self.schedule == "onecycle" and self.steps < max(self.warmup_steps, 2) + 2:
            raise ValueError(f"schedule onecycle over {self.steps} steps with {self.warmup_steps} warm-up steps: its warm-up "
                             "takes at least 2 steps and its decay at least 2; fix: more steps, fewer warm-up steps, "
                             "or schedule: cosine")  # fmt: skip
        if self.batch_size % world_size:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by the {world_size} processes; "
                             "fix: make it a multiple of the number of GPUs")  # fmt: skip
        if n_samples is not None and self.drop_last and self.batch_size > n_samples:
            raise ValueError(f"batch_size {self.batch_size} is larger than the training set ({n_samples} clips); "
                             "fix: lower the batch size (or set drop_last: false)")  # fmt: skip


def batch_order(n: int, batch_size: int, seed: int, epoch: int, drop_last: bool) -> list[np.ndarray]:
    """The batches of one epoch: a permutation drawn from (seed, epoch) only."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [perm[b : b + batch_size] for b in range(0, stop, batch_size)]


def lr_lambda(settings: TrainSettings):
    """Multiplier of the base learning rate at each step (warm-up, then cosine or constant)."""

    def f(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        if settings.schedule == "constant":
            return 1.0
        t = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
        return settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


def optimizer_kwargs(kind: str, device) -> dict:
    """AdamW's implementation keywords for ``kind`` (:data:`OPTIMIZERS`) on ``device``."""
    import torch

    if kind == "auto":
        kind = "fused" if torch.device(device).type == "cuda" else "default"
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "forloop": {"foreach": False, "fused": False}}.get(kind, {})


def compile_blocks(model, mode: str = "default") -> list[str]:
    """Compile, in place, each block of every stack of two or more blocks of one class in ``model`` (an
    ``nn.ModuleList``, such as ``nn.TransformerEncoder.layers`` or a diffusers transformer's
    ``transformer_blocks``): torch's regional compilation, one graph that all the stack's blocks reuse. The
    parameters' names do not change (``Module.compile``), so checkpoints and saved weights are as without it.
    Returns the names of the compiled blocks (none: the model has no such stack)."""
    from torch import nn

    done: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or any(name.startswith(d + ".") for d in done):
            continue
        blocks = list(module)
        if len(blocks) < 2 or len({type(b) for b in blocks}) != 1 or not any(True for _ in blocks[0].parameters()):
            continue
        for i, block in enumerate(blocks):
            block.compile(mode=mode)
            done.append(f"{name}.{i}" if name else str(i))
    return done


def _loss_step(model, loss_fn):
    """The model and its loss function as one module whose forward is ``loss_fn(model, batch)``: wrapped in
    DistributedDataParallel, DDP's forward — which prepares the gradients' all-reduce — then runs whatever the
    loss function calls (the model's forward or a method such as ``model.loss``). Handing a loss function the
    DDP wrapper lets it bypass that forward (``wrapper.module.loss(batch)``), and the replicas drift apart
    (tests/test_train.py measures both)."""
    import torch

    class LossStep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, batch):
            return loss_fn(self.model, batch)

    return LossStep()


#: Settings that change how fast a run goes, not what it computes: a checkpoint written with others resumes.
SPEED_KEYS = ("optimizer", "compile", "compile_mode", "log_every")


def _what_trains(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in SPEED_KEYS}


class Trainer:
    """See the module docstring."""

    def __init__(self, model, loss_fn, dataset, settings: TrainSettings, out_dir, *, collate=None, device="cpu",
                 dist=None, progress: bool = False, on_step=None, fingerprint: str | None = None):  # fmt: skip
        import torch

        from .distributed import DistState

        self.dist = dist or DistState()
        self.settings = settings
        settings.check(len(dataset), self.dist.world_size)
        self.dataset, self.loss_fn, self.device = dataset, loss_fn, torch.device(device)
        self.collate = collate or torch.utils.data.default_collate
        self.out_dir = Path(out_dir)
        self.progress, self.on_step = progress, on_step
        self.fingerprint = fingerprint  # of the training data: a checkpoint of other data is not resumed
        self._tensorboard = None
        self._metrics = None  # (file, csv writer) of metrics.csv while fit() runs
        self.resumes: list[dict] = []  # {"from_step", "time"} of every resume of this run, carried by checkpoints
        torch.manual_seed(settings.seed)
        # numpy's and Python's global generators drive data augmentation (e.g. ClipDataset's caption draws):
        # seeded too, per process, so that a run is repeatable (and resumable: they are checkpointed).
        np.random.seed((settings.seed * 1000 + self.dist.rank) % 2**32)
        random.seed(settings.seed * 1000 + self.dist.rank)
        self.model = model.to(self.device)
        self.compiled = compile_blocks(self.model, settings.compile_mode) if settings.compile == "blocks" else []
        self.ddp = _loss_step(self.model, loss_fn)
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # unused parameters are normal here: a head only some variants or phases train (NeuroCine's
            # phase 1 leaves its condition head out); without the flag DDP stops at the first such step
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.ddp, device_ids=ids, find_unused_parameters=True)
        if settings.compile == "model":  # the whole step's forward: model and loss function (in DDP, if any)
            self.ddp = torch.compile(self.ddp, mode=settings.compile_mode)
            self.compiled = ["model"]
        self.log_every = settings.log_every or (AUTO_LOG_EVERY_GPU if self.device.type == "cuda" else 1)
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim <= 1]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=settings.lr, betas=tuple(settings.betas), **optimizer_kwargs(settings.optimizer, self.device),
        )  # fmt: skip
        if settings.schedule == "onecycle":
            # torch's OneCycleLR divides by (pct_start * total_steps - 1): its warm-up needs at least 2 steps
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=settings.lr, total_steps=settings.steps,
                pct_start=max(settings.warmup_steps, 2) / settings.steps,
            )  # fmt: skip
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(settings))
        self.step, self.epoch, self.position = 0, 0, 0
        self._signal = None

    # --- checkpoints ---------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def state(self) -> dict:
        import torch

        return {
            "model": self._model_state(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "step": self.step, "epoch": self.epoch,
            "position": self.position, "settings": asdict(self.settings), "fingerprint": self.fingerprint,
            "metrics_rows": self._metric_rows(), "resumes": self.resumes,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }  # fmt: skip

    def _frozen(self) -> set:
        return {n for n, p in self.model.named_parameters() if not p.requires_grad}

    def _model_state(self) -> dict:
        """The model's state without its frozen parameters (they come from the model's own files)."""
        frozen = self._frozen()
        return {k: v for k, v in self.model.state_dict().items() if k not in frozen}

    def save_checkpoint(self) -> None:
        import torch

        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_name("checkpoint.pt.tmp")
        torch.save(self.state(), tmp)
        tmp.replace(self.checkpoint_path)

    def load_checkpoint(self) -> bool:
        import torch

        if not self.checkpoint_path.exists():
            return False
        st = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        shapes = {k: tuple(v.shape) for k, v in self._model_state().items()}
        same = (_what_trains(st.get("settings") or {}) == _what_trains(asdict(self.settings))
                and st.get("fingerprint") == self.fingerprint
                and {k: tuple(v.shape) for k, v in st["model"].items()} == shapes)  # fmt: skip
        if not same:
            # a checkpoint of other settings, data or model: not this run's; keep it aside, start afresh
            stale = self.checkpoint_path.with_name("checkpoint.stale.pt")
            if self.dist.is_main:
                self.checkpoint_path.replace(stale)
                print(f"{self.checkpoint_path}: written with other settings, data or model; moved to {stale.name}, "
                      "training starts afresh", flush=True)  # fmt: skip
            if self.metrics_path.exists() and self.dist.is_main:
                self.metrics_path.unlink()
            return False
        missing, unexpected = self.model.load_state_dict(st["model"], strict=False)
        assert not unexpected and set(missing) <= self._frozen(), (missing, unexpected)
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.step, self.epoch, self.position = st["step"], st["epoch"], st["position"]
        torch.set_rng_state(st["rng"]["torch"])
        np.random.set_state(st["rng"]["numpy"])
        random.setstate(st["rng"]["python"])
        if st["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["rng"]["cuda"])
        if "metrics_rows" in st:
            self._write_metric_rows(st["metrics_rows"])
        else:  # a checkpoint of an older version: keep what the file holds up to its step
            self._truncate_metrics()
        from datetime import datetime

        self.resumes = [*st.get("resumes", []), {"from_step": self.step,
                                                 "time": datetime.now(UTC).isoformat(timespec="seconds")}]
        if self.dist.is_main:
            print(f"training: resumed from {self.checkpoint_path} at step {self.step} of {self.settings.steps} "
                  f"(resume {len(self.resumes)}; metrics.csv restored with {len(st.get('metrics_rows', []))} rows)",
                  flush=True)  # fmt: skip
        return True

    @property
    def summary(self) -> dict:
        """What a run's record says of its training: the steps, and the steps it was resumed from (and when)."""
        return {"steps": self.settings.steps, "resumed": bool(self.resumes), "resumes": list(self.resumes)}

    # --- metrics -------------------------------------------------------------------------------

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics.csv"

    def _metric_rows(self) -> list[dict]:
        """The rows of metrics.csv up to the current step (what a checkpoint carries)."""
        if not (self.dist.is_main and self.metrics_path.exists()):
            return []
        with open(self.metrics_path) as f:
            return [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]

    def _write_metric_rows(self, rows: list[dict]) -> None:
        if not self.dist.is_main:
            return
        if not rows:
            self.metrics_path.unlink(missing_ok=True)
            return
        with open(self.metrics_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    def _truncate_metrics(self) -> None:
        """Drop metric rows written after the checkpoint (they will be written again)."""
        self._write_metric_rows(self._metric_rows())

    def _log(self, row: dict) -> None:
        if not self.dist.is_main:
            return
        if self._metrics is None:  # opened once per fit(), closed at its end (and flushed every step)
            new = not self.metrics_path.exists()
            fh = open(self.metrics_path, "a", newline="")
            self._metrics = (fh, csv.DictWriter(fh, fieldnames=list(row)))
            if new:
                self._metrics[1].writeheader()
        fh, writer = self._metrics
        writer.writerow(row)
        fh.flush()
        if self._tensorboard is not None:
            for k, v in row.items():
                if k != "step":
                    self._tensorboard.add_scalar(f"train/{k}", v, row["step"])

    def _write_pending(self, pending: list[dict], window: float, bar) -> float:
        """Write the rows of ``pending`` (then empty it): their values on the device copied to the host in one
        transfer, ``samples_per_s`` the window's samples over its wall time. Returns the next window's start."""
        import torch

        cells = [(values, k) for row in pending for values in (row, row["parts"]) for k, v in values.items()
                 if torch.is_tensor(v)]  # fmt: skip
        if cells:
            copied = torch.stack([values[k].float().reshape(()) for values, k in cells]).cpu().tolist()  # the sync
            for (values, k), v in zip(cells, copied, strict=True):
                values[k] = v
        now = time.perf_counter()
        rate = sum(row["samples"] for row in pending) / max(now - window, 1e-9)
        for row in pending:
            self._log({"step": row["step"], "epoch": row["epoch"], "loss": float(row["loss"]), "lr": row["lr"],
                       "grad_norm": float(row["grad_norm"]), "samples_per_s": rate,
                       **{k: float(v) for k, v in row["parts"].items()}})  # fmt: skip
        bar.update(len(pending))
        bar.set_postfix(loss=f"{float(pending[-1]['loss']):.4f}")
        pending.clear()
        return now

    def _open_tensorboard(self):
        """A SummaryWriter on ``out_dir/tensorboard`` if TensorBoard is installed (rank 0 only), else None."""
        if not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package: optional
            return None
        # purge_step: a resumed run rewrites the steps after its checkpoint, as in metrics.csv
        return SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self.step + 1 if self.step else None)

    # --- the loop ------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._signal = signum

    def _stop_requested(self) -> bool:
        """Whether a stop signal arrived, here or (under torch.distributed) on any rank."""
        stop = self._signal is not None
        if self.dist.world_size > 1:
            import torch
            import torch.distributed as tdist

            flag = torch.tensor([float(stop)], device=self.device)
            tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def _batches(self):
        """Micro-batches from the saved data position on, across epochs; this rank's share of each."""
        s = self.settings
        while True:
            order = batch_order(len(self.dataset), s.batch_size, s.seed, self.epoch, s.drop_last)
            while self.position < len(order):
                idx = order[self.position][self.dist.rank :: self.dist.world_size]
                self.position += 1
                yield self.collate([self.dataset[int(i)] for i in idx])
            self.epoch, self.position = self.epoch + 1, 0

    def _to_device(self, batch):
        import torch

        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        return batch.to(self.device, non_blocking=True) if isinstance(batch, torch.Tensor) else batch

    def fit(self):
        """Train to ``settings.steps`` (resuming from a checkpoint if there is one); returns the model.  The
        folder is locked while it trains (:class:`TrainingLocked` if another process holds it)."""
        s = self.settings
        lock = None
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            lock = _lock_folder(self.out_dir)  # two trainings in one folder would write over each other
        try:
            return self._fit(s)
        finally:
            if lock is not None:  # the file goes with the lock (a killed holder leaves it, unlocked: harmless)
                Path(lock.name).unlink(missing_ok=True)
                lock.close()

    def _fit(self, s):
        import contextlib

        import torch
        from tqdm.auto import tqdm

        resumed = self.load_checkpoint()
        if not resumed and self.dist.is_main and self.metrics_path.exists():
            self.metrics_path.unlink()  # a fresh run writes a fresh curve
        if not resumed and self.dist.is_main:
            import shutil

            shutil.rmtree(self.out_dir / "tensorboard", ignore_errors=True)
        self._tensorboard = self._open_tensorboard()
        old = {}
        for sig in STOP_SIGNALS:
            try:
                old[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: the launcher handles signals there
                pass
        amp = self.device.type == "cuda" and s.precision in ("auto", "bf16")
        bar = tqdm(total=s.steps, initial=self.step, desc="train", disable=not (self.progress and self.dist.is_main))
        batches = self._batches()
        self.ddp.train()
        pending: list[dict] = []  # the steps since the last write: rows with their values still on the device
        window = time.perf_counter()
        try:
            while self.step < s.steps:
                parts: dict = {}
                total = 0.0
                n = 0
                for micro in range(s.grad_accum):
                    batch = self._to_device(next(batches))
                    sync = micro == s.grad_accum - 1 or self.dist.world_size == 1
                    ctx = contextlib.nullcontext() if sync else self.ddp.no_sync()
                    with ctx, torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                        loss, logs = self.ddp(batch)  # loss_fn(model, batch), through DDP's forward
                        (loss / s.grad_accum).backward()
                    total = total + loss.detach() / s.grad_accum
                    for k, v in logs.items():
                        parts[k] = parts.get(k, 0.0) + (v.detach() if torch.is_tensor(v) else v) / s.grad_accum
                    n += len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)
                norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_grad) if s.clip_grad
                        else float("nan"))  # fmt: skip
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                lr = self.scheduler.get_last_lr()[0]
                self.scheduler.step()
                self.step += 1
                pending.append({"step": self.step, "epoch": self.epoch, "loss": total, "lr": lr, "grad_norm": norm,
                                "samples": n * self.dist.world_size, "parts": parts})  # fmt: skip
                if self.on_step is not None:
                    self.on_step(self)
                # every rank writes at the same steps (there the ranks agree on stopping, a collective call);
                # one process stops at the step the signal arrived
                stop = self._signal is not None and self.dist.world_size == 1
                due = self.step % s.checkpoint_every == 0 or self.step == s.steps
                if stop or due or len(pending) >= self.log_every:
                    window = self._write_pending(pending, window, bar)
                    stop = self._stop_requested()  # under torch.distributed: agreed at writes only (a sync)
                if stop or due:
                    self.save_checkpoint()
                if not pending:  # a window's rate counts its steps only, not the callback's or a checkpoint's time
                    window = time.perf_counter()
                if stop:
                    name = signal.Signals(self._signal).name if self._signal else "on another rank"
                    print(f"training: signal {name} after step {self.step} of {s.steps}: checkpoint saved to "
                          f"{self.checkpoint_path}", flush=True)  # fmt: skip
                    handover = old.get(self._signal)
                    if callable(handover):  # e.g. submitit: resubmit the task, requeue the job, exit
                        for sig, handler in old.items():
                            signal.signal(sig, handler)
                        handover(self._signal, None)
                    raise TrainingInterrupted(
                        f"training stopped by signal {name} after step {self.step} of {s.steps}; the checkpoint "
                        f"{self.checkpoint_path} holds it: run again to resume"
                    )
        finally:
            bar.close()
            if self._tensorboard is not None:
                self._tensorboard.close()
            if self._metrics is not None:
                self._metrics[0].close()
                self._metrics = None
            for sig, handler in old.items():
                signal.signal(sig, handler)
        self.resumed = resumed
        return self.model


def split_fingerprint(split_dir) -> str:
    """Hash of a clip-dataset split's manifest and description, for a Trainer's ``fingerprint``: a
    checkpoint made on other data is not resumed."""
    import hashlib

    h = hashlib.sha256()
    for name in ("manifest.parquet", "dataset.json"):
        h.update((Path(split_dir) / name).read_bytes())
    return h.hexdigest()
