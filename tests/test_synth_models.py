"""Tiny models for the demo (cinebrain.synth.models): the CLIP learns the synthetic world from its captions."""

from __future__ import annotations

import json

import numpy as np

from cinebrain.synth.models import pretrain_tiny_clip, save_tiny_clip


def test_pretrained_tiny_clip_knows_colours(tmp_path):
    import torch
    from transformers import AutoProcessor, CLIPModel

    from cinebrain.synth.stimuli import COLOURS, make_scenes, render_frames

    folder = save_tiny_clip(tmp_path / "clip")

    def colour_accuracy():
        # zero-shot: each frame of unseen scenes against "A <colour> <shape> ..." captions of its own scene
        # with the colour swapped; the right colour must win
        model, proc = CLIPModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
        scenes = make_scenes(120.0, np.random.default_rng(7))
        hits = []
        for frame, f in render_frames(scenes, 120.0, 0.5, 64, 96):
            s = scenes[f["scene"]]
            texts = [s.caption.replace(f"A {s.colour} ", f"A {c} ") for c in COLOURS]
            with torch.no_grad():
                out = model(**proc(text=texts, images=[frame], return_tensors="pt", padding=True))
            hits.append(list(COLOURS)[int(out.logits_per_image.argmax())] == s.colour)
        return float(np.mean(hits))

    before = colour_accuracy()
    info = pretrain_tiny_clip(folder, steps=300, seconds=600.0)
    after = colour_accuracy()
    assert info["loss_last"] < 0.5 * info["loss_first"]
    assert before < 0.35 and after > 0.5, (before, after)  # chance 0.2 (60 frames)
    assert json.loads((folder / "pretraining.json").read_text())["steps"] == 300


def test_no_pretraining_by_default(tmp_path):
    from cinebrain.synth.models import write_tiny_models

    out = write_tiny_models(tmp_path, models=("clip",))
    assert not (tmp_path / "clip/pretraining.json").exists() and out == {"clip": str(tmp_path / "clip")}


def test_every_tiny_tokenizer_encodes_and_round_trips(tmp_path):
    """Each tiny model's saved tokenizer, loaded as the stages load it, encodes text to tokens and decodes
    it back: an empty encoding (transformers 5 ignoring vocab_file=) left the SigLIP text path and the VLM
    prompt empty in every test."""
    from transformers import AutoProcessor, AutoTokenizer

    from cinebrain.synth.models import write_tiny_models

    text = "a red cube"
    out = write_tiny_models(tmp_path, models=("clip", "siglip", "whisper", "qwen2_5_vl", "llava_video"))
    for name, folder in out.items():
        tok = AutoTokenizer.from_pretrained(folder)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) >= 3, (name, ids)
        assert tok.decode(ids, skip_special_tokens=True).strip() == text, (name, tok.decode(ids))
        proc = AutoProcessor.from_pretrained(folder)  # the processor carries the same tokenizer
        assert proc.tokenizer(text, add_special_tokens=False)["input_ids"] == ids, name
