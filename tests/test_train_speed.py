"""The Trainer's speed settings (issue 26): they change how fast a run goes, not what it computes.

- ``log_every``: the metrics rows of several steps copied from the device together: the same rows, the
  same weights, the same resume;
- ``optimizer``: torch's AdamW implementations (fused, foreach, the loop) give the same weights;
- ``compile``: regional compilation of the repeated blocks (or the whole step) gives the same weights
  to float rounding, under the same parameter names.
"""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
import torch

from cinebrain.train import Trainer, TrainingInterrupted, TrainSettings
from cinebrain.train.loop import compile_blocks, optimizer_kwargs

from .test_train import SETTINGS, Regression, _weights, model, mse


def _curve(path):
    return pd.read_csv(path / "metrics.csv").drop(columns="samples_per_s")


def test_rows_written_every_few_steps_are_the_rows_of_every_step(tmp_path):
    every = Trainer(model(), mse, Regression(), SETTINGS, tmp_path / "a").fit()
    few = Trainer(model(), mse, Regression(), TrainSettings(**{**vars(SETTINGS), "log_every": 4}), tmp_path / "b").fit()
    for a, b in zip(_weights(every), _weights(few), strict=True):
        assert torch.equal(a, b)
    pd.testing.assert_frame_equal(_curve(tmp_path / "a"), _curve(tmp_path / "b"))
    assert _curve(tmp_path / "b")["step"].tolist() == list(range(1, 13))
    assert set(_curve(tmp_path / "b")) >= {"loss", "lr", "grad_norm", "mse"}


def test_a_signal_between_writes_stops_at_its_step_and_resumes_exactly(tmp_path):
    """log_every 4, SIGUSR1 after step 6: the pending rows (5, 6) are written, the checkpoint holds step 6, and
    the resumed run — with other speed settings, which do not make the checkpoint another run's — ends with
    the uninterrupted run's weights and curve."""
    settings = TrainSettings(**{**vars(SETTINGS), "log_every": 4})
    full = Trainer(model(), mse, Regression(), settings, tmp_path / "a").fit()

    def stop_at_6(trainer):
        if trainer.step == 6:
            os.kill(os.getpid(), signal.SIGUSR1)

    with pytest.raises(TrainingInterrupted, match="after step 6 of 12"):
        Trainer(model(), mse, Regression(), settings, tmp_path / "b", on_step=stop_at_6).fit()
    ck = torch.load(tmp_path / "b/checkpoint.pt", weights_only=False)
    assert ck["step"] == 6 and [int(r["step"]) for r in ck["metrics_rows"]] == list(range(1, 7))
    faster = TrainSettings(**{**vars(settings), "log_every": 3, "optimizer": "foreach"})
    resumed = Trainer(model(seed=4), mse, Regression(), faster, tmp_path / "b")
    out = resumed.fit()
    assert resumed.resumed
    for a, b in zip(_weights(full), _weights(out), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)  # foreach sums in another order than the loop
    pd.testing.assert_frame_equal(_curve(tmp_path / "a"), _curve(tmp_path / "b"), rtol=1e-5)


