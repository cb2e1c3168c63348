"""Brain Netflix (cinebrain.methods.brainflix): masked brain modelling, regression, BLIP decoding, the generator,
and a model trained on one subject that decodes another (a shared forward model: the known answer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cinebrain.data import LeakageError
from cinebrain.methods.brainflix.mbm import MaskedBrainModel, masked_patch_loss
from cinebrain.methods.brainflix.regress import fit_ridge, group_folds
from cinebrain.methods.brainflix.settings import pool_name, pool_subjects

from .test_mindanimator import _split


def test_masked_patch_loss_ignores_unmasked_patches_and_padding():
    torch.manual_seed(0)
    pred, target = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 0, 0, 1, 0]] * 3).float()
    valid = torch.ones(5, 4)
    valid[-1, 2:] = 0
    loss = masked_patch_loss(pred, target, mask, valid)
    changed = target.clone()
    changed[:, [1, 2, 4]] += 100.0  # unmasked patches
    assert masked_patch_loss(pred, changed, mask, valid) == loss
    expected = ((pred - target)[:, [0, 3]] ** 2).mean()
    assert torch.isclose(loss, expected)
    # the model's loss: its gradient reaches no decoder output of a kept patch
    pred.requires_grad_(True)
    masked_patch_loss(pred, target, mask, valid).backward()
    assert pred.grad[:, [1, 2, 4]].abs().max() == 0 and pred.grad[:, [0, 3]].abs().min() > 0


def test_the_encoder_sees_only_the_kept_patches_and_pads_the_last():
    torch.manual_seed(0)
    m = MaskedBrainModel(37, 8, patch=4, width=16, depth=1, heads=2, decoder_width=8, decoder_depth=1, decoder_heads=2,
                         mask_ratio=0.75).eval()  # fmt: skip
    assert m.n_patches == 10 and m.valid.sum() == 37
    x = torch.randn(2, 37)
    mask = m.random_mask(2, "cpu")
    assert (mask.sum(1) == 8).all()  # 75% of 10, rounded: 2 kept
    kept = m.encode(x, mask=mask)
    assert kept.shape == (2, 2, 16)
    y = x.clone()
    masked_cols = [c for c in range(37) if mask[0, c // 4] == 1 and mask[1, c // 4] == 1]
    y[:, masked_cols] += 50.0
    assert torch.allclose(m.encode(y, mask=mask), kept)
    assert not torch.allclose(m.embed(y), m.embed(x))
    with pytest.raises(ValueError, match="36 columns; this model takes 37"):
        m.embed(torch.randn(2, 36))


def test_the_affine_subject_layer_starts_as_the_identity_and_serves_an_unseen_subject_the_mean():
    m = MaskedBrainModel(8, 4, patch=4, width=8, depth=1, heads=2, decoder_width=8, decoder_depth=1, decoder_heads=2,
                         subjects=2)  # fmt: skip
    x = torch.randn(3, 8)
    assert torch.equal(m.adapt(x, torch.tensor([0, 1, -1])), x)
    with torch.no_grad():
        m.scale[0] = 2.0
        m.scale[1] = 4.0
    out = m.adapt(x, torch.tensor([0, 1, -1]))
    assert torch.allclose(out, x * torch.tensor([[2.0], [4.0], [3.0]]))


def test_ridge_recovers_a_planted_linear_map_with_folds_grouped_by_episode():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 12))
    w = rng.standard_normal((12, 30))
    groups = np.repeat(["ep1", "ep2", "ep3", "ep4"], 60)
    y = x @ w + 0.05 * rng.standard_normal((240, 30)) + 3.0
    ridge = fit_ridge(x, y, groups, alphas=(0.01, 1.0, 1e4), n_folds=5)
    assert ridge.alpha < 1e4 and ridge.cv == "4 folds grouped by episode"
    x_new = rng.standard_normal((50, 12))
    assert np.abs(ridge.predict(x_new) - (x_new @ w + 3.0)).max() < 0.1
    for train, test in group_folds(groups, 5):
        assert not set(groups[train]) & set(groups[test])
    assert group_folds(np.repeat(["ep1"], 10), 5) is None  # one episode: leave-one-clip-out instead
    # pure noise targets: the largest penalty wins
    assert fit_ridge(x, rng.standard_normal((240, 5)), groups, alphas=(0.01, 1.0, 1e4)).alpha == 1e4


def test_pools_and_the_subject_leakage_guard():
    assert [pool_name(v, "01") for v in ("brainflix", "latent_only", "pooled", "loso")] == ["sub-01", "sub-01", "all",
                                                                                            "loso-01"]  # fmt: skip
    assert pool_subjects("loso-01", ["01", "02", "03"]) == ["02", "03"]
    assert pool_subjects("all", ["01", "02"]) == ["01", "02"] and pool_subjects("sub-02", ["01", "02"]) == ["02"]
    with pytest.raises(ValueError, match="needs at least 2 subjects"):
        pool_subjects("loso-01", ["01"])
    from cinebrain.methods.brainflix.settings import Settings
    from cinebrain.settings import build

    assert build(Settings, {"subjects": ["01"], "variants": ["brainflix"]}).check({}) == []
    assert "fix: list at least 2, or drop loso" in build(Settings, {"subjects": ["01"]}).check({})[0]
    from cinebrain.data import check_subject_leakage

    check_subject_leakage("01", ["02"])
    with pytest.raises(LeakageError, match="sub-01 is held out"):
        check_subject_leakage("01", ["02", "01"])


@pytest.fixture(scope="module")
def blip(tiny_models):
    from cinebrain.methods.brainflix.blip import load_blip

    return load_blip(str(tiny_models / "blip"))


def test_blip_decoding_honours_the_length_settings_as_blip_generate_does(blip):
    from cinebrain.methods.brainflix.blip import decode_captions, image_embeddings

    model, processor = blip
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    emb = image_embeddings(model, processor, images)
    assert emb.shape == (3, 17, 32) and emb.std(0).mean() > 1e-3  # images differ, so do their embeddings
    for lo, hi in ((4, 6), (7, 9)):
        caps = decode_captions(model, processor.tokenizer, emb, min_length=lo, max_length=hi)
        ids = [processor.tokenizer(c, add_special_tokens=False)["input_ids"] for c in caps]
        assert all(lo - 1 <= len(t) <= hi - 1 for t in ids), (caps, ids)  # lengths count the [DEC] token
        px = processor(images=list(images), return_tensors="pt")["pixel_values"]
        ref = model.generate(pixel_values=px, repetition_penalty=6.0, min_length=lo, max_length=hi)
        assert caps == [c.strip() for c in processor.batch_decode(ref, skip_special_tokens=True)]
    with pytest.raises(ValueError, match=r"attends to \(tokens, 32\)"):
        decode_captions(model, processor.tokenizer, torch.zeros(1, 17, 16))


def test_the_tiny_blip_tokenizer_encodes_captions_to_words(blip):
    tok = blip[1].tokenizer
    ids = tok("a red circle moving left on navy", add_special_tokens=False)["input_ids"]
    assert len(ids) == 7 and tok.unk_token_id not in ids
    assert tok.unk_token_id not in tok("zebra", add_special_tokens=False)["input_ids"]  # letters: no [UNK]


def _subject(root, tiny_clip, seed: int, subject: str, n_train: int = 48, n_test: int = 12):
    """Train and test splits of one subject of the shared forward model (colour -> V1 columns, direction -> MT
    columns, plus noise), three episodes in training, and its MBM run (the training volumes in a row)."""
    import pandas as pd

    colours = [(220, 40, 40), (40, 190, 60), (50, 80, 230)]
    _split(root / "train", tiny_clip, n_train, seed, colours)
    _split(root / "test", tiny_clip, n_test, seed + 100, colours)
    for split in ("train", "test"):
        man = pd.read_parquet(root / split / "manifest.parquet")
        if split == "train":
            man["episode"] = [f"ep0{1 + i % 3}" for i in range(len(man))]
        man["clip"] = [f"{split}{i:03d}" for i in range(len(man))]  # the same clips for every subject
        man.to_parquet(root / split / "manifest.parquet")
        info = json.loads((root / split / "dataset.json").read_text())
        (root / split / "dataset.json").write_text(json.dumps({**info, "Subject": subject}))
    run = np.load(root / "train/fmri.npy").reshape(-1, 60)
    np.save(root / "run.npy", run)
    return root


SETTINGS = {"roi_sets": None, "frames": 2, "size": [32, 32],
            "mbm": {"model": {"patch": 4, "width": 32, "depth": 1, "heads": 4, "decoder_width": 16, "decoder_depth": 1,
                              "decoder_heads": 2},
                    "pool": {"window": 2}, "train": {"steps": 40, "batch_size": 16, "lr": 1e-3, "warmup_steps": 2}},
            "align": {"train": {"steps": 60, "batch_size": 16, "lr": 1e-3, "warmup_steps": 2}},
            "regression": {"backbones": ["ridge", "mlp"], "mlp": {"width": 32},
                           "train": {"steps": 40, "batch_size": 16, "warmup_steps": 2}},
            "reconstruct": {"steps": 2}, "evaluation": {"repeats": 4}}  # fmt: skip


@pytest.fixture(scope="module")
def loso(tmp_path_factory, tiny_models):
    """Subject B's models (leave-one-subject-out of A), A's test clips predicted by them."""
    from cinebrain.methods.brainflix.train import encode_targets, predict, train_regression, train_stage1

    tmp = tmp_path_factory.mktemp("brainflix")
    subs = {"A": _subject(tmp / "A", tiny_models / "clip", 0, "A"), "B": _subject(tmp / "B", tiny_models / "clip", 7, "B")}
    for root in subs.values():
        for split in ("train", "test"):
            encode_targets(split_dir=root / split, generator=str(tiny_models / "zeroscope"), blip=str(tiny_models / "blip"),
                           frames=2, size=[32, 32], latents_out=root / f"{split}_z.safetensors",
                           blip_out=root / f"{split}_b.safetensors", device="cpu")  # fmt: skip
    out = tmp / "models/loso-A"
    train_stage1(runs=[["B", str(subs["B"] / "run.npy")]], train_dirs={"B": str(subs["B"] / "train")}, held_out="A",
                 settings=SETTINGS, out_dir=out, device="cpu", progress=False)  # fmt: skip
    train_regression(stage1_dir=out, train_dirs={"B": str(subs["B"] / "train")},
                     latents={"B": subs["B"] / "train_z.safetensors"}, blips={"B": subs["B"] / "train_b.safetensors"},
                     held_out="A", settings=SETTINGS, out_dir=out, device="cpu", progress=False)  # fmt: skip
    m = predict(stage1_dir=out, stage2_dir=out, test_dir=subs["A"] / "test", train_dirs={"B": str(subs["B"] / "train")},
                latents_test=subs["A"] / "test_z.safetensors", blip_test=subs["A"] / "test_b.safetensors", subject="A",
                variant="loso", settings=SETTINGS, out_dir=tmp / "contract", device="cpu")  # fmt: skip
    return tmp, subs, out, m


def test_a_subject_never_seen_in_training_is_decoded_above_the_controls(loso):
    from safetensors.torch import load_file

    tmp, subs, out, m = loso
    cfg = json.loads((out / "stage1.json").read_text())
    # the held-out subject's files are never read by the training tasks
    assert cfg["held_out"] == "A" and cfg["read"] and not any("/A/" in p for p in cfg["read"])
    assert m["protocol"] == "leave_one_subject_out" and m["train_subjects"] == ["B"]
    pred = load_file(str(tmp / "contract/predictions.safetensors"))
    z = load_file(str(subs["A"] / "test_z.safetensors"))["latents"]
    err = ((pred["z"] - z) ** 2).mean().item()
    no_brain = ((pred["no_brain_z"] - z) ** 2).mean().item()
    shuffled = np.mean([((pred["z"].roll(k, 0) - z) ** 2).mean().item() for k in range(1, len(z))])
    assert err == pytest.approx(m["regression_mse"]["ridge_z"], rel=1e-4)
    # the subjects share the forward model: A's colour and motion are decoded by B's model
    assert err < 0.8 * no_brain and err < 0.8 * shuffled, (err, no_brain, shuffled)
    # (retrieval against the CLIP video embedding is not asserted: the tiny CLIP is random, its embeddings barely
    # tell the colours apart)
    assert set(m["scores"]) >= {"two_way", "brain_to_video_top1"} and m["n_candidates"] == 12
    regress = json.loads((out / "regress.json").read_text())
    assert regress["ridge_cv"] == "3 folds grouped by episode" and set(regress["train_mse"]) == {
        "ridge_z", "ridge_b", "mlp_z", "mlp_b"}  # fmt: skip
    assert m["regression_mse_no_brain"]["ridge_z"] == pytest.approx(no_brain, rel=1e-4)
    # the report figure reads the contract
    from cinebrain.methods.brainflix.report import plot_regression

    table = plot_regression([tmp / "contract/metrics.json"], tmp / "regression.png")
    assert (tmp / "regression.png").stat().st_size > 0 and len(table) == 4
    z = table[(table["backbone"] == "ridge") & (table["target"] == "z")].iloc[0]
    assert z["mse"] < z["no_brain"] and z["protocol"] == "leave_one_subject_out"


def test_a_pooled_model_with_per_subject_layers_serves_each_subject(loso, tmp_path):
    """The multi-subject pool: both subjects' runs and clips train one model (here with the affine subject layer),
    which scores each subject with its own layer."""
    from cinebrain.methods.brainflix.train import predict, train_regression, train_stage1

    _, subs, _, _ = loso
    settings = {**SETTINGS, "mbm": {**SETTINGS["mbm"], "model": {**SETTINGS["mbm"]["model"], "subject_layer": "affine"}},
                "regression": {**SETTINGS["regression"], "backbones": ["ridge"]}}  # fmt: skip
    dirs = {s: str(subs[s] / "train") for s in ("A", "B")}
    out = tmp_path / "models/all"
    train_stage1(runs=[[s, str(subs[s] / "run.npy")] for s in ("A", "B")], train_dirs=dirs, settings=settings,
                 out_dir=out, device="cpu", progress=False)  # fmt: skip
    cfg = json.loads((out / "stage1.json").read_text())
    assert cfg["shapes"]["subjects"] == ["A", "B"] and cfg["pool"]["runs"] == 2 and cfg["held_out"] is None
    train_regression(stage1_dir=out, train_dirs=dirs, latents={s: subs[s] / "train_z.safetensors" for s in dirs},
                     blips={s: subs[s] / "train_b.safetensors" for s in dirs}, settings=settings, out_dir=out,
                     device="cpu", progress=False)  # fmt: skip
    regress = json.loads((out / "regress.json").read_text())
    assert regress["clips"] == 96 and regress["backbones"] == ["ridge"]
    for s in ("A", "B"):
        m = predict(stage1_dir=out, stage2_dir=out, test_dir=subs[s] / "test", train_dirs=dirs,
                    latents_test=subs[s] / "test_z.safetensors", blip_test=subs[s] / "test_b.safetensors", subject=s,
                    variant="pooled", settings=settings, out_dir=tmp_path / f"contract-{s}", device="cpu")  # fmt: skip
        assert m["protocol"] == "multi_subject" and m["train_subjects"] == ["A", "B"] and m["train_clips"] == 96
        assert set(m["regression_mse"]) == {"ridge_z", "ridge_b"}


def test_training_refuses_the_held_out_subject_and_other_roi_columns(loso, tmp_path):
    from cinebrain.methods.brainflix.train import train_stage1

    tmp, subs, _, _ = loso
    with pytest.raises(LeakageError, match="sub-A is held out"):
        train_stage1(runs=[["A", str(subs["A"] / "run.npy")]], train_dirs={"A": str(subs["A"] / "train")}, held_out="A",
                     settings=SETTINGS, out_dir=tmp_path / "x", device="cpu", progress=False)  # fmt: skip
    assert not (tmp_path / "x").exists()
    import shutil

    other = tmp_path / "C"
    shutil.copytree(subs["B"] / "train", other)
    cols = json.loads((other / "roi_columns.json").read_text())
    cols["Columns"]["grayordinate"] = cols["Columns"]["grayordinate"][::-1]
    (other / "roi_columns.json").write_text(json.dumps(cols))
    with pytest.raises(ValueError, match=r"roi_columns.json: sub-C's fMRI columns differ from sub-B's"):
        train_stage1(runs=[], train_dirs={"B": str(subs["B"] / "train"), "C": str(other)}, settings=SETTINGS,
                     out_dir=tmp_path / "y", device="cpu", progress=False)  # fmt: skip
    # a held-out subject whose columns are not the pool's is refused before any output
    from cinebrain.methods.brainflix.train import predict

    test = tmp_path / "Ctest"
    shutil.copytree(subs["A"] / "test", test)
    (test / "roi_columns.json").write_text(json.dumps(cols))
    with pytest.raises(ValueError, match=r"sub-A \(test\)'s fMRI columns differ from sub-B's"):
        predict(stage1_dir=tmp / "models/loso-A", stage2_dir=tmp / "models/loso-A", test_dir=test,
                train_dirs={"B": str(subs["B"] / "train")}, latents_test=subs["A"] / "test_z.safetensors",
                blip_test=subs["A"] / "test_b.safetensors", subject="A", variant="loso", settings=SETTINGS,
                out_dir=tmp_path / "z", device="cpu")  # fmt: skip
    assert not (tmp_path / "z").exists()


def test_stage1_resumes_to_the_weights_of_an_uninterrupted_run(loso, tmp_path):
    from safetensors.torch import load_file

    from cinebrain.methods.brainflix.train import train_stage1

    _, subs, _, _ = loso
    short = {**SETTINGS, "mbm": {**SETTINGS["mbm"], "train": {**SETTINGS["mbm"]["train"], "steps": 6}},
             "align": {"train": {**SETTINGS["align"]["train"], "steps": 4}}}  # fmt: skip
    kw = {"runs": [["B", str(subs["B"] / "run.npy")]], "train_dirs": {"B": str(subs["B"] / "train")}, "device": "cpu",
          "progress": False}  # fmt: skip
    train_stage1(settings=short, out_dir=tmp_path / "whole", **kw)
    half = {**short, "mbm": {**short["mbm"], "train": {**short["mbm"]["train"], "steps": 3}}}
    train_stage1(settings=half, out_dir=tmp_path / "resumed", **kw)  # stops after 3 MBM steps (and aligns)
    import shutil

    shutil.rmtree(tmp_path / "resumed/align")  # the alignment restarts from the resumed MBM
    train_stage1(settings=short, out_dir=tmp_path / "resumed", **kw)
    a, b = (load_file(str(tmp_path / d / "stage1.safetensors")) for d in ("whole", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reconstruction_refuses_a_latent_of_the_wrong_shape_and_depends_on_it(tiny_models):
    from cinebrain.methods.brainflix.reconstruct import generate, load_generator, text_to_video

    pipe = load_generator(str(tiny_models / "zeroscope"))
    rs = {"seed": 1, "steps": 4, "guidance_scale": 5.0, "strength": 0.8}
    z = torch.randn(2, 4, 4, 4)
    a = generate(pipe, z, "red circle", "brainflix", rs)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, generate(pipe, z, "red circle", "brainflix", rs))  # seeded: a clip's only input is z, b
    assert not np.array_equal(a, generate(pipe, z + 1.0, "red circle", "brainflix", rs))
    t2v = text_to_video(pipe)
    c = generate(t2v, z, "red circle", "caption_only", rs)
    assert np.array_equal(c, generate(t2v, z + 1.0, "red circle", "caption_only", rs))  # caption only: z's shape
    with pytest.raises(ValueError, match=r"a regressed latent of shape \(2, 3, 4, 4\)"):
        generate(pipe, torch.randn(2, 3, 4, 4), "red circle", "brainflix", rs)
