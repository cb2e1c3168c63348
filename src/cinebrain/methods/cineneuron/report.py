"""CineNeuron's report figure: the Brain Model's per-superclass classification on the test clips (Tab. S13),
from each subject's stage-1 ``metrics.json`` (:func:`cinebrain.methods.cineneuron.train.category_scores`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...plotting import pyplot


def category_table(metrics_files) -> pd.DataFrame:
    """One row per subject and superclass: accuracy, prevalence, the always-no baseline (1 - prevalence),
    precision, recall and F1 (NaN where undefined), and the number of test clips."""
    rows = []
    for path in map(Path, metrics_files):
        m = json.loads(path.read_text())
        cats = m.get("categories")
        if not cats:
            raise ValueError(f"{path}: no per-superclass scores ('categories'); fix: rerun rule cineneuron_brain")
        for name, s in cats["classes"].items():
            rows.append({"subject": str(m.get("subject")), "superclass": name, "clips": cats["clips"],
                         "accuracy": s["accuracy"], "prevalence": s["prevalence"], "always_no": 1.0 - s["prevalence"],
                         **{k: np.nan if s[k] is None else s[k] for k in ("precision", "recall", "f1")}})  # fmt: skip
    return pd.DataFrame(rows)


def plot_categories(metrics_files, out_png, out_csv) -> pd.DataFrame:
    """Rule ``cineneuron_categories``: the table (``out_csv``) and a figure — per superclass and subject, the
    accuracy (bars) against the always-no classifier (ticks), and the F1 of the positive class."""
    table = category_table(metrics_files)
    table.to_csv(out_csv, index=False)
    plt = pyplot()
    names = list(dict.fromkeys(table["superclass"]))
    subjects = list(dict.fromkeys(table["subject"]))
    x, width = np.arange(len(names)), 0.8 / max(1, len(subjects))
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.55 * len(names) + 2), 5.5), sharex=True)
    for i, sub in enumerate(subjects):
        t = table[table["subject"] == sub].set_index("superclass").loc[names]
        pos = x - 0.4 + width * (i + 0.5)
        axes[0].bar(pos, t["accuracy"], width, label=f"sub-{sub}")
        axes[0].plot(pos, t["always_no"], "k_", ms=8, mew=2, label="always no" if i == 0 else None)
        axes[1].bar(pos, t["f1"].fillna(0.0), width, label=f"sub-{sub}")
    axes[0].set_ylabel("accuracy")
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=7, ncol=len(subjects) + 1)
    axes[1].set_ylabel("F1 (positive class)")
    axes[1].set_ylim(0, 1)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    clips = int(table["clips"].iloc[0]) if len(table) else 0
    fig.suptitle(f"CineNeuron Brain Model: superclass prediction on the test clips (logit > 0; {clips} clips)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return table
