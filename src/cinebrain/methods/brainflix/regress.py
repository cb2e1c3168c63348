"""Brain Netflix's stage 2 (seed 004, section 4): the stage-1 embedding regressed to the generator's clip latent z
and to the BLIP embedding b, by ridge regression and by a regularised MLP (5.2 compares them).

:func:`fit_ridge` is scikit-learn's ``RidgeCV`` on standardised embeddings, one penalty for all targets chosen by
cross-validation over folds grouped by episode inside the training clips only (neighbouring clips of an episode
share slow fMRI signal; a fold of random clips would pick too small a penalty); :class:`RidgeMap` keeps the fitted
scaler and weights as arrays (saved as safetensors, no pickles). :class:`ResidualMLP` is the paper's MLP: a linear
layer then ``blocks`` residual blocks of ``width`` units, each with batch norm, GELU and dropout, and an output
layer, trained with the MSE by :func:`cinebrain.train.Trainer`. Both predict flattened targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class RidgeMap:
    """y = ((x - mean) / scale) @ coef.T + intercept."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    cv: str = ""

    def predict(self, x) -> np.ndarray:
        x = (np.asarray(x, np.float64) - self.mean) / self.scale
        return (x @ self.coef.T + self.intercept).astype(np.float32)

    def tensors(self) -> dict:
        return {k: torch.from_numpy(np.ascontiguousarray(getattr(self, k), dtype=np.float32))
                for k in ("mean", "scale", "coef", "intercept")} | {"alpha": torch.tensor([self.alpha])}  # fmt: skip

    @classmethod
    def from_tensors(cls, t: dict) -> RidgeMap:
        return cls(*(t[k].double().numpy() for k in ("mean", "scale", "coef", "intercept")), float(t["alpha"][0]))


def group_folds(groups, n_folds: int) -> list | None:
    """Cross-validation folds over ``groups`` (one episode never in both halves): scikit-learn's GroupKFold with
    ``min(n_folds, groups)`` folds; None when every clip comes from one episode (then RidgeCV's efficient
    leave-one-clip-out, the only split left)."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    n = min(int(n_folds), len(np.unique(groups)))
    if n < 2:
        return None
    return list(GroupKFold(n_splits=n).split(np.zeros(len(groups)), groups=groups))


def fit_ridge(x, y, groups, alphas, n_folds: int = 5) -> RidgeMap:
    """Ridge from ``x`` (N, D) to ``y`` (N, K), the penalty among ``alphas`` cross-validated over ``groups``
    (:func:`group_folds`); the map's ``cv`` says which cross-validation chose it."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    scaler = StandardScaler().fit(x)
    folds = group_folds(groups, n_folds)
    ridge = RidgeCV(alphas=list(alphas), cv=folds).fit(scaler.transform(x), y)
    return RidgeMap(scaler.mean_, scaler.scale_, np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_),
                    float(ridge.alpha_), "leave-one-clip-out (one episode)" if folds is None else
                    f"{len(folds)} folds grouped by episode")  # fmt: skip


class ResidualMLP(nn.Module):
    """(B, D) -> (B, K): linear + BN + GELU + dropout, ``blocks`` residual blocks of the same, a linear output."""

    def __init__(self, d_in: int, d_out: int, width: int = 2048, blocks: int = 3, dropout: float = 0.3):
        super().__init__()

        def unit(a, b):
            return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.GELU(), nn.Dropout(dropout))

        self.stem = unit(d_in, width)
        self.blocks = nn.ModuleList(unit(width, width) for _ in range(blocks))
        self.out = nn.Linear(width, d_out)
        # standardisation of inputs and targets, set from the training set (buffers: saved with the weights)
        self.register_buffer("x_mean", torch.zeros(d_in))
        self.register_buffer("x_std", torch.ones(d_in))
        self.register_buffer("y_mean", torch.zeros(d_out))
        self.register_buffer("y_std", torch.ones(d_out))

    def standardise(self, x, y) -> None:
        x, y = torch.as_tensor(x).float(), torch.as_tensor(y).float()
        self.x_mean.copy_(x.mean(0))
        self.x_std.copy_(x.std(0).clamp_min(1e-6))
        self.y_mean.copy_(y.mean(0))
        self.y_std.copy_(y.std(0).clamp_min(1e-6))

    def standardised(self, x):
        """The prediction in standardised target units (what the MSE is taken on)."""
        h = self.stem((x - self.x_mean) / self.x_std)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)

    def forward(self, x):
        return self.standardised(x) * self.y_std + self.y_mean

    def loss(self, batch):
        mse = ((self.standardised(batch["x"]) - (batch["y"] - self.y_mean) / self.y_std) ** 2).mean()
        return mse, {"mse": mse.detach()}


class Pairs(torch.utils.data.Dataset):
    """(x, y) rows as the Trainer's dict batches."""

    def __init__(self, x, y):
        self.x, self.y = torch.as_tensor(x).float(), torch.as_tensor(y).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def predict_mlp(mlp: ResidualMLP, x, batch_size: int = 256) -> np.ndarray:
    mlp.eval()
    x = torch.as_tensor(x).float()
    with torch.no_grad():
        return torch.cat([mlp(x[b : b + batch_size]) for b in range(0, len(x), batch_size)]).numpy()
