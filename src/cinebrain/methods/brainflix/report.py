"""Brain Netflix's report figure (rule ``brainflix_report``): the regression error of every model variant and
subject on its test clips (section 5.2's MSE of z and b, per backbone) beside its no-brain control's, read from
the contract's ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...plotting import pyplot


def regression_table(metrics_files) -> pd.DataFrame:
    """One row per model variant, subject, backbone and target: the test MSE and the no-brain control's."""
    rows = []
    for path in map(Path, metrics_files):
        m = json.loads(path.read_text())
        if "regression_mse" not in m:
            raise ValueError(f"{path}: no regression_mse; fix: rerun rule brainflix_predict")
        for key, v in m["regression_mse"].items():
            backbone, target = key.rsplit("_", 1)
            rows.append({"variant": m["variant"], "subject": str(m["subject"]), "protocol": m.get("protocol"),
                         "backbone": backbone, "target": target, "mse": v,
                         "no_brain": m.get("regression_mse_no_brain", {}).get(key, np.nan)})  # fmt: skip
    return pd.DataFrame(rows)


def plot_regression(metrics_files, out) -> pd.DataFrame:
    """Bars: the test MSE of z and b per backbone for every (variant, subject); black ticks: the no-brain control's
    (below the tick: the fMRI helps)."""
    plt = pyplot()
    df = regression_table(metrics_files)
    runs = list(dict.fromkeys(zip(df["variant"], df["subject"], strict=True)))
    keys = list(dict.fromkeys(zip(df["backbone"], df["target"], strict=True)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    w = 0.8 / max(1, len(runs))
    for ax, target in zip(axes, ("z", "b"), strict=True):
        ks = [k for k in keys if k[1] == target]
        for j, (variant, subject) in enumerate(runs):
            sub = df[(df["variant"] == variant) & (df["subject"] == subject) & (df["target"] == target)].set_index("backbone")
            x = np.arange(len(ks)) + (j - (len(runs) - 1) / 2) * w
            ax.bar(x, [sub.loc[b, "mse"] for b, _ in ks], w, label=f"{variant} sub-{subject}")
            ax.plot(x, [sub.loc[b, "no_brain"] for b, _ in ks], "k_", ms=14, mew=2)
        ax.set_xticks(range(len(ks)))
        ax.set_xticklabels([b for b, _ in ks])
        ax.set_title(f"{'latent z' if target == 'z' else 'BLIP embedding b'}: test MSE (ticks: no brain)", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Brain Netflix, stage 2: regression error on the test clips", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return df
