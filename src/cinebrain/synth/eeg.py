"""EEG forward model inside a running MRI scanner.

Clean EEG (what an artifact-free amplifier would record) is a mixture, through smooth scalp
topographies on the GSN-HydroCel-64 layout, of:

- evoked responses at scene cuts (N1/P2 over occipital sites): fast information fMRI smooths away;
- occipital alpha (10 Hz) whose amplitude falls with screen luminance;
- fronto-central activity following the sound's loudness envelope through a temporal response function;
- parietal beta (20 Hz) whose amplitude follows the speed of motion on screen;
- frame-locked visual responses (a steady-state response at the film's frame rate, locked to the frames)
  whose topography depends on the colour of the shape on screen, one occipito-parietal source per colour;
  the fMRI forward model does not carry the shape's colour, so this is what EEG knows that fMRI does not;
- 1/f background sources and sensor noise.

On top of it the recording carries what a scanner adds: MR gradient artifacts locked to every volume
(slice-periodic, millivolts, with the scanner and EEG clocks slightly out of step so that volumes start at
fractional samples), ballistocardiogram pulses locked to the ECG R-peaks, 50 Hz line noise with a
harmonic, and blinks over frontal sites.  The ECG channel carries the heart and the gradients.
All times that generated artifacts are returned as truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .stimuli import COLOUR_FEATURES

UV = 1e-6
# Amplitude (uV) of a colour's frame-locked response while that colour is on screen. 30 uV, not a typical
# SSVEP's few uV: at 5 uV the demo's encoders (60 training clips) separated test clips by colour at an AUC of
# 0.65-0.75 and the decoder's reconstructions did not beat the shuffled-brain control on video identification
# (issue 19); at 30 uV (with half the fMRI noise), 0.84 (README, "Cine-Benchmark").
COLOUR_UV = 30.0


@dataclass
class EEGScanParams:
    tr: float = 0.8
    n_slices: int = 36  # slice frequency 45 Hz at TR 0.8 s
    gradient_uv: float = 2000.0  # typical MR gradient artifact amplitude (uV), far above the EEG
    clock_ppm: float = 25.0  # EEG vs scanner clock mismatch
    bcg_uv: float = 60.0
    line_freq: float = 50.0
    line_uv: float = 10.0
    blink_uv: float = 150.0
    blink_interval: float = 4.0
    pre: float = 2.0  # EEG recording before the first volume (s)
    post: float = 2.0  # EEG recording after the last volume (s)


def montage_positions():
    """Channel names and head-frame positions (m) of the 64 GSN-HydroCel electrodes (MNE template)."""
    import mne

    montage = mne.channels.make_standard_montage("GSN-HydroCel-64_1.0")
    info = mne.create_info(montage.ch_names, 1000.0, "eeg")
    info.set_montage(montage)
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    return list(montage.ch_names), pos


def _topography(pos: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    d2 = ((pos - centre) ** 2).sum(1)
    return np.exp(-d2 / (2 * width**2))


def _pink(n_src: int, n: int, rng: np.random.Generator) -> np.ndarray:
    spec = rng.normal(size=(n_src, n // 2 + 1)) + 1j * rng.normal(size=(n_src, n // 2 + 1))
    f = np.arange(n // 2 + 1)
    spec /= np.sqrt(np.maximum(f, 1))
    x = np.fft.irfft(spec, n=n, axis=1)
    return x / x.std(axis=1, keepdims=True)


def _oscillation(freq: float, n: int, sfreq: float, rng: np.random.Generator) -> np.ndarray:
    """A narrow-band oscillation: frequency wanders by +-0.5 Hz."""
    wander = np.cumsum(rng.normal(0, 1, n)) / np.sqrt(n) * 0.5
    phase = 2 * np.pi * np.cumsum(freq + wander) / sfreq
    return np.sin(phase + rng.uniform(0, 2 * np.pi))


def ecg_waveform(t: np.ndarray) -> np.ndarray:
    """PQRST complex (V) at time t relative to the R-peak."""
    g = lambda a, mu, sd: a * np.exp(-((t - mu) ** 2) / (2 * sd**2))  # noqa: E731
    return 1e-3 * (g(0.15, -0.2, 0.025) + g(-0.1, -0.03, 0.008) + g(1.2, 0.0, 0.01) + g(-0.25, 0.03, 0.01)
                   + g(0.3, 0.25, 0.04))  # fmt: skip


def _bcg_waveforms(t: np.ndarray) -> np.ndarray:
    """Two BCG basis waveforms (unit amplitude) at time t after the R-peak."""
    env = np.exp(-((t - 0.3) ** 2) / (2 * 0.09**2))
    return np.stack([env * np.sin(2 * np.pi * 4.0 * (t - 0.2)), env * np.cos(2 * np.pi * 4.0 * (t - 0.2))])


def _gradient_shape(phase: np.ndarray) -> np.ndarray:
    """Two slice-periodic gradient waveforms of the slice phase in [0, 1)."""
    s = np.sin(2 * np.pi * phase)
    return np.stack([np.tanh(6 * s) + 0.3 * np.sin(6 * np.pi * phase + 0.4), np.cos(2 * np.pi * phase) ** 3])


def simulate_run(
    features,
    fps: float,
    stim_onset: float,
    n_volumes: int,
    sfreq: float,
    rng: np.random.Generator,
    params: EEGScanParams | None = None,
) -> dict:
    """Simulate one run of EEG + ECG in the scanner.

    ``features``: per-frame stimulus table (see :mod:`cinebrain.synth.stimuli`), frame 0 shown at
    ``stim_onset`` seconds after the first volume.  Returns the recorded data (V) of 64 EEG + 1 ECG
    channels, the clean EEG, and the truth of every artifact.
    """
    p = params or EEGScanParams()
    ch_names, pos = montage_positions()
    n_ch = len(ch_names)
    n = int(round((p.pre + n_volumes * p.tr + p.post) * sfreq))
    t = np.arange(n) / sfreq

    # ---- volume onsets, in EEG samples (fractional: the scanner clock runs at its own rate)
    tr_samples = p.tr * sfreq * (1 + p.clock_ppm * 1e-6)
    vol_onsets = p.pre * sfreq + np.arange(n_volumes) * tr_samples + rng.uniform(0, 1)
    markers = np.round(vol_onsets).astype(int)

    # ---- clean EEG
    posterior = np.array([0.0, -0.09, 0.03])
    vertex = np.array([0.0, 0.0, 0.1])
    parietal = np.array([0.04, -0.06, 0.08])
    frontal = pos[np.argsort(pos[:, 1])[-2:]].mean(0)
    topo_occ = _topography(pos, posterior, 0.05)
    topo_vertex = _topography(pos, vertex, 0.06)
    topo_par = _topography(pos, parietal, 0.05)
    topo_front = _topography(pos, frontal, 0.035)

    stim_start = (p.pre + stim_onset)  # s in EEG time; the first volume is at p.pre (+ <1 sample)
    frame_idx = np.floor((t - stim_start) * fps).astype(int)
    on = (frame_idx >= 0) & (frame_idx < len(features))
    fi = np.clip(frame_idx, 0, len(features) - 1)

    def per_sample(col, fill=0.0):
        v = features[col].to_numpy(float)[fi]
        return np.where(on, v, fill)

    clean = np.zeros((n_ch, n), np.float32)
    # evoked responses at scene cuts
    cut_times = stim_start + features.loc[features["cut"] == 1, "time"].to_numpy()
    erp = np.zeros(n)
    for ct in cut_times:
        tt = t - ct
        sel = (tt > -0.05) & (tt < 0.6)
        x = tt[sel]
        erp[sel] += (-5 * np.exp(-((x - 0.1) ** 2) / (2 * 0.02**2)) + 7 * np.exp(-((x - 0.2) ** 2) / (2 * 0.04**2))
                     + 3 * np.exp(-((x - 0.32) ** 2) / (2 * 0.05**2)))  # fmt: skip
    clean += (topo_occ[:, None] * erp[None, :] * UV).astype(np.float32)
    # alpha falls with luminance
    lum = per_sample("luminance", fill=0.5)
    alpha_amp = 4.0 + 12.0 * (1.0 - lum)
    clean += (topo_occ[:, None] * (alpha_amp * _oscillation(10.0, n, sfreq, rng))[None, :] * UV).astype(np.float32)
    # auditory envelope tracking through a TRF
    env = per_sample("audio_rms")
    env = (env - env.mean()) / (env.std() + 1e-12)
    k = np.arange(int(0.4 * sfreq)) / sfreq
    trf = 1.5 * np.exp(-((k - 0.05) ** 2) / (2 * 0.015**2)) - 2.5 * np.exp(-((k - 0.1) ** 2) / (2 * 0.02**2)) \
        + 2.0 * np.exp(-((k - 0.18) ** 2) / (2 * 0.03**2))
    aud = np.convolve(env, trf, mode="full")[:n] / (trf.sum() if abs(trf.sum()) > 1e-9 else 1.0)
    aud = aud / (aud.std() + 1e-12) * 3.0
    clean += (topo_vertex[:, None] * aud[None, :] * UV).astype(np.float32)
    # parietal beta follows speed
    speed = per_sample("speed")
    beta_amp = 1.0 + 20.0 * speed
    clean += (topo_par[:, None] * (beta_amp * _oscillation(20.0, n, sfreq, rng))[None, :] * UV).astype(np.float32)
    # frame-locked colour responses: every new video frame evokes a brief visual response (a steady-state
    # response at the frame rate, locked to the frames), whose topography depends on the colour of the shape
    # on screen: one occipito-parietal source per colour, driven while that colour is shown
    centres = ([-0.045, -0.075, 0.03], [0.045, -0.075, 0.03], [0.0, -0.085, 0.05], [-0.04, -0.055, 0.08],
               [0.04, -0.055, 0.08])  # fmt: skip
    since_frame = (t - stim_start) * fps - np.floor((t - stim_start) * fps)  # phase within the frame (0-1)
    vep = np.sin(2 * np.pi * since_frame)  # one cycle per frame: the frame-rate response
    for centre, col in zip(centres, COLOUR_FEATURES, strict=True):
        drive = np.where(on, features[col].to_numpy(float)[fi], 0.0)
        clean += (_topography(pos, np.array(centre), 0.03)[:, None] * (COLOUR_UV * drive * vep)[None, :] * UV).astype(np.float32)
    # background 1/f sources and sensor noise
    n_bg = 16
    mix = np.stack([_topography(pos, pos[rng.integers(n_ch)], 0.05) for _ in range(n_bg)], 1)
    clean += (mix @ _pink(n_bg, n, rng) * 6.0 * UV).astype(np.float32)
    clean += rng.normal(0, 1.0 * UV, (n_ch, n)).astype(np.float32)

    data = clean.copy()

    # ---- heart: R-peaks, ECG, ballistocardiogram
    hr = rng.uniform(60, 75) / 60.0
    rr = []
    tt = rng.uniform(0.2, 0.8)
    while tt < n / sfreq:
        rr.append(tt)
        tt += (1 / hr) * (1 + 0.05 * np.sin(2 * np.pi * 0.1 * tt) + rng.normal(0, 0.03))
    r_peaks = np.array(rr)
    ecg = np.zeros(n)
    bcg_basis = np.zeros((2, n))
    for r in r_peaks:
        lo, hi = max(0, int((r - 0.35) * sfreq)), min(n, int((r + 0.75) * sfreq))
        x = t[lo:hi] - r
        ecg[lo:hi] += ecg_waveform(x)
        bcg_basis[:, lo:hi] += _bcg_waveforms(x) * rng.normal(1.0, 0.1)
    lateral = np.c_[pos[:, 0], pos[:, 1]] / 0.08
    bcg_topo = p.bcg_uv * UV * np.c_[0.6 + 0.4 * lateral[:, 0], 0.5 * lateral[:, 1] + 0.3]
    bcg = (bcg_topo @ bcg_basis).astype(np.float32)
    data += bcg

    # ---- MR gradient artifact, slice-periodic and locked to each (fractional) volume onset
    samples = np.arange(n)
    vol = np.searchsorted(vol_onsets, samples, side="right") - 1
    scanning = (vol >= 0) & (samples < vol_onsets[-1] + tr_samples)
    tau = samples - vol_onsets[np.clip(vol, 0, None)]
    slice_len = tr_samples / p.n_slices
    phase = (tau / slice_len) % 1.0
    shapes = _gradient_shape(phase) * scanning
    shapes *= 1.0 + 0.1 * np.sin(2 * np.pi * tau / tr_samples)  # volume-periodic modulation
    # the amplifier's hardware anti-aliasing low-pass (BrainAmp MR: 250 Hz at 1 kHz sampling); without it
    # the steep gradient edges would alias into the EEG band, which no real recording shows
    shapes = sosfiltfilt(butter(8, 0.25 * sfreq, fs=sfreq, output="sos"), shapes, axis=-1)
    g_topo = p.gradient_uv * UV * np.c_[rng.uniform(0.5, 1.5, n_ch) * rng.choice([-1, 1], n_ch),
                                        rng.uniform(0.1, 0.5, n_ch)]  # fmt: skip
    gradient = (g_topo @ shapes).astype(np.float32)
    data += gradient

    # ---- line noise
    amp = rng.uniform(0.5, 1.5, n_ch)[:, None] * p.line_uv * UV
    ph = rng.uniform(0, 2 * np.pi, n_ch)[:, None]
    line = amp * (np.sin(2 * np.pi * p.line_freq * t[None, :] + ph)
                  + 0.3 * np.sin(2 * np.pi * 3 * p.line_freq * t[None, :] + 2 * ph))  # fmt: skip
    data += line.astype(np.float32)

    # ---- blinks over frontal sites
    blinks = []
    tb = rng.exponential(p.blink_interval)
    while tb < n / sfreq - 0.4:
        blinks.append(tb)
        tb += 1.0 + rng.exponential(p.blink_interval - 1.0)
    blinks = np.array(blinks)
    blink_sig = np.zeros(n)
    for b in blinks:
        lo, hi = int(b * sfreq), min(n, int((b + 0.3) * sfreq))
        x = (np.arange(lo, hi) / sfreq - b) / 0.3
        blink_sig[lo:hi] += 0.5 * (1 - np.cos(2 * np.pi * x))
    data += (topo_front[:, None] * blink_sig[None, :] * p.blink_uv * UV).astype(np.float32)

    ecg_ch = (ecg + 0.2 * p.gradient_uv * UV * shapes[0] + rng.normal(0, 5 * UV, n)).astype(np.float32)
    return {
        "ch_names": [*ch_names, "ECG"],
        "data": np.vstack([data, ecg_ch[None, :]]),
        "clean": clean,
        "clean_ecg": ecg.astype(np.float32),
        "sfreq": float(sfreq),
        "vol_onsets": vol_onsets,
        "markers": markers,
        "r_peaks": r_peaks,
        "blinks": blinks,
        "stim_onset_eeg": stim_start,
        "gradient_topography": g_topo,
        "bcg_topography": bcg_topo,
        "slice_freq": p.n_slices / p.tr,
        "params": p,
        "positions": pos,
    }


def write_brainvision(sim: dict, folder, fname_base: str) -> None:
    """Write the recording as BrainVision (pybv), with one ``R128`` marker per volume and ``S  1`` at film onset."""
    import pybv

    events = [
        {"onset": int(m), "duration": 1, "description": 128, "type": "Response", "channels": "all"}
        for m in sim["markers"]
    ]
    events.append(
        {"onset": int(round(sim["stim_onset_eeg"] * sim["sfreq"])), "duration": 1, "description": 1,
         "type": "Stimulus", "channels": "all"}  # fmt: skip
    )
    events.sort(key=lambda e: e["onset"])
    pybv.write_brainvision(
        data=sim["data"],
        sfreq=sim["sfreq"],
        ch_names=sim["ch_names"],
        ref_ch_names="Cz",
        fname_base=fname_base,
        folder_out=str(folder),
        events=events,
        resolution=0.1,
        unit="µV",
        fmt="binary_float32",
        overwrite=True,
    )
