"""The training machinery (cinebrain.train): exact resume after an interruption, schedules, DDP on CPU."""

from __future__ import annotations

import csv
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cinebrain.train import Trainer, TrainingInterrupted, TrainSettings
from cinebrain.train.loop import batch_order, lr_lambda


class Regression(torch.utils.data.Dataset):
    def __init__(self, n=40, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(32, 1))


def mse(net, batch):
    loss = torch.nn.functional.mse_loss(net(batch["x"]), batch["y"])
    return loss, {"mse": loss.detach()}


SETTINGS = TrainSettings(steps=12, batch_size=8, lr=1e-2, warmup_steps=3, grad_accum=2, checkpoint_every=5, seed=3)


def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def test_resume_after_a_signal_gives_the_same_weights(tmp_path):
    full = Trainer(model(), mse, Regression(), SETTINGS, tmp_path / "a").fit()

    def stop_at_7(trainer):
        if trainer.step == 7:
            os.kill(os.getpid(), signal.SIGUSR1)  # what SLURM sends before a time limit

    with pytest.raises(TrainingInterrupted, match=r"signal SIGUSR1 after step 7 of 12.*run again to resume"):
        Trainer(model(), mse, Regression(), SETTINGS, tmp_path / "b", on_step=stop_at_7).fit()
    assert torch.load(tmp_path / "b/checkpoint.pt", weights_only=False)["step"] == 7
    # a new process would build a fresh model; the checkpoint restores weights, optimiser, RNG and data position
    resumed = Trainer(model(seed=99), mse, Regression(), SETTINGS, tmp_path / "b")
    out = resumed.fit()
    assert resumed.resumed
    for a, b in zip(_weights(full), _weights(out), strict=True):
        assert torch.equal(a, b)  # exact on the CPU (dropout and data order included)
    with open(tmp_path / "b/metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == list(range(1, 13))
    with open(tmp_path / "a/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) and set(rows[0]) >= {"lr", "grad_norm", "mse"}


def test_resume_after_snakemake_deleted_the_curve(tmp_path, capsys):
    """Snakemake deletes a failed job's declared outputs (metrics.csv among them) but not the checkpoint: the
    resumed run restores the curve from the checkpoint, so it equals an uninterrupted run's, and says so."""
    Trainer(model(), mse, Regression(), SETTINGS, tmp_path / "a").fit()

    def stop_at_7(trainer):
        if trainer.step == 7:
            os.kill(os.getpid(), signal.SIGTERM)  # Snakemake (or SLURM) stopping the job

    with pytest.raises(TrainingInterrupted):
        Trainer(model(), mse, Regression(), SETTINGS, tmp_path / "b", on_step=stop_at_7).fit()
    (tmp_path / "b/metrics.csv").unlink()  # what Snakemake does to a failed job's outputs
    resumed = Trainer(model(seed=5), mse, Regression(), SETTINGS, tmp_path / "b")
    resumed.fit()
    assert "training: resumed from" in capsys.readouterr().out
    a, b = (pd.read_csv(tmp_path / d / "metrics.csv").drop(columns="samples_per_s") for d in "ab")
    pd.testing.assert_frame_equal(a, b)  # every step, the same values
    assert resumed.summary["resumed"] and [r["from_step"] for r in resumed.summary["resumes"]] == [7]


def test_signal_handler_installed_before_fit_is_called_after_the_checkpoint(tmp_path):
    """submitit's USR2 handler (resubmit + requeue) must run after the checkpoint of the current step."""
    seen = []

    def submitit_like(signum, frame):
        seen.append((signum, torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"]))

    def stop_at_3(trainer):
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGUSR2)  # what SLURM sends at pre-emption when submitit asked for it

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        with pytest.raises(TrainingInterrupted, match=r"signal SIGUSR2 after step 3 of 12"):
            Trainer(model(), mse, Regression(), SETTINGS, tmp_path, on_step=stop_at_3).fit()
        assert signal.getsignal(signal.SIGUSR2) is submitit_like  # restored
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [(signal.SIGUSR2, 3)]


class NoisyRegression(Regression):
    """Augmentation from numpy's and Python's global generators, as ClipDataset's caption draws are."""

    def __getitem__(self, i):
        import random

        noise = np.random.normal(0, 0.1, 8).astype(np.float32) * random.random()
        return {"x": self.x[i] + torch.from_numpy(noise), "y": self.y[i]}


def test_two_runs_with_the_same_seed_are_identical(tmp_path):
    # whatever the global generators were left at before, the Trainer seeds them
    np.random.seed(123)
    a = Trainer(model(), mse, NoisyRegression(), SETTINGS, tmp_path / "a").fit()
    np.random.rand(7)
    b = Trainer(model(), mse, NoisyRegression(), SETTINGS, tmp_path / "b").fit()
    for x, y in zip(_weights(a), _weights(b), strict=True):
        assert torch.equal(x, y)
    c = Trainer(model(), mse, NoisyRegression(), TrainSettings(**{**SETTINGS.__dict__, "seed": 4}), tmp_path / "c").fit()
    assert not torch.equal(_weights(a)[0], _weights(c)[0])


def test_tensorboard_scalars_match_metrics_csv_after_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def crash_at_7(trainer):
        if trainer.step == 7:
            raise RuntimeError("node failure")  # no checkpoint at step 7: steps 6-7 are trained again

    with pytest.raises(RuntimeError, match="node failure"):
        Trainer(model(), mse, Regression(), SETTINGS, tmp_path, on_step=crash_at_7).fit()
    # TensorBoard names an event file by the second it opens, the process and a per-process counter, and reads a
    # folder's files in name order: two writers of one process in one second whose counters cross a power of ten
    # ("10" sorts before "9") are read in the wrong order, and the purge of steps 6-7 then drops steps 1-5 (seen
    # under pytest-xdist). A real resume is another process, later: here the second run waits for the next second.
    time.sleep(1.1)
    Trainer(model(), mse, Regression(), SETTINGS, tmp_path).fit()  # resumes from step 5's checkpoint
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    events = acc.Scalars("train/loss")
    # one value per step (steps 6-7 of the crashed run purged), equal to the CSV's
    assert [e.step for e in events] == [int(r["step"]) for r in rows] == list(range(1, 13))
    np.testing.assert_allclose([e.value for e in events], [float(r["loss"]) for r in rows], rtol=1e-6)
    assert {"train/lr", "train/mse", "train/grad_norm"} <= set(acc.Tags()["scalars"])


def test_checkpoint_every_n_steps_and_restart_after_the_end(tmp_path):
    seen = []
    Trainer(model(), mse, Regression(), SETTINGS, tmp_path, on_step=lambda t: seen.append(t.checkpoint_path.exists())).fit()
    assert seen[:5] == [False] * 5 and all(seen[5:])  # first written after step 5
    again = Trainer(model(), mse, Regression(), SETTINGS, tmp_path)
    again.fit()  # nothing left to do
    assert again.step == 12


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    Trainer(model(), mse, Regression(), SETTINGS, tmp_path).fit()
    other = TrainSettings(**{**SETTINGS.__dict__, "lr": 5e-3})
    t = Trainer(model(), mse, Regression(), other, tmp_path)
    t.fit()
    assert not t.resumed and (tmp_path / "checkpoint.stale.pt").exists()
    with open(tmp_path / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 13))


def test_a_checkpoint_of_other_data_is_not_resumed(tmp_path):
    def stop_at_3(trainer):
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted):
        Trainer(model(), mse, Regression(), SETTINGS, tmp_path, fingerprint="data-a", on_step=stop_at_3).fit()
    t = Trainer(model(), mse, Regression(seed=1), SETTINGS, tmp_path, fingerprint="data-b")
    t.fit()
    assert not t.resumed
    with open(tmp_path / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 13))  # a fresh curve


