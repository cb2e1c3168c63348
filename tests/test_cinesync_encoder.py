"""CineSync's encoder (cinebrain.methods.cinesync.encoder) and the retrieval scores (cinebrain.models.retrieval)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cinebrain.methods.cinesync.encoder import CineSyncConfig, CineSyncEncoder
from cinebrain.models.losses import clip_loss, siglip_loss
from cinebrain.models.retrieval import retrieval_scores, topk, two_way

TINY = dict(fmri_shape=(5, 300), eeg_shape=(64, 400), n_tokens=10, width=32, depth=1, heads=4, embed_dim=8, cond_dim=12)


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"fmri": torch.randn(n, 5, 300, generator=g), "eeg": torch.randn(n, 64, 400, generator=g) * 1e-5,
            "frames": torch.randn(n, 33, 8, generator=g), "text": torch.randn(n, 8, generator=g)}  # fmt: skip


def test_retrieval_scores_known_answers():
    eye = np.eye(5)
    assert topk(eye, 1) == 1.0 and two_way(eye) == 1.0
    anti = eye[::-1] + 0.0
    np.fill_diagonal(anti, -1)  # every match is the least similar
    assert topk(anti, 1) == 0.0 and topk(anti, 5) == 1.0 and two_way(anti) == 0.0
    s = np.array([[0.9, 0.8, 0.1], [0.95, 0.5, 0.2], [0.0, 0.1, 0.3]])  # matches rank 1, 2, 1
    assert topk(s, 1) == pytest.approx(2 / 3) and topk(s, 2) == 1.0 and two_way(s) == pytest.approx(5 / 6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perfect = retrieval_scores(x, x, repeats=3)
    assert perfect["n_candidates"] == 300 and perfect["scores"]["brain_to_video_top1"] == 1.0
    assert perfect["chance"] == {"brain_to_video_top1": 1 / 300, "brain_to_video_top5": 5 / 300,
                                 "video_to_brain_top1": 1 / 300, "video_to_brain_top5": 5 / 300, "two_way": 0.5}  # fmt: skip
    y = rng.normal(size=(400, 16))
    rand = retrieval_scores(x, y / np.linalg.norm(y, axis=1, keepdims=True), repeats=5)["scores"]
    assert abs(rand["two_way"] - 0.5) < 0.03 and rand["brain_to_video_top5"] < 0.05


def test_losses_prefer_matching_pairs():
    a = torch.nn.functional.normalize(torch.randn(8, 4), dim=-1)
    scale, bias = torch.tensor(np.log(10.0)), torch.tensor(-1.0)
    assert clip_loss(a, a, scale) < clip_loss(a, a.roll(1, 0), scale)
    assert siglip_loss(a, a, scale, bias) < siglip_loss(a, a.roll(1, 0), scale, bias)


@pytest.mark.parametrize("variant", ["cinesync", "cinesync_fmri", "cinesync_eeg"])
def test_variants_shapes_and_learning(variant):
    torch.manual_seed(0)
    model = CineSyncEncoder(CineSyncConfig(variant=variant, **TINY))
    batch = _batch()
    out = model(batch)
    assert out["fused"].shape == (6, 10, 12) and out["z"].shape == (6, 8)
    assert torch.allclose(out["z"].norm(dim=-1), torch.ones(6))
    assert set(k for k in out if k.startswith("z_")) == {f"z_{m}" for m in model.cfg.modalities}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(30):  # memorise 6 pairs
        loss, logs = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < 0.5 * first
    assert set(logs) == {f"{m}_{t}" for m in model.cfg.modalities for t in ("video", "text")}
    # the brain embedding: the normalised mean of the modalities' embeddings
    mean = torch.stack([out[f"z_{m}"] for m in model.cfg.modalities]).mean(0)
    assert torch.allclose(out["z"], torch.nn.functional.normalize(mean, dim=-1))


def test_bad_variant():
    with pytest.raises(ValueError, match="encoder variant 'cinesink' does not exist; fix: one of"):
        CineSyncConfig(variant="cinesink")


def _split(root, n, seed):
    """A clip-dataset split in data_build's layout, with random arrays and CLIP-like features."""
    import json

    import pandas as pd
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    np.save(root / "fmri.npy", rng.standard_normal((n, 5, 300), np.float32))
    np.save(root / "eeg.npy", rng.standard_normal((n, 64, 400), np.float32) * 1e-5)
    save_file({"frames": rng.standard_normal((n, 33, 8), np.float32), "text": rng.standard_normal((2 * n, 8), np.float32),
               "text_clip": np.repeat(np.arange(n), 2)}, str(root / "ep.safetensors"))  # fmt: skip
    pd.DataFrame({"row": np.arange(n), "clip": [f"c{i}" for i in range(n)], "clip_index": np.arange(n),
                  "embed_file": str(root / "ep.safetensors"), "embed_row": np.arange(n)}).to_parquet(root / "manifest.parquet")  # fmt: skip
    (root / "dataset.json").write_text(json.dumps({"Subject": "01", "fmri": {"Shape": [n, 5, 300]},
                                                   "eeg": {"Shape": [n, 64, 400]}}))  # fmt: skip


def test_train_encoder_writes_its_outputs(tmp_path):
    import json

    from cinebrain.methods.cinesync.train import train_encoder

    _split(tmp_path / "ds/train", 12, 0)
    _split(tmp_path / "ds/test", 6, 1)
    kwargs = dict(variant="cinesync", train_dir=tmp_path / "ds/train", test_dir=tmp_path / "ds/test",
                  model={k: v for k, v in TINY.items() if not k.endswith("_shape") and k != "embed_dim"},
                  train={"steps": 4, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2},
                  evaluation={"repeats": 1}, out_dir=tmp_path / "out", progress=False)  # fmt: skip
    m = train_encoder(**kwargs)
    assert m["train_clips"] == 12 and m["test_clips"] == 6 and m["n_candidates"] == 6
    assert m["chance"]["brain_to_video_top1"] == pytest.approx(1 / 6) and 0 <= m["scores"]["two_way"] <= 1
    for f in ["model.safetensors", "config.json", "metrics.json", "metrics.csv", "test_embeddings.npz"]:
        assert (tmp_path / "out" / f).exists(), f
    assert not (tmp_path / "out/checkpoint.pt").exists()  # only kept while a run is incomplete
    assert json.loads((tmp_path / "out/config.json").read_text())["model"]["fmri_shape"] == [5, 300]
    assert np.load(tmp_path / "out/test_embeddings.npz")["brain"].shape == (6, 8)
