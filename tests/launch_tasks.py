"""Tasks for the launcher's fault tests (importable by submitit's subprocess as ``tests.launch_tasks:...``)."""

from __future__ import annotations

import time


def slow_fit(out_dir: str, steps: int = 24, sleep_s: float = 0.25) -> list[float]:
    """A small regression trained by the project's Trainer, slowed down so that it can be killed mid-run;
    returns its final weights (a list of floats, to compare runs)."""
    import torch

    from cinebrain.train import Trainer, TrainSettings

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.randn(4, 1, generator=g)

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i]}

    torch.manual_seed(1)
    net = torch.nn.Linear(4, 1)

    def loss_fn(model, batch):
        loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
        return loss, {}

    settings = TrainSettings(steps=steps, batch_size=8, lr=1e-2, warmup_steps=2, checkpoint_every=1000, seed=2)
    Trainer(net, loss_fn, Rows(), settings, out_dir, on_step=lambda tr: time.sleep(sleep_s)).fit()
    return [float(v) for p in net.parameters() for v in p.detach().flatten()]
