"""Film episodes -> the clips the decoders learn: frames, audio, shot boundaries (PyAV + PySceneDetect).

CineBrain (section 3.2): every episode is cut into consecutive 4-s clips of 33 frames at 8 fps, resized
and centre-cropped to 480 x 720 (H x W), with the episode's audio cut into the same 4-s windows.  Clip
``k`` covers stimulus time ``[k * clip_seconds, (k + 1) * clip_seconds]`` (seconds from the start of the
film); its frame ``i`` is the source frame nearest to ``k * clip_seconds + i / fps``, so the 33rd frame
of a clip is the first frame of the next one (CogVideoX generates 8k + 1 frames).  A clip is only made
when its whole window lies inside the film.

Shot boundaries: PySceneDetect's ``ContentDetector`` (the detector its documentation recommends for
hard cuts: the mean absolute frame-to-frame change of hue, saturation and luminance, in HSV, above a
threshold of 27 on a 0-255 scale, with no two cuts closer than ``shot_min_seconds``), run on every
source frame downscaled to at most 320 pixels wide.  A clip "contains a cut" when a detected cut falls
strictly inside its window; cuts exactly on a clip boundary are not inside any clip.

The episode is decoded once (video and audio packets demuxed in one pass, PyAV's threaded decoder);
audio is resampled by libswresample (PyAV ``AudioResampler``) to mono at each configured rate.
"""

from __future__ import annotations

import json
import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of ``clips.parquet`` (one row per clip).
CLIP_COLUMNS = [
    "episode", "clip", "clip_index", "start", "end", "n_frames", "fps", "height", "width",
    "has_cut", "n_cuts", "cut_times", "video",
]  # fmt: skip  (then audio_<rate>: the wav of each audio rate)


class StimulusError(ValueError):
    """A stimulus file cannot be decoded or cut as configured."""


@dataclass(frozen=True)
class ClipSettings:
    """How episodes become clips (config section ``stimuli``); defaults are CineBrain's."""

    clip_seconds: float = 4.0
    fps: float = 8.0
    frames: int = 33
    height: int = 480
    width: int = 720
    audio_rates: tuple = (16000, 24000)
    shot_threshold: float = 27.0
    shot_min_seconds: float = 0.6
    detector_width: int = 320
    crf: int = 18

    @classmethod
    def from_config(cls, section: dict) -> ClipSettings:
        s = dict(section)
        if "audio_rates" in s:
            s["audio_rates"] = tuple(int(r) for r in s["audio_rates"])
        return cls(**s)

    def check(self) -> None:
        """Raise StimulusError if the clip geometry is inconsistent."""
        n = self.clip_seconds * self.fps
        if abs(n - round(n)) > 1e-6 or int(round(n)) + 1 != self.frames:
            raise StimulusError(
                f"stimuli.frames is {self.frames} but {self.clip_seconds} s at {self.fps} fps spans "
                f"{n:g} frame intervals; fix: set stimuli.frames to {int(round(n)) + 1} "
                "(clip_seconds x fps + 1, both ends included) or change clip_seconds/fps"
            )
        if self.height % 2 or self.width % 2:
            raise StimulusError(
                f"stimuli.height x width is {self.height} x {self.width}; H.264 (yuv420p) needs even sizes; "
                "fix: use even numbers"
            )


def check_timing(clip_seconds: float, tr: float) -> int:
    """The number of volumes in a clip; StimulusError when a clip is not a whole number of TRs."""
    n = clip_seconds / tr
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        lo, hi = math.floor(n) * tr, math.ceil(n) * tr
        raise StimulusError(
            f"stimuli.clip_seconds is {clip_seconds} s, which is {n:.4g} TRs of {tr} s (dataset.tr); a clip "
            f"must span a whole number of volumes; fix: set stimuli.clip_seconds to a multiple of {tr} "
            f"(e.g. {lo:g} or {hi:g})"
        )
    return int(round(n))


