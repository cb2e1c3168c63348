"""Clips from the synthetic films (cinebrain.stimuli): counts, durations, frames, audio, shot boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinebrain.stimuli import (
    ClipSettings,
    StimulusError,
    check_timing,
    cut_episode,
    decode_episode,
    read_video,  # fmt: skip
    read_wav,
)
from cinebrain.synth.stimuli import PITCH

from .conftest import CLIPS, SMALL


def test_clip_counts_and_durations(clips):
    table = pd.read_parquet(clips / "clips.parquet")
    # 40-s films -> 10 clips each, 3 episodes
    assert len(table) == 30 and table.groupby("episode").size().tolist() == [10, 10, 10]
    assert (table["end"] - table["start"] == 4.0).all()
    for _, c in table.iloc[[0, 9, 15]].iterrows():
        frames = read_video(c["video"])
        assert frames.shape == (33, SMALL.height, SMALL.width, 3)
        for rate in (16000, 24000):
            audio, sr = read_wav(c[f"audio_{rate}"])
            assert sr == rate and len(audio) == 4 * rate  # exactly 4 s of mono audio per rate
    assert not any(c.startswith("audio_padded") for c in table)


def _source_frames(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_clip_frames_are_the_source_frames_at_8_fps(synth, clips):
    """Frame i of clip k is the source frame at k * 4 + i / 8 s (the 33rd is the next clip's first)."""
    src = _source_frames(synth / "bids/stimuli/ep01.mp4").astype(float)
    table = pd.read_parquet(clips / "clips.parquet")
    errs, wrong = [], []
    for k in (0, 3, 9):
        frames = read_video(table.loc[(table["episode"] == "ep01") & (table["clip_index"] == k), "video"].iloc[0])
        for i in range(0, 33, 4):
            j = min(int(round((4 * k + i / 8) * SMALL.fps)), len(src) - 1)
            errs.append(np.abs(frames[i] - src[j]).mean())
            wrong.append(np.abs(frames[i] - src[max(j - 6, 0)]).mean())  # 0.5 s earlier
    assert max(errs) < 4.0  # two H.264 generations at crf 18
    assert np.median(wrong) > 2 * np.median(errs)
    last, first = read_video(table["video"].iloc[0])[-1], read_video(table["video"].iloc[1])[0]
    assert np.abs(last.astype(float) - first).mean() < 4.0


def test_shot_boundaries_match_the_truth(synth, clips):
    import json

    truth = pd.read_parquet(synth / "truth/stimuli/ep02_features.parquet")
    true_cuts = truth.loc[truth["cut"] == 1, "time"].to_numpy()
    found = np.array(json.loads((clips / "ep02/episode.json").read_text())["Cuts"])
    assert len(found) == len(true_cuts)
    assert np.abs(found - true_cuts).max() <= 1 / SMALL.fps + 1e-6  # within one source frame
    table = pd.read_parquet(clips / "clips.parquet").query("episode == 'ep02'")
    expected = [bool(((true_cuts > s) & (true_cuts < e)).any()) for s, e in zip(table["start"], table["end"], strict=True)]
    assert table["has_cut"].tolist() == expected and any(expected) and not all(expected)


def test_clip_audio_is_the_scene_tone(synth, clips):
    """The 16-kHz audio of a clip without a cut has its scene's tone as the dominant frequency."""
    table = pd.read_parquet(clips / "clips.parquet").query("episode == 'ep03' and not has_cut")
    truth = pd.read_csv(synth / "bids/stimuli/ep03_captions.tsv", sep="\t")
    assert len(table)
    for _, c in table.iterrows():
        audio, sr = read_wav(c["audio_16000"])
        spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak = np.fft.rfftfreq(len(audio), 1 / sr)[spec.argmax()]
        mid = (c["start"] + c["end"]) / 2
        scene = truth[(truth["onset"] <= mid) & (truth["onset"] + truth["duration"] > mid)].iloc[0]
        assert peak == pytest.approx(PITCH[scene["category"]], abs=1.0)


def test_undecodable_stimulus_is_a_clear_error(tmp_path):
    bad = tmp_path / "ep09.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(StimulusError, match=r"ep09.mp4: cannot be decoded .*fix: replace it"):
        cut_episode(bad, "ep09", tmp_path / "out", ClipSettings(**CLIPS))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()
    with pytest.raises(StimulusError, match="does not exist"):
        decode_episode(tmp_path / "missing.mp4", ClipSettings(**CLIPS))


def test_audio_only_file_is_refused(tmp_path):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        f.sample_rate, f.pts = 16000, 0
        for p in [*s.encode(f), *s.encode()]:
            c.mux(p)
    with pytest.raises(StimulusError, match="has no video stream"):
        decode_episode(path, ClipSettings(**CLIPS))


def test_clip_length_must_be_whole_trs():
    assert check_timing(4.0, 0.8) == 5 and check_timing(1.6, 0.8) == 2
    with pytest.raises(StimulusError, match=r"4.2 s, which is 5.25 TRs of 0.8 s .* set stimuli.clip_seconds to a "
                                            r"multiple of 0.8 \(e.g. 4 or 4.8\)"):  # fmt: skip
        check_timing(4.2, 0.8)
    with pytest.raises(StimulusError, match="set stimuli.frames to 33"):
        ClipSettings(frames=32).check()
    with pytest.raises(StimulusError, match="even"):
        ClipSettings(height=61).check()


def test_film_without_audio_is_refused(tmp_path, bids_copy):
    """A film without its soundtrack would give clips without audio: refused when cut, and by the inventory."""
    from cinebrain.bids import BIDSDatasetError, InventoryOptions, build_inventory
    from cinebrain.stimuli import write_video

    frames = np.zeros((40, 48, 64, 3), np.uint8)
    silent = tmp_path / "silent.mp4"
    write_video(silent, frames, 8.0, 18)
    with pytest.raises(StimulusError, match=r"silent.mp4: has no audio stream.*fix: use the film file with its "
                                            r"soundtrack"):  # fmt: skip
        decode_episode(silent, ClipSettings(**CLIPS))
    film = bids_copy / "stimuli/ep01.mp4"
    film.unlink()
    film.write_bytes(silent.read_bytes())
    with pytest.raises(BIDSDatasetError, match=r"ep01.mp4: has no audio stream"):
        build_inventory(bids_copy, InventoryOptions())
    # a silent film's dataset (cc2017's films) says so: stimuli.audio_rates empty, clips without audio
    table = cut_episode(silent, "ep01", tmp_path / "clips", ClipSettings(**{**CLIPS, "audio_rates": ()}))
    assert len(table) and not [c for c in table if c.startswith("audio")]
