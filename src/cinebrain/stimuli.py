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

from .settings import setting


class StimulusError(ValueError):
    """A stimulus file cannot be decoded or cut as configured."""


@dataclass(frozen=True)
class ClipSettings:
    """How episodes become clips (config section ``stimuli``); defaults are CineBrain's."""

    clip_seconds: float = setting(4.0, "clip length in seconds (a whole number of TRs)", exclusiveMinimum=0)
    fps: float = setting(8.0, "frames per second of a clip", exclusiveMinimum=0)
    frames: int = setting(33, "frames per clip (clip_seconds x fps + 1: both ends included)", minimum=1)
    height: int = setting(480, "clip frame height in pixels (resized and centre-cropped)", minimum=2)
    width: int = setting(720, "clip frame width in pixels", minimum=2)
    audio_rates: tuple[int, ...] = setting((16000, 24000), "audio of each clip, mono, at these rates in Hz (empty: "
                                           "silent films, no clip audio)", items={"type": "integer", "minimum": 1000},
                                           uniqueItems=True)  # fmt: skip
    shot_threshold: float = setting(27.0, "PySceneDetect ContentDetector threshold (mean HSV change, 0-255)",
                                    exclusiveMinimum=0)  # fmt: skip
    shot_min_seconds: float = setting(0.6, "shortest shot in seconds", minimum=0)
    detector_width: int = setting(320, "frames are downscaled to at most this width for the detector", minimum=16)
    crf: int = setting(18, "H.264 quality of the clip files (lower is better)", minimum=0, maximum=51)

    @classmethod
    def from_config(cls, section: dict) -> ClipSettings:
        from .settings import build

        return build(cls, section, "stimuli")

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