def test_schedule_and_data_order():
    f = lr_lambda(TrainSettings(steps=12, warmup_steps=2, schedule="cosine"))
    assert [round(f(s), 4) for s in (0, 1, 2, 7, 12)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    assert lr_lambda(TrainSettings(steps=11, warmup_steps=2, schedule="constant"))(9) == 1.0
    a = batch_order(10, 4, seed=1, epoch=0, drop_last=True)
    assert len(a) == 2 and len(set(np.concatenate(a))) == 8
    assert all((x == y).all() for x, y in zip(a, batch_order(10, 4, 1, 0, True), strict=True))
    assert not all((x == y).all() for x, y in zip(a, batch_order(10, 4, 1, 1, True), strict=True))


def test_bad_settings():
    with pytest.raises(ValueError, match=r"batch_size 64 is larger than the training set \(40 clips\)"):
        Trainer(model(), mse, Regression(), TrainSettings(batch_size=64), "unused")
    with pytest.raises(ValueError, match="schedule 'linear'"):
        TrainSettings(schedule="linear").check()
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        TrainSettings(batch_size=8).check(world_size=3)
    with pytest.raises(ValueError, match="schedule onecycle over 3 steps with 1 warm-up steps.*fix:"):
        TrainSettings(steps=3, warmup_steps=1, schedule="onecycle").check()


def test_onecycle_with_a_one_step_warm_up_trains(tmp_path):
    """OneCycle (CineNeuron's schedule) peaks after its warm-up and anneals to near zero; a 1-step warm-up,
    which torch's OneCycleLR cannot take (it divides by pct_start x total - 1), is taken as 2."""
    settings = TrainSettings(steps=8, batch_size=8, lr=1e-2, warmup_steps=1, schedule="onecycle", checkpoint_every=4)
    trainer = Trainer(model(), mse, Regression(), settings, tmp_path)
    trainer.fit()
    lrs = pd.read_csv(tmp_path / "metrics.csv")["lr"].tolist()
    assert max(lrs) == pytest.approx(1e-2, rel=0.05) and lrs.index(max(lrs)) == 1 and lrs[-1] < 1e-4


class _WithLoss(torch.nn.Module):
    """A model trained through a method rather than its forward (as the methods' ``model.loss(batch)``)."""

    def __init__(self):
        super().__init__()
        self.net = model()

    def loss(self, batch):
        return mse(self.net, batch)


def _method_loss(net, batch):
    return net.loss(batch)


def _ddp_worker(rank, world, port, out, settings, through_method=False):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    from cinebrain.train.distributed import setup, teardown

    torch.set_num_threads(1)
    state = setup("gloo")
    net = (Trainer(_WithLoss(), _method_loss, Regression(), settings, out / "run", dist=state).fit() if through_method
           else Trainer(model(), mse, Regression(), settings, out / "run", dist=state).fit())  # fmt: skip
    torch.save(_weights(net), out / f"rank{rank}.pt")
    teardown()


@pytest.mark.parametrize("through_method", [False, True], ids=["forward", "method"])
def test_ddp_two_processes_stay_in_sync(tmp_path, through_method):
    """Whether the loss function calls the model's forward or a method of it (bypassing DDP's forward used to leave
    the replicas unsynchronised: they drifted apart within 6 steps), the replicas stay identical."""
    import socket

    import torch.multiprocessing as mp

    settings = TrainSettings(steps=6, batch_size=8, lr=1e-2, warmup_steps=2, seed=5, checkpoint_every=100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, tmp_path, settings, through_method), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for a, b in zip(w0, w1, strict=True):
        assert torch.equal(a, b)  # DDP keeps the replicas identical
    assert (tmp_path / "run/checkpoint.pt").exists() and not (tmp_path / "run/rank1").exists()
    with open(tmp_path / "run/metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 7))  # written once, by rank 0


def test_two_trainings_in_one_folder_are_refused(tmp_path):
    """A training orphaned by a killed Snakemake may still run when the workflow is rerun: the second training
    into the same folder is refused, naming the first, instead of both writing its checkpoint and curve."""
    import subprocess
    import sys

    from cinebrain.train import TrainingLocked

    from .launch_tasks import slow_fit

    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", f"from tests.launch_tasks import slow_fit; slow_fit({str(out)!r}, "
                              "steps=400, sleep_s=0.05)"], cwd=str(Path(__file__).resolve().parents[1]))  # fmt: skip
    try:
        t0 = time.time()
        while not (out / "metrics.csv").exists():
            assert first.poll() is None and time.time() - t0 < 120
            time.sleep(0.05)
        with pytest.raises(TrainingLocked, match=rf"{out}: another training is running in this folder \(pid "
                                                 rf"{first.pid} on .*fix: let it finish or stop it"):  # fmt: skip
            slow_fit(str(out), steps=400, sleep_s=0.0)
    finally:
        first.kill()
        first.wait()
    # the holder gone (even killed: the lock goes with its process), the folder trains again and resumes
    slow_fit(str(out), steps=400, sleep_s=0.0)
