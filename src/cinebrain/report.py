"""Report figures of the dataset: overview (inventory, stimulus frames, one run's BOLD and EEG), the clip
sheet (stimuli stage) and the clip windows (dataset stage).  The other stages' figures live beside their
code: :mod:`cinebrain.eeg.report`, :mod:`cinebrain.fmri.report`, :mod:`cinebrain.methods.report`,
:mod:`cinebrain.methods.cinesync.report`, :mod:`cinebrain.benchmark.report`; shared helpers in
:mod:`cinebrain.plotting`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .plotting import pyplot, read_frames, wrap


def plot_stimulus_frames(stimulus: Path, captions: Path | None, out, max_frames: int = 8) -> None:
    plt = pyplot()
    if captions is not None and captions.exists():
        cap = pd.read_csv(captions, sep="\t")
        times = list(cap["onset"] + cap["duration"] / 2)[:max_frames]
        texts = list(cap["caption"])[:max_frames]
    else:
        from .stimuli import media_duration

        dur = media_duration(stimulus)
        times = list(np.linspace(0, dur, max_frames + 2)[1:-1])
        texts = [""] * len(times)
    frames = read_frames(stimulus, times)
    n = len(frames)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, fr, t, txt in zip(axes.flat, frames, times, texts, strict=False):
        ax.imshow(fr)
        ax.set_title(f"{stimulus.stem}  t = {t:.1f} s", fontsize=8)
        if txt:
            ax.text(0.5, -0.04, "\n".join(wrap(txt, 44)), transform=ax.transAxes, ha="center", va="top", fontsize=6.5)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _bold_traces(row, bids_root: Path, fmriprep_dir: Path, visual_roi):
    """(time, {label: % signal}) from the fMRIPrep dtseries when present, else the raw BOLD global mean."""
    from .fmri.fmriprep import derivative_paths

    own = row.get("dtseries") or ""  # the dataset's own grayordinate series (cc2017), else fMRIPrep's
    dts = bids_root / own if own else derivative_paths(row["bold"], fmriprep_dir)["dtseries"]
    tr = float(row["TR"])
    if int(row.get("beta_row", -1)) >= 0:  # per-clip betas: the first 60 clips' mean beta, not a time series
        values = np.load(dts, mmap_mode="r")[:60]
        from .fmri.grayordinates import mmp_parcels
        from .fmri.rois import select

        parcels, _ = mmp_parcels()
        vis = np.zeros(len(parcels), bool)
        vis[select([visual_roi], None).indices] = True
        cortex = (parcels > 0) & (parcels <= 360)
        traces = {"visual ROI (HCP-MMP)": np.asarray(values[:, vis]).mean(1),
                  "other cortex": np.asarray(values[:, cortex & ~vis]).mean(1)}  # fmt: skip
        return np.arange(len(values), dtype=float), traces, f"{dts.name} (beta per clip; x: clip row)"
    if dts.exists():
        import nibabel as nib

        from .fmri.grayordinates import mmp_parcels
        from .fmri.rois import select

        data = np.asarray(nib.load(str(dts)).get_fdata(dtype=np.float32))
        parcels, _ = mmp_parcels()
        vis = np.zeros(len(parcels), bool)
        vis[select([visual_roi], None).indices] = True
        cortex = (parcels > 0) & (parcels <= 360)
        pct = (data / data.mean(0) - 1) * 100
        traces = {"visual ROI (HCP-MMP)": pct[:, vis].mean(1), "other cortex": pct[:, cortex & ~vis].mean(1)}
        source = dts.name
    else:
        import nibabel as nib

        img = nib.load(str(bids_root / row["bold"]))
        data = np.asarray(img.dataobj, dtype=np.float32)
        mask = data.mean(-1) > np.percentile(data.mean(-1), 50)
        g = data[mask].mean(0)
        traces = {"global mean (raw BOLD)": (g / g.mean() - 1) * 100}
        source = Path(row["bold"]).name
    t = np.arange(len(next(iter(traces.values())))) * tr
    return t, traces, source


def plot_run_traces(row, bids_root: Path, fmriprep_dir: Path, out, volume_marker: str = "R128", *,
                    visual_roi) -> None:  # fmt: skip
    import mne

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6.5), gridspec_kw={"height_ratios": [1, 1.4]})
    t, traces, source = _bold_traces(row, bids_root, fmriprep_dir, visual_roi)
    for label, y in traces.items():
        ax1.plot(t, y, lw=1.2, label=label)
    if pd.notna(row["onset"]) and pd.notna(row["stimulus_duration"]) and int(row.get("beta_row", -1)) < 0:
        ax1.axvspan(row["onset"], row["onset"] + row["stimulus_duration"], color="0.9", zorder=0, label="film")
    betas = int(row.get("beta_row", -1)) >= 0
    ax1.set(xlabel="clip (row of the beta vectors)" if betas else "time from first volume (s)",
            ylabel="beta" if betas else "BOLD (% signal change)",
            title=f"sub-{row['subject']} run {row['run']} ({row['episode']}): {source}")  # fmt: skip
    ax1.legend(fontsize=8, loc="upper right")

    if not row.get("eeg"):  # an fMRI-only dataset (dataset.modalities: [fmri], the cc2017 adapter)
        ax2.axis("off")
        ax2.text(0.5, 0.5, f"no EEG: this dataset's runs have {row.get('modalities') or 'fmri'} only", ha="center",
                 va="center", fontsize=11, transform=ax2.transAxes)  # fmt: skip
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return
    raw = mne.io.read_raw_brainvision(str(bids_root / row["eeg"]), preload=False, verbose="error")
    ann = raw.annotations
    marks = np.array([o for o, d in zip(ann.onset, ann.description, strict=True)
                      if d == volume_marker or d.endswith("/" + volume_marker)])  # fmt: skip
    t0 = float(marks[0]) - 0.5 if len(marks) else 0.0
    t1 = min(t0 + 3.0, raw.times[-1])
    picks = [c for c in ("E36", "E62", "E10", "ECG") if c in raw.ch_names] or raw.ch_names[:4]
    start, stop = raw.time_as_index([t0, t1])
    data, times = raw.get_data(picks=picks, start=int(start), stop=int(stop), return_times=True)
    spacing = np.percentile(np.abs(data[:-1]), 99) * 2.2 * 1e6 if len(picks) > 1 else 1.0
    for i, (ch, y) in enumerate(zip(picks, data, strict=True)):
        yy = y * 1e6
        if ch == "ECG":
            yy = yy / (np.abs(yy).max() + 1e-12) * spacing * 0.45
        ax2.plot(times, yy - i * spacing, lw=0.6, label=ch)
    for m in marks[(marks >= t0) & (marks <= t1)]:
        ax2.axvline(m, color="k", lw=0.6, ls=":")
    ax2.set_yticks([-i * spacing for i in range(len(picks))], picks)
    ax2.set(xlabel=f"EEG time (s); dotted: '{volume_marker}' volume markers",
            title=f"raw EEG in the scanner: {Path(row['eeg']).name} (channel spacing {spacing:.0f} µV; ECG scaled)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def dataset_overview(inventory, bids_root, fmriprep_dir, outputs, volume_marker: str = "R128", *, visual_roi) -> None:
    """Write the report's dataset figures: ``outputs["inventory"]`` (CSV), ``.frames`` and ``.traces`` (PNG).
    ``visual_roi``: the visual ROI set's YAML file (the traces of the first run)."""
    inv = pd.read_parquet(inventory)
    bids_root, fmriprep_dir = Path(bids_root), Path(fmriprep_dir)
    inv.to_csv(outputs["inventory"], index=False)
    first = inv.iloc[0]
    stim = bids_root / first["stimulus"]
    captions = stim.with_name(f"{stim.stem}_captions.tsv")
    plot_stimulus_frames(stim, captions, outputs["frames"])
    plot_run_traces(first, bids_root, fmriprep_dir, outputs["traces"], volume_marker, visual_roi=visual_roi)


