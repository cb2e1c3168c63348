"""CineSync's report: the decoders' summary table and training curves (rule ``cinesync_report``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...plotting import pyplot


def plot_decoders(decoder_files, summary_out, out, *, ylabel: str = "v-prediction loss", title: str | None = None) -> pd.DataFrame:
    """Training curves of every decoder (variant x subject) and a summary table (CineSync's video decoders,
    and its audio ones: ``ylabel`` flow-matching loss, ``title`` theirs)."""
    import json

    plt = pyplot()
    rows = []
    for f in decoder_files:
        m = json.loads(Path(f).read_text())
        rows.append({"variant": m["variant"], "subject": m["subject"], "base": m["base"], "train_clips": m["train_clips"],
                     "steps": m["train"].get("steps"), "lora_rank": m["decoder"]["lora_rank"],
                     "train_parts": "+".join(m["decoder"].get("train_parts", ("lora", "encoder", "text_embed"))),
                     "adapter": m.get("adapter", "BrainTextEmbedding"),
                     "trainable_parameters": m["trainable_parameters"], "final_loss": m["final_loss"],
                     "curve": str(Path(f).with_name("metrics.csv"))})  # fmt: skip
    df = pd.DataFrame(rows).sort_values(["variant", "subject"], ignore_index=True)
    df.drop(columns="curve").to_csv(summary_out, index=False)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for _, r in df.iterrows():
        c = pd.read_csv(r["curve"])
        k = max(1, len(c) // 20)  # the diffusion loss is noisy (random timesteps): a running mean beside it
        line = ax.plot(c["step"], c["loss"], lw=0.5, alpha=0.4)[0]
        ax.plot(c["step"], c["loss"].rolling(k, min_periods=1).mean(), lw=1.5, color=line.get_color(),
                label=f"{r['variant']} sub-{r['subject']}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title or f"Neuro Latent Decoder (LoRA rank {df['lora_rank'].iloc[0]}, training "
                 f"{df['train_parts'].iloc[0]})", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return df
