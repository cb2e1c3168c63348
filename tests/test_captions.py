"""Captions (cinebrain.captions): sidecar, VLM and Whisper backends on tiny models, and superclasses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cinebrain.captions import (
    CaptionError,
    Source,
    WordListCategorizer,
    caption_episode,
    clip_video,
    generate_answers,
    load_superclasses,
    load_vlm,
    parse_category_answer,  # fmt: skip
    resolve_resource,
    sidecar_captions,
    vlm_inputs,
)

from .conftest import CAPTION_RESOURCES


def _clips(clips, episode="ep01"):
    t = pd.read_parquet(clips / "clips.parquet")
    return t[t["episode"] == episode].reset_index(drop=True)


def test_superclasses_are_cineneurons_15():
    classes = load_superclasses(CAPTION_RESOURCES["wordlist"])
    assert list(classes) == ["accessory", "animal", "appliance", "electronic", "food", "furniture", "indoor",
                             "kitchen", "man", "others", "outdoor", "crowd", "sports", "vehicle", "woman"]  # fmt: skip
    words = [w for ws in classes.values() for w in ws]
    assert len(words) == len(set(words))  # every noun maps to one superclass


@pytest.mark.parametrize(("text", "nouns", "cats"), [
    ("Two women walk a dog past a red car.", ["women", "dog", "car"], ["animal", "crowd", "vehicle"]),
    ("A man puts his glasses on a dining table next to the puppies", ["dining table", "man", "glasses", "puppy"],
     ["accessory", "animal", "furniture", "man"]),
    ("A blue cross moves right across a teal background.", ["cross"], ["others"]),
    ("Nothing here matches.", [], []),
])  # fmt: skip
def test_word_list_categories(text, nouns, cats):
    assert WordListCategorizer(load_superclasses(CAPTION_RESOURCES["wordlist"]))(text) == (nouns, cats)


def test_vlm_category_answer_is_parsed():
    classes = load_superclasses(CAPTION_RESOURCES["wordlist"])
    ans = 'Sure! {"nouns": ["woman", "cup"], "categories": ["Woman", "kitchen", "spaceship"]} Hope this helps.'
    assert parse_category_answer(ans, classes) == (["woman", "cup"], ["kitchen", "woman"])
    assert parse_category_answer("no JSON at all", classes) == ([], [])
    assert parse_category_answer('{"categories": "man"', classes) == ([], [])


def test_sidecar_gives_the_overlapping_scenes_largest_first(synth, clips):
    table = _clips(clips, "ep02")
    truth = pd.read_csv(synth / "bids/stimuli/ep02_captions.tsv", sep="\t")
    texts = sidecar_captions(table, synth / "bids/stimuli/ep02_captions.tsv", n=3)
    for (_, c), got in zip(table.iterrows(), texts, strict=True):
        ov = (truth["onset"] + truth["duration"]).clip(upper=c["end"]) - truth["onset"].clip(lower=c["start"])
        want = truth.loc[ov[ov > 0].sort_values(ascending=False, kind="stable").index, "caption"].tolist()[:3]
        assert got == want
        assert len(got) == min(3, 1 + c["n_cuts"])  # one scene per shot in the clip
    with pytest.raises(CaptionError, match="no caption sidecar"):
        sidecar_captions(table, synth / "bids/stimuli/none.tsv", n=1)


def test_source_settings_are_checked():
    with pytest.raises(CaptionError, match="backend vlm needs 'model'"):
        Source(name="q", backend="vlm", prompt="qwen2.5-vl.txt")
    with pytest.raises(CaptionError, match="needs 'prompt'"):
        Source(name="q", backend="vlm", model="m")
    with pytest.raises(CaptionError, match="not one of"):
        Source(name="q", backend="blip")
    with pytest.raises(CaptionError, match=r"'frames' \(8\) and 'fps' \(2.0\) both.*fix: set one of them"):
        Source(name="q", backend="vlm", model="m", prompt="p", frames=8, fps=2.0)


def _first_clips(clips, n):
    return [clip_video(v) for v in _clips(clips)["video"][:n]]


def test_clip_video_carries_the_clips_rate(clips):
    (frames, meta), = _first_clips(clips, 1)
    assert frames.shape == (33, 48, 64, 3) and frames.dtype == np.uint8  # the SMALL dataset: 4 s at 8 fps
    assert meta == {"total_num_frames": 33, "fps": 8.0, "duration": 33 / 8, "height": 48, "width": 64,
                    "video_backend": "pyav"}  # fmt: skip


@pytest.mark.parametrize(("sampling", "frames_shown"), [({}, 33), ({"frames": 8}, 8), ({"fps": 2.0}, 8)])
def test_qwen2_5_vl_sees_the_clip_as_a_video(clips, tiny_models, sampling, frames_shown):
    """Qwen2.5-VL's stock processor: frames in pairs (temporal patch 2, an odd count padded), resized to
    multiples of 28 px (48 x 64 -> 56 x 56: 4 x 4 patches of 14 px), 2 x 2 patches merged into one token,
    and the seconds per temporal patch from the rate of the frames shown."""
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_models / "qwen2_5_vl")
    inputs = vlm_inputs(proc, ["Describe the video.", "Describe it."], _first_clips(clips, 2), **sampling)
    grid_t = -(-frames_shown // 2)
    assert inputs["video_grid_thw"].tolist() == [[grid_t, 4, 4]] * 2
    assert inputs["pixel_values_videos"].shape == (2 * grid_t * 4 * 4, 3 * 2 * 14 * 14)
    video_pad = proc.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert (inputs["input_ids"] == video_pad).sum(1).tolist() == [grid_t * 4 * 4 // 4] * 2
    shown_fps = 8.0 if not sampling else frames_shown / 33 * 8.0  # transformers' VideoMetadata.sampled_fps
    assert inputs["second_per_grid_ts"] == pytest.approx([2 / shown_fps] * 2)
    prompt = proc.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    assert "<|vision_start|><|video_pad|>" in prompt and prompt.endswith("Describe the video.<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize(("sampling", "frames_shown"), [({}, 33), ({"frames": 8}, 8)])
def test_llava_video_sees_the_clip_as_a_video(clips, tiny_models, sampling, frames_shown):
    """LLaVA-Video (LLaVA-OneVision's stock processor): every frame resized to the tower's 56 x 56 (4 x 4
    patches), pooled 2 x 2 into 4 tokens, plus one newline token per video."""
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_models / "llava_video")
    inputs = vlm_inputs(proc, ["Describe the video."], _first_clips(clips, 1), **sampling)
    assert inputs["pixel_values_videos"].shape == (1, frames_shown, 3, 56, 56)
    assert (inputs["input_ids"] == proc.tokenizer.convert_tokens_to_ids("<video>")).sum() == frames_shown * 4 + 1


@pytest.mark.parametrize("name", ["qwen2_5_vl", "llava_video"])
def test_the_video_reaches_the_language_model(clips, tiny_models, name):
    """The next-token logits after the prompt depend on the clip shown (and only on it)."""
    import torch

    proc, net = load_vlm(str(tiny_models / name))
    a, b = _first_clips(clips, 2)
    with torch.no_grad():
        logits = [net(**vlm_inputs(proc, ["Describe the video."], [v])).logits[0, -1] for v in (a, a, b)]
    assert torch.equal(logits[0], logits[1])
    assert (logits[0] - logits[2]).abs().max() > 1e-4


def test_too_few_frames_for_qwens_temporal_patch_is_refused(clips, tiny_models):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_models / "qwen2_5_vl")
    with pytest.raises(CaptionError, match="frames: 1 is fewer than Qwen2VLVideoProcessor's temporal patch of 2"):
        vlm_inputs(proc, ["Describe the video."], _first_clips(clips, 1), frames=1)
    assert vlm_inputs(proc, ["Describe the video."], _first_clips(clips, 1), frames=2)["video_grid_thw"][0, 0] == 1


def test_a_vlm_without_a_video_processor_is_refused(tiny_models):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_models / "clip")
    with pytest.raises(CaptionError, match="CLIPProcessor has no video processor.*fix: use a video-language model"):
        vlm_inputs(proc, ["Describe the video."], [(np.zeros((4, 8, 8, 3), np.uint8), {"total_num_frames": 4})])


def test_vlm_and_whisper_end_to_end_on_tiny_models(synth, clips, tiny_models, tmp_path):
    """The real loading code (AutoProcessor/AutoModel*.from_pretrained) on tiny random models of the paper's
    captioners (Qwen2.5-VL, LLaVA-Video) and Whisper; Qwen2.5-VL also does the categories."""
    qwen, llava = str(tiny_models / "qwen2_5_vl"), str(tiny_models / "llava_video")
    sources = [
        {"name": "truth", "backend": "sidecar", "n": 2},
        {"name": "qwen2.5-vl", "backend": "vlm", "model": qwen, "prompt": "qwen2.5-vl.txt", "n": 2,
         "max_new_tokens": 6, "batch_size": 4},
        {"name": "llava-video", "backend": "vlm", "model": llava, "prompt": "llava-video.txt", "frames": 8,
         "max_new_tokens": 6, "batch_size": 3},
        {"name": "whisper", "backend": "whisper", "model": str(tiny_models / "whisper"), "max_new_tokens": 6},
        {"name": "whisper_de", "backend": "whisper", "model": str(tiny_models / "whisper"), "max_new_tokens": 6,
         "language": "de"},
    ]  # fmt: skip
    out, cats = tmp_path / "ep01.parquet", tmp_path / "ep01_categories.parquet"
    table = caption_episode(clips / "clips.parquet", "ep01", sources, {"backend": "vlm", "source": "qwen2.5-vl",
                            "model": qwen, "max_new_tokens": 8}, sidecar_dir=synth / "bids/stimuli",
                            **CAPTION_RESOURCES, out=out, out_categories=cats)  # fmt: skip
    assert table.equals(pd.read_parquet(out))
    per = table.groupby("source").size()
    assert per.drop("truth").to_dict() == {"llava-video": 10, "qwen2.5-vl": 20, "whisper": 10, "whisper_de": 10}  # n x 10
    vlm = table[table["source"] == "qwen2.5-vl"]
    assert set(vlm["caption_index"]) == {0, 1} and (vlm["model"] == qwen).all()
    # a clip's greedy caption is what the model answers to that clip alone: batching changes nothing
    for name, model, sampling in [("qwen2.5-vl", qwen, {}), ("llava-video", llava, {"frames": 8})]:
        proc, net = load_vlm(model)
        prompt = resolve_resource(f"{name}.txt", CAPTION_RESOURCES["prompt_dir"]).read_text().strip()
        v = _first_clips(clips, 4)[3]
        alone = generate_answers(proc, net, vlm_inputs(proc, [prompt], [v], **sampling), max_new_tokens=6,
                          temperature=None, device="cpu")[0]  # fmt: skip
        first = table[(table["source"] == name) & (table["caption_index"] == 0)]
        assert first["text"].iloc[3] == alone.strip(), name
    wh = table[table["source"] == "whisper"]
    assert wh["language"].isin(["en", "zh", "de", "fr", "es"]).all()  # detected per clip
    assert (table.loc[table["source"] == "whisper_de", "language"] == "de").all()
    for seg in map(json.loads, wh["segments"]):
        assert all(0 <= s["start"] <= 30 and (s["end"] is None or s["start"] <= s["end"]) for s in seg)
    c = pd.read_parquet(cats)
    assert len(c) == 10 and [k for k in c if k.startswith("cat_")][:2] == ["cat_accessory", "cat_animal"]
    assert c[[k for k in c if k.startswith("cat_")]].isin([0, 1]).all().all()


def test_vlm_prompt_file_must_exist(clips, tiny_models, tmp_path):
    src = [{"name": "q", "backend": "vlm", "model": str(tiny_models / "qwen2_5_vl"), "prompt": "nope.txt"}]
    with pytest.raises(CaptionError, match="nope.txt: no such file"):
        caption_episode(clips / "clips.parquet", "ep01", src, {"backend": "wordlist", "source": "q"},
                        **CAPTION_RESOURCES, out=tmp_path / "c.parquet", out_categories=tmp_path / "k.parquet")  # fmt: skip
    assert not (tmp_path / "c.parquet").exists()


def test_categories_must_name_a_caption_source(clips, tmp_path):
    with pytest.raises(CaptionError, match=r"captions.categories.source is 'qwen'.*\['truth'\]"):
        caption_episode(clips / "clips.parquet", "ep01", [{"name": "truth", "backend": "sidecar"}],
                        {"backend": "wordlist", "source": "qwen"}, **CAPTION_RESOURCES, out=tmp_path / "c.parquet",
                        out_categories=tmp_path / "k.parquet")  # fmt: skip
    assert not (tmp_path / "c.parquet").exists()
