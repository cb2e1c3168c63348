"""Report figures and tables of every method's models (rule ``methods_summary``), read through the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..plotting import pyplot

#: The training protocols a model can follow (its metrics.json ``protocol``; absent: within_subject).
PROTOCOLS = ("within_subject", "multi_subject", "leave_one_subject_out")


def protocol_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per method and protocol: the variants scored under it, or "not applicable" for a method that
    trains one model per subject (so a leave-one-subject-out comparison shows who cannot take part)."""
    rows = []
    for method, sub in df.groupby("method", sort=True):
        for protocol in PROTOCOLS:
            variants = sorted(set(sub.loc[sub["protocol"] == protocol, "variant"]))
            status = "scored" if variants else (
                "not applicable: trains one model per subject" if set(sub["protocol"]) == {"within_subject"}
                else "not configured")  # fmt: skip
            rows.append({"method": method, "protocol": protocol, "status": status, "variants": "+".join(variants),
                         "subjects": len(set(sub.loc[sub["protocol"] == protocol, "subject"]))})  # fmt: skip
    return pd.DataFrame(rows)


def summarise_models(metrics_files, summary_out, out, protocols_out=None) -> pd.DataFrame:
    """Rule ``methods_summary``: the retrieval scores of every method's model (method x variant x subject,
    their contract's ``metrics.json``) against chance, as a table and a figure with the training curves
    (``metrics.csv`` beside each); ``protocols_out``: :func:`protocol_table`."""
    from .contract import read_metrics

    plt = pyplot()
    rows = []
    for f in metrics_files:
        m = read_metrics(f)
        row = {"method": m["method"], "variant": m["variant"], "subject": m["subject"], "train_clips": m["train_clips"],
               "test_clips": m["test_clips"], "n_candidates": m["n_candidates"], "steps": m.get("steps"),
               "fmri_columns": m.get("fmri_columns"), "roi_sets": "+".join(m.get("roi_sets") or ["all"]),
               "protocol": m.get("protocol", "within_subject"),
               # what "video" is in the score names: the clip's frames, or the transcript (audio encoders)
               "retrieval_target": m.get("retrieval_target", "video")}  # fmt: skip
        row.update({k: v for k, v in m["scores"].items()})
        row.update({f"chance_{k}": v for k, v in m["chance"].items()})
        row["curve"] = str(Path(f).with_name("metrics.csv"))
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["method", "variant", "subject"], ignore_index=True)
    df.drop(columns="curve").to_csv(summary_out, index=False)
    if protocols_out is not None:
        protocol_table(df).to_csv(protocols_out, index=False)
    keys = [k for k in ("brain_to_video_top1", "brain_to_video_top5", "video_to_brain_top1", "video_to_brain_top5",
                        "two_way") if k in df]  # fmt: skip
    # a bar per method and variant (CineSync's video and audio encoders share variant names)
    label = np.where(df["method"] == df["variant"], df["variant"], df["method"] + " " + df["variant"])
    variants = list(dict.fromkeys(label))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    w = 0.8 / len(variants)
    for j, v in enumerate(variants):
        sub = df[label == v]
        x = np.arange(len(keys)) + (j - (len(variants) - 1) / 2) * w
        ax.bar(x, [sub[k].mean() for k in keys], w, label=v)
        for k_i, k in enumerate(keys):
            ax.plot(np.full(len(sub), x[k_i]), sub[k], "k.", ms=3)
    for k_i, k in enumerate(keys):
        ax.plot([k_i - 0.45, k_i + 0.45], [df[f"chance_{k}"].mean()] * 2, color="0.4", lw=2)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([k.replace("_", " ") for k in keys], fontsize=8)
    ax.set_ylabel("score (dots: subjects, grey: chance)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    for _, r in df.iterrows():
        c = pd.read_csv(r["curve"])
        ax2.plot(c["step"], c["loss"], lw=1, label=f"{r['variant']} sub-{r['subject']}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training loss")
    ax2.legend(fontsize=6)
    fig.suptitle(f"{', '.join(dict.fromkeys(df['method']))}: brain -> video retrieval, {df['test_clips'].iloc[0]} test clips per subject, "
                 f"{df['train_clips'].iloc[0]} training clips", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return df
