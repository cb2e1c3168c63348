"""Procedural film episodes: moving shapes over changing backgrounds, with cuts and a sound per scene.

An episode is a sequence of scenes (2-8 s).  Each scene shows one shape of a category (circle, square,
triangle, star, cross) in a colour, moving steadily in one direction (a straight path centred in the frame,
never reversing within the scene, so that any stretch of it shows the direction its caption names) over a
slowly drifting two-tone background,
with a tone whose pitch is set by the category and whose loudness is modulated at a syllable-like rate.
Cuts between scenes change everything at once, as shot boundaries do in films.

Everything that generated the pixels and the sound is kept per frame (``features``), so that the brain
forward models and the tests can use the true stimulus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORIES = ["circle", "square", "triangle", "star", "cross"]
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 215, 40),
    "magenta": (210, 50, 200),
}
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
BACKGROUNDS = {
    "dark grey": (40, 40, 45),
    "light grey": (170, 170, 165),
    "navy": (20, 30, 80),
    "olive": (90, 100, 40),
    "teal": (30, 110, 110),
}
# Tone pitch per category (Hz): the auditory "content" of a scene.
PITCH = {"circle": 262.0, "square": 330.0, "triangle": 392.0, "star": 523.0, "cross": 659.0}

#: Per-frame feature columns (besides time/scene/cut) in the order the forward models use them.
#: What the fMRI forward model's visual regions encode: the shape's category, the background, position and
#: motion, global luminance and contrast.
VISUAL_FEATURES = [
    *(f"cat_{c}" for c in CATEGORIES),
    "background_r",
    "background_g",
    "background_b",
    "x",
    "y",
    "vx",
    "vy",
    "speed",
    "luminance",
    "contrast",
]
AUDIO_FEATURES = ["audio_rms", "audio_pitch"]
#: The shape's colour, one indicator per colour: carried by the EEG forward model only (fMRI lacks it), so
#: that each modality has information about the picture that the other lacks.
COLOUR_FEATURES = [f"colour_{c}" for c in COLOURS]


@dataclass(frozen=True)
class Scene:
    onset: float
    duration: float
    category: str
    colour: str
    direction: str
    background: str
    speed: float  # fraction of the frame width per second
    size: float  # radius as a fraction of the frame height

    @property
    def caption(self) -> str:
        return (
            f"A {self.colour} {self.category} moves {self.direction} across a {self.background} "
            f"background while a {PITCH[self.category]:.0f} Hz tone plays."
        )


#: The shape's radius as a fraction of the frame height: at the demo clips' 64 x 96 pixels a shape spans 2-3
#: of the CogVideoX transformer's tokens (16 x 16 pixels each; 1-2 with the 0.12-0.22 used before, where the
#: tiny VAE and generator could not keep the shapes apart).
SIZES = (0.18, 0.28)
#: How far the shape travels over its scene, as a fraction of the frame width (x 4/3 of the height when it
#: moves vertically): its path stays inside the frame, so it never bounces back within a scene.
TRAVEL = (0.3, 0.6)


def draw_motion(duration: float, rng: np.random.Generator) -> tuple[float, float]:
    """(speed, size) of a scene lasting ``duration`` seconds: a travel drawn from :data:`TRAVEL` spread
    over the scene, a radius from :data:`SIZES`."""
    return float(rng.uniform(*TRAVEL)) / duration, float(rng.uniform(*SIZES))


def make_scenes(duration: float, rng: np.random.Generator) -> list[Scene]:
    """Random scene script covering ``duration`` seconds; consecutive scenes always differ in category and
    background (a cut changes the whole picture, as a shot change does)."""
    scenes, t, prev, prev_bg = [], 0.0, None, None
    while t < duration - 1e-9:
        d = float(min(rng.uniform(2.0, 8.0), duration - t))
        cat = rng.choice([c for c in CATEGORIES if c != prev])
        scenes.append(
            Scene(
                onset=round(t, 6),
                duration=round(d, 6),
                category=str(cat),
                colour=str(rng.choice(list(COLOURS))),
                direction=str(rng.choice(list(DIRECTIONS))),
                background=str(bg := rng.choice([b for b in BACKGROUNDS if b != prev_bg])),
                **dict(zip(("speed", "size"), draw_motion(d, rng), strict=True)),
            )
        )
        prev, prev_bg, t = cat, str(bg), t + d
    return scenes


def _shape_mask(category: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if category == "circle":
        return dx**2 + dy**2 <= r**2
    if category == "square":
        return (np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r)
    if category == "triangle":
        return (dy <= 0.8 * r) & (dy >= -r + 2 * np.abs(dx))
    if category == "cross":
        return ((np.abs(dx) <= 0.3 * r) & (np.abs(dy) <= r)) | ((np.abs(dy) <= 0.3 * r) & (np.abs(dx) <= r))
    if category == "star":
        ang = np.arctan2(dy, dx)
        rad = r * (0.55 + 0.45 * np.cos(5 * ang))
        return dx**2 + dy**2 <= rad**2
    raise ValueError(f"unknown category {category!r}")


def _bounce(u: float) -> tuple[float, float]:
    """Position in [0, 1] of a point moving along u and reflected at 0 and 1, and its direction (+1/-1)."""
    m = u % 2.0
    return (m, 1.0) if m <= 1.0 else (2.0 - m, -1.0)


def _scene_at(scenes: list[Scene], t: float) -> int:
    onsets = np.array([s.onset for s in scenes])
    return int(np.searchsorted(onsets, t, side="right") - 1)


def render_frames(scenes: list[Scene], duration: float, fps: float, height: int, width: int, start: float = 0.0):
    """Yield (frame uint8 (H, W, 3), feature dict) for every frame of the episode (from ``start`` seconds:
    the frames at ``start + f / fps`` before ``duration``)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    n_frames = int(round((duration - start) * fps))
    for f in range(n_frames):
        t = start + f / fps
        k = _scene_at(scenes, t)
        s = scenes[k]
        ts = t - s.onset
        dx, dy = DIRECTIONS[s.direction]
        # Position: a straight path centred in the frame, crossed once over the scene (no jumps within a
        # shot, so that only cuts change the picture abruptly); the reflection at the frame's edges is
        # reached only by scenes whose travel exceeds the frame.
        x, sx = _bounce(0.5 + dx * s.speed * (ts - s.duration / 2))
        y, sy = _bounce(0.5 + dy * s.speed * (ts - s.duration / 2) * width / height)
        bg = np.array(BACKGROUNDS[s.background], np.float32)
        # Slow drift of the background's lower half brightness (changing background within a scene).
        drift = 25.0 * np.sin(2 * np.pi * 0.15 * t)
        frame = np.empty((height, width, 3), np.float32)
        frame[:] = bg
        frame[height // 2 :] += drift
        mask = _shape_mask(s.category, xx, yy, x * width, y * height, s.size * height)
        frame[mask] = COLOURS[s.colour]
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        lum = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        feats = {
            "frame": f,
            "time": t,
            "scene": k,
            "cut": int(f > 0 and ts < 1.0 / fps - 1e-9),
            **{f"cat_{c}": float(c == s.category) for c in CATEGORIES},
            "colour_r": COLOURS[s.colour][0] / 255.0,
            "colour_g": COLOURS[s.colour][1] / 255.0,
            "colour_b": COLOURS[s.colour][2] / 255.0,
            **{f"colour_{c}": float(c == s.colour) for c in COLOURS},
            "background_r": BACKGROUNDS[s.background][0] / 255.0,
            "background_g": BACKGROUNDS[s.background][1] / 255.0,
            "background_b": BACKGROUNDS[s.background][2] / 255.0,
            "x": x,
            "y": y,
            "vx": dx * s.speed * sx,
            "vy": dy * s.speed * sy,
            "speed": s.speed,
            "luminance": float(lum.mean()),
            "contrast": float(lum.std()),
        }
        yield frame, feats


def render_audio(scenes: list[Scene], duration: float, sfreq: int, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 waveform: per scene a tone (pitch by category) with a 3-6 Hz loudness modulation."""
    n = int(round(duration * sfreq))
    t = np.arange(n) / sfreq
    out = np.zeros(n, np.float32)
    for s in scenes:
        sel = (t >= s.onset) & (t < s.onset + s.duration)
        ts = t[sel] - s.onset
        rate = rng.uniform(3.0, 6.0)
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rate * ts - np.pi / 2)
        # 10-ms ramps at the scene boundaries avoid clicks.
        ramp = np.clip(np.minimum(ts, s.duration - ts) / 0.01, 0, 1)
        tone = np.sin(2 * np.pi * PITCH[s.category] * ts) + 0.3 * np.sin(4 * np.pi * PITCH[s.category] * ts)
        out[sel] = (0.25 * env * ramp * tone).astype(np.float32)
    out += rng.normal(0, 0.003, n).astype(np.float32)  # room noise
    return out


def audio_features(audio: np.ndarray, sfreq: int, fps: float, n_frames: int, scenes: list[Scene]) -> pd.DataFrame:
    """Per-frame RMS loudness and pitch (0 when silent) of the soundtrack."""
    hop = sfreq / fps
    rms = np.empty(n_frames)
    for f in range(n_frames):
        seg = audio[int(f * hop) : int((f + 1) * hop)]
        rms[f] = np.sqrt(np.mean(seg.astype(np.float64) ** 2)) if len(seg) else 0.0
    pitch = np.array([PITCH[scenes[_scene_at(scenes, f / fps)].category] for f in range(n_frames)])
    return pd.DataFrame({"audio_rms": rms, "audio_pitch": pitch})


def write_episode(path, scenes: list[Scene], duration: float, fps: float, height: int, width: int,
                  audio_sfreq: int, rng: np.random.Generator, progress=None) -> pd.DataFrame:
    """Encode the episode to an H.264/AAC mp4 with PyAV and return its per-frame features."""
    import av

    from ..stimuli import h264_stream

    audio = render_audio(scenes, duration, audio_sfreq, rng)
    rows = []
    with av.open(str(path), "w") as container:
        vs = h264_stream(container, int(round(fps)), height, width, crf=18)
        aus = container.add_stream("aac", rate=audio_sfreq)
        aus.layout = "mono"
        for frame, feats in render_frames(scenes, duration, fps, height, width):
            rows.append(feats)
            for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            if progress is not None:
                progress.update(1)
        for packet in vs.encode():
            container.mux(packet)
        chunk = 1024
        for i in range(0, len(audio), chunk):
            block = audio[i : i + chunk][None, :]
            af = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            af.sample_rate = audio_sfreq
            af.pts = i
            for packet in aus.encode(af):
                container.mux(packet)
        for packet in aus.encode():
            container.mux(packet)
    feats = pd.DataFrame(rows)
    return pd.concat([feats, audio_features(audio, audio_sfreq, fps, len(feats), scenes)], axis=1)


def captions_table(scenes: list[Scene]) -> pd.DataFrame:
    """The ground-truth caption sidecar: one description per scene."""
    return pd.DataFrame(
        {
            "onset": [s.onset for s in scenes],
            "duration": [s.duration for s in scenes],
            "scene": range(len(scenes)),
            "category": [s.category for s in scenes],
            "caption": [s.caption for s in scenes],
        }
    )