def test_adamw_implementations_give_the_same_weights(tmp_path):
    assert optimizer_kwargs("auto", "cuda") == {"fused": True}
    assert optimizer_kwargs("auto", "cpu") == {}  # torch's default: what the demo's numbers were made with
    assert optimizer_kwargs("forloop", "cuda") == {"foreach": False, "fused": False}
    runs = {}
    for kind in ("forloop", "foreach", "fused", "auto"):
        trainer = Trainer(model(), mse, Regression(), TrainSettings(**{**vars(SETTINGS), "optimizer": kind}), tmp_path / kind)
        runs[kind] = _weights(trainer.fit())
        assert bool(trainer.optimizer.defaults.get("fused")) == (kind == "fused")
    for kind in ("foreach", "fused", "auto"):
        for a, b in zip(runs["forloop"], runs[kind], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(runs["forloop"], runs["auto"], strict=True):
        assert torch.equal(a, b)


class Tokens(torch.utils.data.Dataset):
    """Sequences whose target is a linear read-out of their mean token."""

    def __init__(self, n=32, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 6, 16, generator=g)
        self.y = self.x.mean(1) @ torch.randn(16, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class SmallTransformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        self.head = torch.nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


def _seq_mse(net, batch):
    loss = torch.nn.functional.mse_loss(net(batch["x"]), batch["y"])
    return loss, {"mse": loss.detach()}


def test_compile_blocks_finds_the_repeated_layers_and_keeps_their_names():
    net = SmallTransformer()
    names = list(net.state_dict())
    assert compile_blocks(net) == ["encoder.layers.0", "encoder.layers.1", "encoder.layers.2"]
    assert list(net.state_dict()) == names  # checkpoints and saved weights as without compilation
    assert compile_blocks(torch.nn.Sequential(torch.nn.Linear(2, 2))) == []  # no stack of blocks: nothing


@pytest.mark.parametrize("how", ["blocks", pytest.param("model", marks=pytest.mark.slow)])
def test_compiled_training_gives_the_eager_weights(tmp_path, how):
    """torch.compile (inductor, on this CPU) of the three layers or of the whole step: the same losses to float
    rounding, and the same weights after 4 steps — up to AdamW's sign-like first steps, which turn a rounding
    difference in a near-zero gradient into up to lr per step (measured: at most 2.4e-4 of lr 1e-3 x 4)."""
    settings = TrainSettings(steps=4, batch_size=8, lr=1e-3, warmup_steps=1, checkpoint_every=100, seed=1)
    eager = _weights(Trainer(SmallTransformer(), _seq_mse, Tokens(), settings, tmp_path / "eager").fit())
    trainer = Trainer(SmallTransformer(), _seq_mse, Tokens(), TrainSettings(**{**vars(settings), "compile": how}),
                      tmp_path / how)  # fmt: skip
    compiled = _weights(trainer.fit())
    assert trainer.compiled == (["encoder.layers.0", "encoder.layers.1", "encoder.layers.2"] if how == "blocks" else ["model"])
    pd.testing.assert_series_equal(_curve(tmp_path / "eager")["loss"], _curve(tmp_path / how)["loss"], rtol=1e-4)
    diff = torch.cat([(a - b).abs().flatten() for a, b in zip(eager, compiled, strict=True)])
    assert diff.median() < 1e-6 and diff.max() < 1e-3


def _ddp_signal_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    from cinebrain.train.distributed import setup, teardown

    torch.set_num_threads(1)
    state = setup("gloo")
    settings = TrainSettings(steps=12, batch_size=8, lr=1e-2, warmup_steps=2, seed=5, checkpoint_every=100, log_every=3)

    def signal_rank_1(trainer):
        if rank == 1 and trainer.step == 4:
            os.kill(os.getpid(), signal.SIGUSR1)

    trainer = Trainer(model(), mse, Regression(), settings, out / "run", dist=state, on_step=signal_rank_1)
    try:
        trainer.fit()
    except TrainingInterrupted as e:
        (out / f"rank{rank}.txt").write_text(f"{trainer.step} {e}")
    teardown()


def test_ddp_ranks_stop_together_at_the_next_write(tmp_path):
    """Under torch.distributed the ranks agree on stopping where they write (every log_every steps, a collective
    call they all make): rank 1 signalled after step 4, both stop after step 6 with one checkpoint."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_signal_worker, args=(2, port, tmp_path), nprocs=2, join=True)
    said = {r: (tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)}
    assert said[0].startswith("6 training stopped by signal on another rank after step 6 of 12")
    assert said[1].startswith("6 training stopped by signal SIGUSR1 after step 6 of 12")
    assert torch.load(tmp_path / "run/checkpoint.pt", weights_only=False)["step"] == 6


def test_bad_speed_settings():
    with pytest.raises(ValueError, match="compile 'yes' is not one of"):
        TrainSettings(compile="yes").check()
    with pytest.raises(ValueError, match="optimizer 'adam' is not one of"):
        TrainSettings(optimizer="adam").check()
    with pytest.raises(ValueError, match="log_every -1 is negative; fix"):
        TrainSettings(log_every=-1).check()