# ---------------------------------------------------------------------------------------------- fMRI


def plot_clips(table, out, n_clips: int = 6, n_frames: int = 5) -> None:
    """The first clips of the first episode: a row of frames each, a red frame where a cut was detected."""
    from .stimuli import read_video

    plt = pyplot()
    clips = pd.read_parquet(table)
    ep = clips["episode"].iloc[0]
    sel = clips[clips["episode"] == ep].head(n_clips)
    fig, axes = plt.subplots(len(sel), n_frames, figsize=(1.8 * n_frames, 1.4 * len(sel) + 0.6), squeeze=False)
    for r, (_, c) in enumerate(sel.iterrows()):
        frames = read_video(c["video"])
        idx = np.round(np.linspace(0, len(frames) - 1, n_frames)).astype(int)
        t_frames = c["start"] + idx / c["fps"]
        cuts = [c["start"] + t for t in c["cut_times"]]
        for j, (i, t) in enumerate(zip(idx, t_frames, strict=True)):
            ax = axes[r, j]
            ax.imshow(frames[i])
            ax.set_xticks([])
            ax.set_yticks([])
            after_cut = any(t >= ct > t - (t_frames[1] - t_frames[0]) for ct in cuts) if j else False
            for s in ax.spines.values():
                s.set_color("red" if after_cut else "0.7")
                s.set_linewidth(3 if after_cut else 0.5)
            ax.set_title(f"{t:.2f} s", fontsize=7)
        axes[r, 0].set_ylabel(f"clip {c['clip_index']}" + ("\ncut" if c["has_cut"] else ""), fontsize=8)
    n_cut = int(clips["has_cut"].sum())
    fig.suptitle(f"{ep}: {len(clips)} clips in {clips['episode'].nunique()} episodes, {n_cut} "
                 f"({100 * n_cut / len(clips):.0f}%) contain a detected cut (red: first frame after it)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_windows(datasets, out) -> None:
    """One subject's dataset: per clip the fMRI window (mean over columns, per volume) and the EEG window
    (global field power), clips with a scene cut marked, train and test side by side."""
    import json

    plt = pyplot()
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 5), squeeze=False)
    for k, d in enumerate(datasets):
        d = Path(d)
        man = pd.read_parquet(d / "manifest.parquet")
        info = json.loads((d / "dataset.json").read_text())
        fmri = np.load(d / "fmri.npy", mmap_mode="r")
        eeg = np.load(d / "eeg.npy", mmap_mode="r") if (d / "eeg.npy").exists() else None  # none: fMRI only
        im = axes[0, k].imshow(fmri.mean(axis=2).T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                               interpolation="nearest")  # fmt: skip
        axes[0, k].set_ylabel("volume in window")
        rep = info.get("Repeats") or {}
        rep_text = f", repeats {rep['Mode']}d ({rep['Views']} views)" if rep.get("Views", 0) > len(man) else ""
        axes[0, k].set_title(f"sub-{info['Subject']} {info['Split']}: {info['Clips']} clips, fMRI {info['fmri']['Shape']}, "
                             f"EEG {info['eeg']['Shape'] if info.get('eeg') else 'none'}{rep_text}", fontsize=9)  # fmt: skip
        fig.colorbar(im, ax=axes[0, k], label="mean z")
        if eeg is None:
            axes[1, k].axis("off")
            axes[1, k].text(0.5, 0.5, "no EEG (an fMRI-only dataset)", ha="center", va="center",
                            transform=axes[1, k].transAxes)  # fmt: skip
            for b in np.flatnonzero(np.diff(man["run"].to_numpy())):
                axes[0, k].axvline(b + 0.5, color="w", lw=1)
            continue
        gfp = eeg.std(axis=1) * 1e6
        im2 = axes[1, k].imshow(gfp.T, aspect="auto", cmap="viridis", interpolation="nearest",
                                extent=(-0.5, len(man) - 0.5, info["ClipSeconds"], 0))  # fmt: skip
        fig.colorbar(im2, ax=axes[1, k], label="EEG GFP (µV)")
        axes[1, k].set_ylabel("time in clip (s)")
        axes[1, k].set_xlabel("clip (row of the dataset)")
        cuts = np.flatnonzero(man["has_cut"].to_numpy())
        for ax in axes[:, k]:
            ax.plot(cuts, np.full(len(cuts), ax.get_ylim()[1]), "v", color="k", ms=4, clip_on=False)
        for b in np.flatnonzero(np.diff(man["run"].to_numpy())):
            for ax in axes[:, k]:
                ax.axvline(b + 0.5, color="w", lw=1)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