def media_info(path) -> tuple[float, bool]:
    """(duration in seconds of the video stream, whether there is an audio stream) of a media file, from one
    opening of its headers (PyAV)."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif vs.frames and vs.average_rate:
            duration = float(vs.frames / vs.average_rate)
        else:
            duration = float(c.duration / av.time_base)
        return duration, bool(c.streams.audio)


def media_duration(path) -> float:
    """Duration in seconds of the video stream of a media file (PyAV)."""
    return media_info(path)[0]


def _open(path, audio: bool = False):
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
    if audio and not container.streams.audio:
        container.close()
        raise StimulusError(f"{path}: has no audio stream, and every clip gets its audio (stimuli.audio_rates: the "
                            "clips' wav files, the Whisper transcripts, the audio decoders); fix: use the film file "
                            "with its soundtrack (e.g. ffmpeg -i film.mp4 -i sound.wav -c:v copy -c:a aac out.mp4)")  # fmt: skip
    return container


def _cover_crop(frame, height: int, width: int) -> np.ndarray:
    """Resize (area filter) so the frame covers height x width, then crop the centre: uint8 (H, W, 3)."""
    scale = max(height / frame.height, width / frame.width)
    h, w = max(height, int(round(frame.height * scale))), max(width, int(round(frame.width * scale)))
    img = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    top, left = (h - height) // 2, (w - width) // 2
    return img[top : top + height, left : left + width]


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (F, H, W, 3) frames resized and centre-cropped to height x width as clips are cut (PyAV, area)."""
    import av

    return np.stack([_cover_crop(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24"), height, width)
                     for f in frames])  # fmt: skip


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


class EpisodeDecoder:
    """Decode a film once, streaming its clips: ``for k, frames in dec.clips(): ...``.

    ``frames`` is uint8 ``(frames, H, W, 3)``; a clip is yielded as soon as its last frame is decoded, so
    memory holds one clip, not the episode (a CineBrain episode's clips are 9 GB of pixels).  After the
    loop: ``audio`` ({rate: float32 (n,)}, sample 0 = film time 0), ``cuts`` (s), ``duration``,
    ``source_fps``, ``n_source_frames``.
    """

    def __init__(self, path, settings: ClipSettings, progress: bool = False):
        settings.check()
        self.path, self.settings, self.progress = Path(path), settings, progress
        _open(path, audio=bool(settings.audio_rates)).close()  # fail early, before the caller creates anything
        self.duration = media_duration(path)
        self.n_clips = int(math.floor(self.duration / settings.clip_seconds + 1e-6))
        if self.n_clips < 1:
            raise StimulusError(
                f"{path}: the film lasts {self.duration:.2f} s, shorter than one {settings.clip_seconds}-s clip; "
                "fix: check the file, or shorten stimuli.clip_seconds"
            )
        self.audio, self.cuts, self.source_fps, self.n_source_frames = {}, [], None, 0

    def clips(self):
        import av
        from tqdm.auto import tqdm

        st = self.settings
        step, per = 1.0 / st.fps, st.frames
        # Target time of every clip frame; consecutive clips share their boundary frame.
        times = [k * st.clip_seconds + i * step for k in range(self.n_clips) for i in range(per)]
        container = _open(self.path)
        try:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"
            src_fps = self.source_fps = float(vs.average_rate or vs.guessed_rate or 24)
            streams = [vs]
            resamplers = {}
            if container.streams.audio:
                streams.append(container.streams.audio[0])
                resamplers = {r: av.AudioResampler(format="flt", layout="mono", rate=r) for r in st.audio_rates}
            chunks = {r: [] for r in resamplers}
            detector = _ShotDetector(src_fps, st.shot_threshold, st.shot_min_seconds, st.detector_width)
            start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
            half = 0.5 / src_fps
            nxt, index, last, audio_t0 = 0, 0, None, None
            buf = np.zeros((per, st.height, st.width, 3), np.uint8)
            bar = tqdm(total=int(round(self.duration * src_fps)), unit="frame", desc=f"decode {self.path.name}",
                       disable=not self.progress)  # fmt: skip

            def take(frame):
                nonlocal nxt
                k, i = divmod(nxt, per)
                buf[i] = _cover_crop(frame, st.height, st.width)
                nxt += 1
                return (k, buf.copy()) if i == per - 1 else None

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
                    while nxt < len(times) and t >= times[nxt] - half:
                        done = take(frame)
                        if done:
                            yield done
                    last = frame
                    index += 1
                    bar.update(1)
            bar.close()
            for r, res in resamplers.items():
                chunks[r] += [f.to_ndarray()[0] for f in res.resample(None)]
        except av.error.FFmpegError as e:
            raise StimulusError(
                f"{self.path}: decoding failed part-way ({e}); fix: re-encode the file (ffmpeg -i in -c:v libx264 out.mp4)"
            ) from None
        finally:
            container.close()
        if index == 0:
            raise StimulusError(f"{self.path}: no video frame could be decoded; fix: re-encode the file")
        # Target times within the last source frame's display period take that frame.
        while nxt < len(times) and times[nxt] <= index / src_fps + 1e-6:
            done = take(last)
            if done:
                yield done
        if nxt < len(times):
            raise StimulusError(
                f"{self.path}: the container says {self.duration:.2f} s but frames stop at {index / src_fps:.2f} s; "
                "fix: re-encode it"
            )
        self.audio = {r: _place(c, r, audio_t0 or 0.0) for r, c in chunks.items()}
        self.cuts = sorted(detector.cuts)
        self.n_source_frames = index


def decode_episode(path, settings: ClipSettings, progress: bool = False) -> dict:
    """The whole film in memory (small films and tests): frames ``(n_clips, frames, H, W, 3)``, audio,
    cuts, duration, source_fps, n_source_frames.  ``cut_episode`` streams instead."""
    dec = EpisodeDecoder(path, settings, progress)
    frames = np.stack([f for _, f in dec.clips()])
    return {"frames": frames, "audio": dec.audio, "cuts": dec.cuts, "duration": dec.duration,
            "source_fps": dec.source_fps, "n_source_frames": dec.n_source_frames}  # fmt: skip


def _place(chunks: list, rate: int, t0: float) -> np.ndarray:
    """Concatenate decoded audio so that sample 0 is film time 0 (a stream starting late is padded with
    silence, one starting early — negative timestamps of encoder priming — is trimmed)."""
    x = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    shift = int(round(t0 * rate))
    return np.pad(x, (shift, 0)) if shift > 0 else x[-shift:]


def h264_stream(container, fps: float, height: int, width: int, crf: int = 18):
    """An H.264 (libx264, yuv420p, ``crf``, preset veryfast) video stream of a PyAV output container: the one
    place where the project's videos (clips, synthetic films, reconstructions) get their encoder settings.

    Not bit-exact: PyAV 18.1's libx264 (FFmpeg 8) sometimes writes a different bitstream for the same frames
    (decoded frames up to ~25 grey levels apart at a few pixels) — measured on a 33-frame 64 x 96 clip, 5 of
    150 encodings on an idle machine and 7 of 120 on a busy one, with frame threads (the default); on one
    thread still 2 of 150 idle and 14 of 120 busy, and every clip of the demo came out different from the
    threaded result, so the default is kept (README, "Known problems")."""
    from fractions import Fraction

    s = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    s.height, s.width = height, width
    s.pix_fmt = "yuv420p"
    s.options = {"crf": str(crf), "preset": "veryfast"}
    return s


def write_video(path, frames: np.ndarray, fps: float, crf: int = 18) -> None:
    """Write uint8 (T, H, W, 3) frames as an H.264 mp4 (PyAV; reproducible: :func:`h264_stream`)."""
    import av

    with av.open(str(path), "w") as c:
        s = h264_stream(c, fps, *frames.shape[1:3], crf=crf)
        for f in frames:
            for packet in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def sample_frames(clip: np.ndarray, n: int) -> np.ndarray:
    """``n`` frames spread evenly over a clip (the first and the last included)."""
    return clip[np.round(np.linspace(0, len(clip) - 1, n)).astype(int)]


def read_video(path, with_rate: bool = False):
    """All frames of a video file as uint8 (T, H, W, 3) (PyAV); with ``with_rate``, (frames, frames per second)."""
    c = _open(path)
    try:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        return (frames, float(c.streams.video[0].average_rate)) if with_rate else frames
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

    out_dir = Path(out_dir)
    dec = EpisodeDecoder(path, settings, progress=progress)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        rows = []
        for k, frames in dec.clips():
            start, end = k * settings.clip_seconds, (k + 1) * settings.clip_seconds
            name = clip_name(episode, k)
            write_video(tmp / f"{name}.mp4", frames, settings.fps, settings.crf)
            rows.append({"episode": episode, "clip": name, "clip_index": k, "start": start, "end": end,
                         "n_frames": settings.frames, "fps": settings.fps, "height": settings.height,
                         "width": settings.width, "video": str(out_dir / f"{name}.mp4")})  # fmt: skip
        # Cuts and audio are known once the whole film is decoded.
        cuts = np.array(dec.cuts)
        for row in rows:
            start, end, name = row["start"], row["end"], row["clip"]
            inside = cuts[(cuts > start + 1e-6) & (cuts < end - 1e-6)]
            row.update(has_cut=bool(len(inside)), n_cuts=int(len(inside)), cut_times=[float(c) for c in inside - start])
            for rate, audio in dec.audio.items():
                a, b = int(round(start * rate)), int(round(end * rate))
                seg = audio[a:b]
                if len(seg) < b - a:  # the audio track ends early: pad with silence, and say so
                    seg = np.pad(seg, (0, b - a - len(seg)))
                    row[f"audio_padded_{rate}"] = True
                write_wav(tmp / f"{name}_sr-{rate}.wav", seg, rate)
                row[f"audio_{rate}"] = str(out_dir / f"{name}_sr-{rate}.wav")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    table = pd.DataFrame(rows)
    (tmp / "episode.json").write_text(json.dumps({
        "Episode": episode, "Source": str(path), "Duration": dec.duration, "SourceFrameRate": dec.source_fps,
        "SourceFrames": dec.n_source_frames, "Cuts": dec.cuts, "ShotDetector": {
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
    from .atomic import atomic_files

    with atomic_files(table) as tmp:
        t.to_parquet(tmp)


def episode_clips(clips, episode: str) -> pd.DataFrame:
    """The clips of one episode in clip order, from ``clips.parquet`` (a path or a table)."""
    table = clips if isinstance(clips, pd.DataFrame) else pd.read_parquet(clips)
    out = table[table["episode"] == episode].sort_values("clip_index", ignore_index=True)
    if out.empty:
        raise StimulusError(f"no clip of episode {episode} in the clip table; fix: re-run stimuli_cut for it")
    return out


def collect_clips(tables, out) -> pd.DataFrame:
    """Rule ``stimuli_table``: every episode's clip table in one ``clips.parquet``."""
    df = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    df = df.sort_values(["episode", "clip_index"], ignore_index=True)
    df.to_parquet(out)
    return df
