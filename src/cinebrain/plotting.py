"""Plotting helpers shared by the stages' report figures (each stage's figures live beside its code)."""

from __future__ import annotations

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_frames(path, times: list[float]) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of a video at the given times (s), seeking with PyAV."""
    import av

    frames = []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        for t in times:
            c.seek(int(t / vs.time_base), stream=vs, backward=True)
            for fr in c.decode(vs):
                if fr.time is None or fr.time >= t - 1e-3:
                    frames.append(fr.to_ndarray(format="rgb24"))
                    break
    return frames


def wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def plot_reconstructions(clips, out, n_frames: int = 4, title: str = "") -> None:
    """Every clip's ground truth beside its reconstruction: one row per clip, ``n_frames`` evenly spaced
    frames of each. ``clips``: [(clip id, ground-truth frames (F, H, W, 3), reconstruction frames)]."""
    from .stimuli import sample_frames

    plt = pyplot()
    if not clips:
        raise ValueError(f"{out}: no clips to show")
    rows = []
    for _, gt, rec in clips:
        gap = np.full((gt.shape[1], max(2, gt.shape[2] // 12), 3), 255, np.uint8)
        rows.append(np.concatenate([*sample_frames(gt, n_frames), gap, *sample_frames(rec, n_frames)], axis=1))
    h, w = rows[0].shape[:2]
    width = min(14.0, 1.4 * 2 * n_frames)  # inches; each row keeps its aspect ratio
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, len(rows) * (0.85 * width * h / w + 0.05) + 0.7),
                             squeeze=False)  # fmt: skip
    for ax, (clip, _, _), row in zip(axes[:, 0], clips, rows, strict=True):
        ax.imshow(row)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(-0.01, 0.5, clip, transform=ax.transAxes, ha="right", va="center", fontsize=6)
    axes[0, 0].set_title(f"{title}\n(left: ground truth, right: reconstruction; {n_frames} frames each)", fontsize=8)
    fig.tight_layout(h_pad=0.2)
    fig.savefig(out, dpi=110, bbox_inches="tight")  # the clip ids sit left of the axes
    plt.close(fig)