def media_duration(path) -> float:
    """Duration in seconds of the video stream of a media file (PyAV)."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.duration is not None and vs.time_base is not None:
            return float(vs.duration * vs.time_base)
        if vs.frames and vs.average_rate:
            return float(vs.frames / vs.average_rate)
        return float(c.duration / av.time_base)


def _open(path):
    import av

    path = Path(path)
    if not path.exists():
        raise StimulusError(f"{path}: the stimulus file does not exist; fix: check dataset.bids_root and stim_file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise StimulusError(
            f"{path}: cannot be decoded ({e}); fix: replace it with a readable video file (e.g. re-encode with "
            "ffmpeg -i in -c:v libx264 -c:a aac out.mp4)"
        ) from None
    if not container.streams.video:
        container.close()
        raise StimulusError(f"{path}: has no video stream; fix: point stim_file at the film, not at its audio")
    return container


def _cover_crop(frame, height: int, width: int) -> np.ndarray:
    """Resize (area filter) so the frame covers height x width, then crop the centre: uint8 (H, W, 3)."""
    scale = max(height / frame.height, width / frame.width)
    h, w = max(height, int(round(frame.height * scale))), max(width, int(round(frame.width * scale)))
    img = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    top, left = (h - height) // 2, (w - width) // 2
    return img[top : top + height, left : left + width]


class _ShotDetector:
    """PySceneDetect ContentDetector fed frame by frame (see the module docstring)."""

    def __init__(self, fps: float, threshold: float, min_seconds: float, width: int):
        from scenedetect.detectors import ContentDetector

        self.fps = fps
        self.width = width
        self.detector = ContentDetector(threshold=threshold, min_scene_len=max(1, int(round(min_seconds * fps))))
        self.cuts: list[float] = []

    def __call__(self, frame, t: float, index: int) -> None:
        from scenedetect.common import FrameTimecode

        scale = min(1.0, self.width / frame.width)
        w, h = int(frame.width * scale) // 2 * 2, int(frame.height * scale) // 2 * 2
        img = frame.reformat(width=w, height=h, format="bgr24").to_ndarray()
        for tc in self.detector.process_frame(FrameTimecode(index, fps=self.fps), img):
            self.cuts.append(tc.frame_num / self.fps)


def decode_episode(path, settings: ClipSettings, progress: bool = False) -> dict:
    """Decode a film once: the clip frames, the audio at each rate, and the detected cuts.

    Returns ``{"frames": uint8 (n_clips, frames, H, W, 3), "audio": {rate: float32 (n,)}, "cuts": [s],
    "duration": s, "source_fps": fps, "n_source_frames": n}``.
    """
    import av
    from tqdm.auto import tqdm

    settings.check()
    container = _open(path)
    try:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        duration = media_duration(path)
        src_fps = float(vs.average_rate or vs.guessed_rate or 24)
        n_clips = int(math.floor(duration / settings.clip_seconds + 1e-6))
        if n_clips < 1:
            raise StimulusError(
                f"{path}: the film lasts {duration:.2f} s, shorter than one {settings.clip_seconds}-s clip; "
                "fix: check the file, or shorten stimuli.clip_seconds"
            )
        # Target times of every clip frame, consecutive clips sharing their boundary frame.
        step = 1.0 / settings.fps
        times = np.array([k * settings.clip_seconds + i * step for k in range(n_clips) for i in range(settings.frames)])
        uniq, inverse = np.unique(np.round(times, 9), return_inverse=True)
        picked = np.zeros((len(uniq), settings.height, settings.width, 3), np.uint8)
        filled = np.zeros(len(uniq), bool)
        streams = [vs]
        audio_stream = container.streams.audio[0] if container.streams.audio else None
        resamplers = {}
        if audio_stream is not None:
            streams.append(audio_stream)
            resamplers = {r: av.AudioResampler(format="flt", layout="mono", rate=r) for r in settings.audio_rates}
        chunks = {r: [] for r in resamplers}
        detector = _ShotDetector(src_fps, settings.shot_threshold, settings.shot_min_seconds, settings.detector_width)
        start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        nxt, index, last, audio_t0 = 0, 0, None, None
        half = 0.5 / src_fps
        bar = tqdm(total=int(round(duration * src_fps)), unit="frame", desc=f"decode {Path(path).name}",
                   disable=not progress)  # fmt: skip
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.AudioFrame):
                    if audio_t0 is None and frame.time is not None:
                        audio_t0 = float(frame.time) - start
                    for r, res in resamplers.items():
                        chunks[r] += [f.to_ndarray()[0] for f in res.resample(frame)]
                    continue
                t = float(frame.time) - start if frame.time is not None else index / src_fps
                detector(frame, t, index)
                while nxt < len(uniq) and t >= uniq[nxt] - half:
                    picked[nxt] = _cover_crop(frame, settings.height, settings.width)
                    filled[nxt] = True
                    nxt += 1
                last = frame
                index += 1
                bar.update(1)
        bar.close()
        for r, res in resamplers.items():
            chunks[r] += [f.to_ndarray()[0] for f in res.resample(None)]
    except av.error.FFmpegError as e:
        raise StimulusError(
            f"{path}: decoding failed part-way ({e}); fix: re-encode the file (ffmpeg -i in -c:v libx264 out.mp4)"
        ) from None
    finally:
        container.close()
    if index == 0:
        raise StimulusError(f"{path}: no video frame could be decoded; fix: re-encode the file")
    # Target times within the last source frame's display period take that frame.
    while nxt < len(uniq) and last is not None and uniq[nxt] <= index / src_fps + 1e-6:
        picked[nxt] = _cover_crop(last, settings.height, settings.width)
        filled[nxt] = True
        nxt += 1
    if not filled.all():
        raise StimulusError(
            f"{path}: the container says {duration:.2f} s but frames stop at {index / src_fps:.2f} s; fix: re-encode it"
        )
    audio = {r: _place(c, r, audio_t0 or 0.0) for r, c in chunks.items()}
    frames = picked[inverse].reshape(n_clips, settings.frames, settings.height, settings.width, 3)
    return {"frames": frames, "audio": audio, "cuts": sorted(detector.cuts), "duration": duration,
            "source_fps": src_fps, "n_source_frames": index}  # fmt: skip


def _place(chunks: list, rate: int, t0: float) -> np.ndarray:
    """Concatenate decoded audio so that sample 0 is film time 0 (a stream starting late is padded with
    silence, one starting early — negative timestamps of encoder priming — is trimmed)."""
    x = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    shift = int(round(t0 * rate))
    return np.pad(x, (shift, 0)) if shift > 0 else x[-shift:]


def write_video(path, frames: np.ndarray, fps: float, crf: int = 18) -> None:
    """Write uint8 (T, H, W, 3) frames as an H.264 mp4 (PyAV)."""
    import av
    from fractions import Fraction

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        s.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            for packet in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def read_video(path) -> np.ndarray:
    """All frames of a video file as uint8 (T, H, W, 3) (PyAV)."""
    c = _open(path)
    try:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    finally:
        c.close()


def write_wav(path, audio: np.ndarray, rate: int) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM WAV (the standard library's wave module)."""
    pcm = (np.clip(audio, -1, 1) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())


