"""Tiny models for the demo (cinebrain.synth.models): the CLIP learns the synthetic world from its captions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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


def test_cineneuron_tiny_tokenizers_encode_and_round_trip(tmp_path):
    """The X-CLIP's tokenizer and the tiny Wan pipeline's T5-style one (its UMT5's) encode every byte of a
    caption, end it with </s> (Wan's), and decode it back."""
    from transformers import AutoProcessor, AutoTokenizer

    from cinebrain.synth.models import write_tiny_models

    text = "a red cube moves left"
    out = write_tiny_models(tmp_path, models=("xclip", "wan"))
    xclip = AutoTokenizer.from_pretrained(out["xclip"])
    ids = xclip(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text.replace(" ", "")) and xclip.decode(ids).strip() == text  # CLIP: bytes, word ends marked
    assert AutoProcessor.from_pretrained(out["xclip"]).tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    wan = AutoTokenizer.from_pretrained(f"{out['wan']}/tokenizer")
    ids = wan(text)["input_ids"]
    assert len(ids) == len(text) + 1 and ids[-1] == wan.eos_token_id
    assert wan.decode(ids, skip_special_tokens=True) == text


def test_world_corpus_is_clips_of_the_synthetic_world():
    """Clips of the dataset's size and frame count, no cut, labelled by their scene; deterministic per seed."""
    from cinebrain.synth.pretrain import IMAGE_LABELS, VIDEO_LABELS, render_corpus
    from cinebrain.synth.stimuli import BACKGROUNDS, COLOURS

    a, b = render_corpus(6, seed=3), render_corpus(6, seed=3)
    assert a.clips.shape == (6, 33, 64, 96, 3) and a.clips.dtype == np.uint8
    assert np.array_equal(a.clips, b.clips) and a.captions == b.captions
    assert not np.array_equal(a.clips, render_corpus(6, seed=4).clips)
    for clip, scene, im, vid in zip(a.clips, a.scenes, a.image_labels(), a.video_labels(), strict=True):
        assert IMAGE_LABELS[im] == f"{scene.colour} {scene.category} on {scene.background}"
        assert VIDEO_LABELS[vid] == f"{scene.colour} {scene.category} moving {scene.direction}"
        # the corner pixel is the scene's background (upper half: no drift), the shape's colour is present
        assert np.abs(clip[0, 0, 0].astype(int) - BACKGROUNDS[scene.background]).max() <= 30
        assert (np.abs(clip.astype(int) - COLOURS[scene.colour]).max(-1) <= 30).any()
    train, test = a.split(2)
    assert len(train.clips) == 4 and test.scenes == a.scenes[4:]


def test_world_clips_move_the_way_their_captions_say():
    """Every clip shows the direction its caption names from its first frame to its last: the shape's
    centroid moves that way and never back (no bounce within a scene), by at least 10 pixels."""
    from cinebrain.synth.pretrain import render_corpus
    from cinebrain.synth.stimuli import COLOURS, DIRECTIONS

    corpus = render_corpus(40, seed=5)
    for clip, scene in zip(corpus.clips, corpus.scenes, strict=True):
        mask = np.abs(clip.astype(int) - COLOURS[scene.colour]).max(-1) <= 30  # (F, H, W)
        yy, xx = np.mgrid[0 : clip.shape[1], 0 : clip.shape[2]]
        centre = np.array([[(xx * m).sum() / m.sum(), (yy * m).sum() / m.sum()] for m in mask])  # (F, 2) x, y
        along = centre @ np.array(DIRECTIONS[scene.direction])  # position along the named direction
        assert along[-1] - along[0] > 10, (scene, along)
        assert (np.diff(along) > -1.5).all(), (scene, along)  # (a pixel of jitter: the resize)


@pytest.mark.slow
def test_pretrained_world_models(tmp_path):
    """The models_world_* rules: the VAE learns to reconstruct held-out clips, the transformer to use the
    caption (its prediction of a held-out clip from pure noise is better with the clip's own caption than with
    the zeroed embedding), the judges to classify held-out renders above chance; the world pipeline is a
    text-to-video pipeline with the tiny CLIP's text encoder."""
    import torch
    from diffusers import CogVideoXPipeline

    from cinebrain.synth import pretrain
    from cinebrain.synth.models import write_tiny_models

    tiny, world = tmp_path / "tiny", tmp_path / "world"
    write_tiny_models(tiny, models=("clip", "cogvideox"))
    vae = pretrain.world_vae(world / "cogvideox/vae", steps=40, clips=72)
    assert vae["loss_last"] < 0.5 * vae["loss_first"] and vae["held_out"]["psnr"] > 14, vae
    tr = pretrain.world_generator(tiny, world / "cogvideox/vae", world / "cogvideox", steps=150, clips=72)
    assert tr["loss_last"] < tr["loss_first"], tr
    assert tr["held_out_x0_mse_from_noise"]["own_caption"] < tr["held_out_x0_mse_from_noise"]["zeroed"], tr
    judges = pretrain.world_judges(world / "vit", world / "videomae", steps=300, images=256, clips=512)
    for judge, acc in ((j, judges[j]["held_out"]) for j in ("image_classifier", "video_classifier")):
        assert acc["top3"] > 3 * 3 * acc["chance_top1"], (judge, acc)
    assert json.loads((world / "vit/pretraining.json").read_text())["steps"] == 300
    pipe = CogVideoXPipeline.from_pretrained(world / "cogvideox")
    caption = "A red circle moves left across a navy background."
    emb = pipe.encode_prompt([caption], do_classifier_free_guidance=False,
                             max_sequence_length=pipe.transformer.config.max_text_seq_length)[0]  # fmt: skip
    assert emb.shape == (1, 77, 32)
    assert torch.allclose(emb, pretrain.text_embeddings(pipe.text_encoder, pipe.tokenizer, [caption], 77))
    with pytest.raises(ValueError, match="must be"):
        pretrain.world_generator(tiny, tmp_path / "elsewhere", world / "cogvideox", steps=0)


def test_judged_attributes_marginalise_each_judges_classes(tmp_path):
    """judge_attributes sums a judge's class probabilities over the other attributes: judges whose every
    answer is one class ("green star on teal"; "magenta cross moving up") name that class's attributes for
    any clip; attribute_accuracy scores them against the scenes, with each attribute's chance."""
    import torch

    from cinebrain.synth import pretrain
    from cinebrain.synth.models import save_tiny_videomae, save_tiny_vit

    vit, vmae = save_tiny_vit(tmp_path / "vit"), save_tiny_videomae(tmp_path / "videomae")
    for folder, cls, label in ((vit, "ViTForImageClassification", "green star on teal"),
                               (vmae, "VideoMAEForVideoClassification", "magenta cross moving up")):  # fmt: skip
        import transformers

        model = getattr(transformers, cls).from_pretrained(folder)
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.fill_(-10.0)
            model.classifier.bias[model.config.label2id[label]] = 10.0
        model.save_pretrained(folder)
    corpus = pretrain.render_corpus(4, seed=2, frames=16)
    judged = pretrain.judge_attributes(vit, vmae, corpus.clips)
    assert judged == {"image": {"shape": ["star"] * 4, "colour": ["green"] * 4, "background": ["teal"] * 4},
                      "video": {"shape": ["cross"] * 4, "colour": ["magenta"] * 4, "direction": ["up"] * 4}}  # fmt: skip
    acc = pretrain.attribute_accuracy(judged, corpus.scenes)
    assert acc["video"]["direction"] == {"accuracy": np.mean([s.direction == "up" for s in corpus.scenes]), "chance": 0.25}
    assert acc["image"]["background"]["accuracy"] == np.mean([s.background == "teal" for s in corpus.scenes])
    assert acc["image"]["shape"]["chance"] == 0.2


def _same_weights(a, b) -> bool:
    from safetensors.torch import load_file

    fa, fb = sorted(Path(a).rglob("*.safetensors")), sorted(Path(b).rglob("*.safetensors"))
    assert [f.relative_to(a) for f in fa] == [f.relative_to(b) for f in fb] and fa, (fa, fb)
    return all(all((x == load_file(g)[k]).all() for k, x in load_file(f).items()) for f, g in zip(fa, fb, strict=True))


def test_world_rules_copy_a_shipped_world_that_matches_and_train_a_stale_one(tmp_path, capsys):
    """The shipped world (models.tiny.world_cache) is copied, weights unchanged, while its manifest's key is
    the current code's and settings'; a changed setting or a missing manifest makes the rules train."""
    from cinebrain.synth import pretrain

    settings = {k: 0 for k in pretrain.WORLD_SETTINGS} | {"world_clips": 72}
    shipped = tmp_path / "shipped"
    pretrain.world_vae(shipped / "cogvideox/vae", steps=2, clips=72)
    pretrain.world_judges(shipped / "vit", shipped / "videomae", steps=0)
    (shipped / "cogvideox/vae/marker.txt").write_text("shipped")  # a copy brings every file
    manifest = shipped / pretrain.WORLD_MANIFEST
    manifest.write_text(json.dumps({"key": pretrain.world_key(settings)}))

    assert pretrain.shipped_world(manifest, settings) == shipped
    assert "copied, not trained" in capsys.readouterr().err
    out = tmp_path / "out"
    report = pretrain.world_vae(out / "cogvideox/vae", steps=5, clips=72, shipped=shipped)
    assert report["steps"] == 2 and (out / "cogvideox/vae/marker.txt").read_text() == "shipped"
    assert _same_weights(shipped / "cogvideox/vae", out / "cogvideox/vae")
    judges = pretrain.world_judges(out / "vit", out / "videomae", steps=5, shipped=shipped)
    assert judges["image_classifier"]["steps"] == 0 and _same_weights(shipped / "vit", out / "vit")

    stale = settings | {"vae_pretrain_steps": 1}
    assert pretrain.world_key(stale) != pretrain.world_key(settings)
    assert pretrain.shipped_world(manifest, stale) is None
    assert "stale" in capsys.readouterr().err
    assert pretrain.shipped_world(tmp_path / "none" / "world.json", settings) is None
    assert "make world" in capsys.readouterr().err
    assert pretrain.shipped_world(None, settings) is None


def test_world_key_follows_the_world_s_model_builders_only(monkeypatch):
    """The key changes with a builder of the world's models, not with another tiny model's (adding one, or
    editing the Whisper, leaves the shipped world current)."""
    from cinebrain.synth import models, pretrain

    settings = {k: 1 for k in pretrain.WORLD_SETTINGS}
    key = pretrain.world_key(settings)

    def another(folder, seed: int = 1):  # any function whose source differs
        return folder

    monkeypatch.setattr(models, "save_tiny_whisper", another)
    assert pretrain.world_key(settings) == key
    monkeypatch.setattr(models, "save_tiny_cogvideox", another)
    assert pretrain.world_key(settings) != key


def test_shipped_world_matches_the_code_and_the_demo_settings():
    """resources/world was trained by the current code with config/config.yaml's models.tiny settings (else the
    demo trains it, far beyond its time: run `make world` and commit resources/world), and it holds every
    model the rules copy."""
    import yaml

    from cinebrain.synth import pretrain

    root = Path(__file__).resolve().parents[1]
    tiny = yaml.safe_load((root / "config/config.yaml").read_text())["models"]["tiny"]
    manifest = root / tiny["world_cache"] / pretrain.WORLD_MANIFEST
    assert pretrain.shipped_world(manifest, pretrain.world_settings(tiny)) == manifest.parent, (
        f"{manifest} is stale: run `make world` and commit it")  # fmt: skip
    for part in [f"cogvideox/{p}" for p in ("vae", *pretrain.PIPELINE_PARTS)] + ["vit", "videomae"]:
        assert (manifest.parent / part / "pretraining.json").is_file() or part.split("/")[-1] in (
            "scheduler", "text_encoder", "tokenizer"), part  # fmt: skip
        assert any((manifest.parent / part).iterdir()), part


def test_shipped_world_reports_what_its_generator_renders():
    """The shipped world's manifest says, per attribute, what its judges read in held-out clips as
    rendered, through the VAE and generated from their captions: the judges read every attribute of the
    clips themselves well above chance, the VAE keeps them, and the generator renders the caption's colour
    and background (not yet its shape or motion: README, "What the generator renders")."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    tiny = yaml.safe_load((root / "config/config.yaml").read_text())["models"]["tiny"]
    renders = json.loads((root / tiny["world_cache"] / "world.json").read_text())["reports"]["renders"]
    assert renders["clips"] == 32 and renders["sampling"] == {"steps": 10, "guidance_scale": 6.0, "seed": 42}
    for stage, floor in (("ground_truth", 0.7), ("vae", 0.6)):
        for judge, attrs in renders[stage].items():
            for attr, v in attrs.items():
                assert v["accuracy"] >= max(floor, 2 * v["chance"]), (stage, judge, attr, v)
    for judge, attr in (("image", "colour"), ("image", "background"), ("video", "colour")):
        assert renders["caption"][judge][attr]["accuracy"] >= 0.8, (judge, attr, renders["caption"])


def test_world_command_refuses_an_invalid_config_before_training(tmp_path, capsys):
    """`cinebrain world` checks the configuration as the workflow does (one source of defaults) and trains
    nothing when it is invalid."""
    import yaml

    from cinebrain.cli import main

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config/config.yaml").read_text())
    config["models"]["tiny"]["world_clips"] = "many"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    assert main(["world", str(tmp_path / "out"), "--config", str(tmp_path / "bad.yaml"), "--quiet"]) == 1
    assert "models.tiny.world_clips" in capsys.readouterr().err and not (tmp_path / "out").exists()
