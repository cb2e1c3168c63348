"""Report figures of the EEG stage (rule ``eeg_qc``): PSD, locked averages, excluded ICA components."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot


def plot_eeg_qc(*, arrays, qc, ica, fif, psd, locked, ica_figure) -> None:
    """Three figures of one run's EEG cleaning: PSD after each step; volume- and R-peak-locked averages
    before and after; the excluded ICA components (topographies and time courses).

    Reads ``arrays`` (.npz of eeg_preprocess), ``qc`` (final QC JSON), ``ica`` (.fif, may be empty),
    ``fif`` (the pre-ICA EEG); writes the PNGs ``psd``, ``locked``, ``ica_figure``.
    """
    import json

    import mne

    plt = pyplot()
    a = np.load(arrays)
    qc = json.loads(Path(qc).read_text())
    title = Path(fif).name.split("_desc-")[0]

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
    fig.savefig(psd, dpi=90)
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
    fig.savefig(locked, dpi=90)
    plt.close(fig)

    # 3. excluded ICA components
    excluded = qc.get("ica", {}).get("excluded", [])
    if Path(ica).stat().st_size > 0 and excluded:
        ica = mne.preprocessing.read_ica(ica, verbose="error")
        raw = mne.io.read_raw_fif(fif, preload=True, verbose="error").pick("eeg")
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
    fig.savefig(ica_figure, dpi=90)
    plt.close(fig)