def read_wav(path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as float32 in [-1, 1] and its rate."""
    with wave.open(str(path), "rb") as w:
        rate, n = w.getframerate(), w.getnframes()
        data = np.frombuffer(w.readframes(n), "<i2").astype(np.float32) / 32767
    return data, rate


def clip_name(episode: str, k: int) -> str:
    return f"{episode}_clip-{k:04d}"


def cut_episode(path, episode: str, out_dir, settings: ClipSettings, progress: bool = False) -> pd.DataFrame:
    """Rule ``stimuli_cut``: write every clip of one episode (mp4 + one wav per audio rate) and its table.

    Everything goes to ``out_dir.tmp`` first and is renamed at the end, so a failure leaves nothing.
    """
    import shutil

    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    dec = decode_episode(path, settings, progress=progress)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    cuts = np.array(dec["cuts"])
    rows = []
    for k, frames in enumerate(tqdm(dec["frames"], desc=f"write {episode}", unit="clip", disable=not progress)):
        start, end = k * settings.clip_seconds, (k + 1) * settings.clip_seconds
        name = clip_name(episode, k)
        write_video(tmp / f"{name}.mp4", frames, settings.fps, settings.crf)
        row = {"episode": episode, "clip": name, "clip_index": k, "start": start, "end": end,
               "n_frames": settings.frames, "fps": settings.fps, "height": settings.height,
               "width": settings.width}  # fmt: skip
        inside = cuts[(cuts > start + 1e-6) & (cuts < end - 1e-6)]
        row.update(has_cut=bool(len(inside)), n_cuts=int(len(inside)), cut_times=[float(c) for c in inside - start],
                   video=str(out_dir / f"{name}.mp4"))  # fmt: skip
        for rate, audio in dec["audio"].items():
            a, b = int(round(start * rate)), int(round(end * rate))
            seg = audio[a:b]
            if len(seg) < b - a:  # the audio track ends early: pad with silence, and say so
                seg = np.pad(seg, (0, b - a - len(seg)))
                row[f"audio_padded_{rate}"] = True
            write_wav(tmp / f"{name}_sr-{rate}.wav", seg, rate)
            row[f"audio_{rate}"] = str(out_dir / f"{name}_sr-{rate}.wav")
        rows.append(row)
    table = pd.DataFrame(rows)
    (tmp / "episode.json").write_text(json.dumps({
        "Episode": episode, "Source": str(path), "Duration": dec["duration"], "SourceFrameRate": dec["source_fps"],
        "SourceFrames": dec["n_source_frames"], "Cuts": dec["cuts"], "ShotDetector": {
            "Name": "PySceneDetect ContentDetector", "Threshold": settings.shot_threshold,
            "MinSceneSeconds": settings.shot_min_seconds, "Width": settings.detector_width},
        "Clips": len(table), "AudioRates": list(settings.audio_rates),
    }, indent=1))  # fmt: skip
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return table


def cut_rule(stimulus, episode: str, out_dir, table, settings: dict) -> None:
    """Rule ``stimuli_cut``: cut one episode and write its clip table (Parquet)."""
    t = cut_episode(stimulus, episode, out_dir, ClipSettings.from_config(settings), progress=True)
    tmp = Path(str(table) + ".tmp")
    t.to_parquet(tmp)
    tmp.rename(table)


def collect_clips(tables, out) -> pd.DataFrame:
    """Rule ``stimuli_table``: every episode's clip table in one ``clips.parquet``."""
    df = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    df = df.sort_values(["episode", "clip_index"], ignore_index=True)
    df.to_parquet(out)
    return df
