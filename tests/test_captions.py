"""Captions (cinebrain.captions): sidecar, VLM and Whisper backends on tiny models, and superclasses."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cinebrain.captions import (
    CaptionError,
    Source,
    WordListCategorizer,
    caption_episode,
    load_superclasses,
    parse_category_answer,  # fmt: skip
    sidecar_captions,
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


def test_vlm_and_whisper_end_to_end_on_tiny_models(synth, clips, tiny_models, tmp_path):
    """The real loading code (AutoProcessor/AutoModel*.from_pretrained) on tiny random models."""
    sources = [
        {"name": "truth", "backend": "sidecar", "n": 2},
        {"name": "llava", "backend": "vlm", "model": str(tiny_models / "llava"), "prompt": "llava-video.txt", "n": 2,
         "frames": 3, "max_new_tokens": 6, "batch_size": 4},
        {"name": "whisper", "backend": "whisper", "model": str(tiny_models / "whisper"), "max_new_tokens": 6},
        {"name": "whisper_de", "backend": "whisper", "model": str(tiny_models / "whisper"), "max_new_tokens": 6,
         "language": "de"},
    ]  # fmt: skip
    out, cats = tmp_path / "ep01.parquet", tmp_path / "ep01_categories.parquet"
    table = caption_episode(clips / "clips.parquet", "ep01", sources, {"backend": "vlm", "source": "llava",
                            "model": str(tiny_models / "llava"), "max_new_tokens": 8}, sidecar_dir=synth / "bids/stimuli",
                            **CAPTION_RESOURCES, out=out, out_categories=cats)  # fmt: skip
    assert table.equals(pd.read_parquet(out))
    per = table.groupby("source").size()
    assert per["llava"] == 20 and per["whisper"] == 10 and per["whisper_de"] == 10  # n per clip, 10 clips
    vlm = table[table["source"] == "llava"]
    assert set(vlm["caption_index"]) == {0, 1} and (vlm["model"] == str(tiny_models / "llava")).all()
    assert vlm["text"].map(type).eq(str).all()
    wh = table[table["source"] == "whisper"]
    assert wh["language"].isin(["en", "zh", "de", "fr", "es"]).all()  # detected per clip
    assert (table.loc[table["source"] == "whisper_de", "language"] == "de").all()
    for seg in map(json.loads, wh["segments"]):
        assert all(0 <= s["start"] <= 30 and (s["end"] is None or s["start"] <= s["end"]) for s in seg)
    c = pd.read_parquet(cats)
    assert len(c) == 10 and [k for k in c if k.startswith("cat_")][:2] == ["cat_accessory", "cat_animal"]
    assert c[[k for k in c if k.startswith("cat_")]].isin([0, 1]).all().all()


def test_vlm_prompt_file_must_exist(clips, tiny_models, tmp_path):
    src = [{"name": "q", "backend": "vlm", "model": str(tiny_models / "llava"), "prompt": "nope.txt"}]
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
