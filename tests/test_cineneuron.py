"""CineNeuron's library: the stage-1 losses and Brain Model, the memory pool and the Mixture-of-Memories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cinebrain.methods.cineneuron.brain import BrainModel, check_batch
from cinebrain.methods.cineneuron.memory import (
    MemoryPool,
    MemoryPoolError,
    MixtureOfMemories,
    mixture_scores,
    retrieve,
)
from cinebrain.methods.cineneuron.settings import BrainModelConfig
from cinebrain.models.losses import category_loss, info_nce
from cinebrain.models.retrieval import retrieval_scores


def test_category_loss_is_bce_plus_focal_by_their_formulas():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 15) * 3, (torch.rand(6, 15) > 0.7).float()
    p = torch.sigmoid(logits)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * 0.25 + (1 - y) * 0.75
    focal = alpha_t * (1 - p_t) ** 2.0 * bce  # Lin et al. 2017, eq. 5
    expected = bce.mean() + focal.mean()
    assert float(category_loss(logits, y, alpha=0.25, gamma=2.0)) == pytest.approx(float(expected), rel=1e-5)
    # gamma 0, alpha 0.5: the focal term is half the BCE
    assert float(category_loss(logits, y, alpha=0.5, gamma=0.0)) == pytest.approx(1.5 * float(bce.mean()), rel=1e-5)
    # confident right answers cost almost nothing, confident wrong ones a lot
    assert float(category_loss(20 * (2 * y - 1), y)) < 1e-6 < 1.0 < float(category_loss(-20 * (2 * y - 1), y))


def test_info_nce_is_symmetric_and_at_chance_for_random_inputs():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(32, 4096), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(32, 4096), dim=-1)
    assert float(info_nce(a, b, 0.07)) == pytest.approx(float(info_nce(b, a, 0.07)), rel=1e-6)
    # unrelated embeddings: every candidate is as likely as the match: log(B)
    assert float(info_nce(a, b, 0.07)) == pytest.approx(math.log(32), abs=0.1)
    # identical embeddings at a low temperature: the match wins outright
    assert float(info_nce(a, a, 0.07)) < 0.01


def _config(backbone="transformer", **kw):
    return BrainModelConfig(backbone=backbone, n_tokens=8, width=32, depth=2, heads=4, ridge_dim=64, mlp_blocks=2,
                            fmri_shape=(3, 40), embed_dim=16, action_dim=12, n_classes=5, **kw)  # fmt: skip


def _world(n=96, seed=0):
    """Clips whose fMRI is a fixed linear map of their text embedding plus noise; image frames, action and
    categories derived from the same embedding: what the Brain Model must learn is known."""
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(n, 16, generator=g)
    fmri = (text @ torch.randn(16, 120, generator=g)).view(n, 3, 40) + 0.3 * torch.randn(n, 3, 40, generator=g)
    return {"fmri": fmri, "text": text, "frames": text[:, None, :] + 0.1 * torch.randn(n, 4, 16, generator=g),
            "action": text[:, :12] @ torch.randn(12, 12, generator=g), "categories": (text[:, :5] > 0).float()}  # fmt: skip


@pytest.mark.parametrize("backbone", ["transformer", "mlp"])
def test_brain_model_outputs_and_learns_the_semantics_of_its_world(backbone):
    torch.manual_seed(0)
    cfg = _config(backbone)
    model, data = BrainModel(cfg), _world(192)
    out = model(data["fmri"][:4])
    assert out["global"].shape == (4, 32) and out["embedding"].shape == (4, 8, 32)
    assert out["semantic"].shape == (4, 16) and out["action"].shape == (4, 12) and out["logits"].shape == (4, 5)
    assert torch.allclose(out["semantic"].norm(dim=-1), torch.ones(4))
    train = {k: v[:160] for k, v in data.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, terms = model.loss(train)
        first = first if first is not None else terms
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(terms) == {"image", "text", "action", "category"}
    assert all(terms[k] < first[k] for k in terms)
    model.eval()
    with torch.no_grad():
        held = model(data["fmri"][160:])
        text = torch.nn.functional.normalize(data["text"][160:], dim=-1)
        acc = ((held["logits"] > 0).float() == data["categories"][160:]).float().mean()
    scores = retrieval_scores(held["semantic"].numpy(), text.numpy(), n_candidates=32, repeats=1, ks=(1,))
    assert scores["scores"]["brain_to_video_top1"] > 5 * scores["chance"]["brain_to_video_top1"]
    assert acc > 0.7  # each superclass is the sign of one text dimension: 0.5 by chance


def test_brain_model_refuses_batches_it_was_not_built_for():
    cfg, data = _config(), _world(8)
    check_batch(data, cfg)
    with pytest.raises(ValueError, match="no 'action'.*action embeddings"):
        check_batch({k: v for k, v in data.items() if k != "action"}, cfg, "results/data/sub-01/train")
    with pytest.raises(ValueError, match="'text' has width 20.*expects 16"):
        check_batch(data | {"text": torch.zeros(8, 20)}, cfg)
    with pytest.raises(ValueError, match=r"shape \(3, 41\).*expects \(3, 40\)"):
        check_batch(data | {"fmri": torch.zeros(8, 3, 41)}, cfg)


def _pool(n=10, seed=0, clips=None, models=None):
    g = torch.Generator().manual_seed(seed)
    return MemoryPool(clips or [f"train{i:03d}" for i in range(n)], text=torch.randn(n, 16, generator=g),
                      image=torch.randn(n, 16, generator=g), action=torch.randn(n, 12, generator=g),
                      condition=torch.randn(n, 6, 24, generator=g), models=models or {"embedder": "clip-a"})  # fmt: skip


def test_mixture_scores_weigh_the_modalities_and_a_pool_retrieves_itself():
    pool = _pool()
    queries = {"text": pool.text, "image": pool.image, "action": pool.action}
    for i in range(3):  # one modality only: its cosine similarities
        w = torch.zeros(10, 3)
        w[:, i] = 1
        m = ("text", "image", "action")[i]
        cos = torch.nn.functional.cosine_similarity(queries[m][:, None], getattr(pool, m)[None], dim=-1)
        assert torch.allclose(mixture_scores(w, queries, pool), cos, atol=1e-6)
    scores = mixture_scores(torch.full((10, 3), 1 / 3), queries, pool)
    got = retrieve(scores, pool, k=3)
    assert got.indices[:, 0].tolist() == list(range(10))  # every entry is its own best memory
    assert torch.allclose(got.scores[:, 0], torch.ones(10), atol=1e-6)
    assert torch.equal(got.condition, pool.condition) and got.image.shape == (10, 3, 16)
    assert got.action.shape == (10, 3, 12)
    # in training the clip itself is excluded: the next best
    held = retrieve(scores, pool, k=3, exclude=torch.arange(10))
    assert (held.indices != torch.arange(10)[:, None]).all() and torch.equal(held.indices[:, 0], got.indices[:, 1])


def test_memory_pool_guards_against_leakage_and_foreign_features(tmp_path):
    pool = _pool()
    pool.check_disjoint(["test000", "test001"])
    with pytest.raises(MemoryPoolError, match=r"1 test clips are memories \(train004\)"):
        pool.check_disjoint(["test000", "train004"], where="results/cineneuron/sub-01/memory.safetensors")
    with pytest.raises(MemoryPoolError, match="come from clip-b.*trained on clip-a"):
        pool.extend(_pool(3, clips=["x0", "x1", "x2"], models={"embedder": "clip-b"}))
    with pytest.raises(MemoryPoolError, match="already in the pool"):
        pool.extend(_pool(2, clips=["train001", "x"]))
    with pytest.raises(MemoryPoolError, match="appears twice"):
        _pool(2, clips=["a", "a"])
    bigger = pool.extend(_pool(3, seed=1, clips=["x0", "x1", "x2"]))
    assert len(bigger) == 13 and torch.equal(bigger.text[10:], _pool(3, seed=1).text)
    back = MemoryPool.load(pool.save(tmp_path / "memory.safetensors"))
    assert back.clips == pool.clips and back.models == pool.models
    assert all(torch.equal(getattr(back, k), getattr(pool, k)) for k in ("text", "image", "action", "condition"))
    (tmp_path / "bad.safetensors").write_bytes(b"not a pool")
    with pytest.raises(MemoryPoolError, match="bad.safetensors: not a memory pool"):
        MemoryPool.load(tmp_path / "bad.safetensors")


def test_mixture_of_memories_starts_as_the_retrieved_caption_and_trains_its_router():
    torch.manual_seed(0)
    pool = _pool()
    mom = MixtureOfMemories(width=32, n_tokens=8, embed_dim=16, action_dim=12, cond_tokens=6, cond_dim=24, top_k=3,
                            heads=4)  # fmt: skip
    brain = {"embedding": torch.randn(4, 8, 32, requires_grad=True),
             "semantic": torch.nn.functional.normalize(pool.text[[2, 5, 7, 9]] + 0.01, dim=-1),
             "action": torch.nn.functional.normalize(pool.action[[2, 5, 7, 9]], dim=-1)}  # fmt: skip
    out = mom(brain, pool)
    assert out["condition"].shape == (4, 6, 24)
    assert torch.allclose(out["weights"].sum(-1), torch.ones(4))
    best = out["retrieved"].indices[:, 0]
    assert torch.equal(out["condition"], pool.condition[best])  # zero-convs: exactly the top-1 text condition
    # once the zero-convs have moved, the decoder's loss reaches the router through the mixture scores
    torch.nn.init.normal_(mom.fmri_zero.weight)
    mom(brain, pool)["condition"].square().sum().backward()
    assert mom.router.weight.grad.abs().sum() > 0 and brain["embedding"].grad.abs().sum() > 0
    no_bias = MixtureOfMemories(32, 8, 16, 12, 6, 24, top_k=3, heads=4, score_bias=False)
    torch.nn.init.normal_(no_bias.fmri_zero.weight)
    no_bias(brain, pool)["condition"].square().sum().backward()
    assert no_bias.router.weight.grad is None or float(no_bias.router.weight.grad.abs().sum()) == 0.0
    assert np.isfinite(out["condition"].detach().numpy()).all()


def test_category_scores_per_superclass():
    from cinebrain.methods.cineneuron.train import category_scores

    y = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]], float)
    logits = np.array([[2, -1, -1], [-2, -1, -1], [-1, -1, 3], [-1, -1, -3]], float)
    s = category_scores(logits, y, ["people", "animals", "vehicles"])
    assert s["classes"]["people"] == {"accuracy": 0.75, "prevalence": 0.5, "precision": 1.0, "recall": 0.5,
                                      "f1": pytest.approx(2 / 3)}  # fmt: skip
    # a class nobody has, never predicted: accuracy 1, precision and recall undefined
    assert s["classes"]["animals"]["accuracy"] == 1.0 and s["classes"]["animals"]["f1"] is None
    assert s["mean"]["accuracy"] == pytest.approx((0.75 + 1 + 0.75) / 3) and s["clips"] == 4


def _split(root, text, seed, names=("people", "animals", "vehicles"), wan=None, videos=False):
    """A clip-dataset split in data_build's layout whose fMRI is a fixed map of each clip's caption embedding;
    ``wan``: with Wan latents of that pipeline's VAE (random); ``videos``: with 33-frame 64 x 96 clips."""
    import json

    import pandas as pd

    from cinebrain.features import _save
    from cinebrain.stimuli import write_video

    g = torch.Generator().manual_seed(99)  # the same "brain" for both splits
    brain_map = torch.randn(16, 3 * 40, generator=g)
    n = len(text)
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    fmri = (text @ brain_map).view(n, 3, 40) + 0.3 * torch.randn(n, 3, 40, generator=torch.Generator().manual_seed(seed))
    np.save(root / "fmri.npy", fmri.numpy().astype(np.float32))
    frames = text[:, None, :].numpy() + 0.1 * rng.standard_normal((n, 4, 16))
    _save({"frames": frames.astype(np.float32), "text": text.numpy().repeat(2, 0).astype(np.float32),
           "text_clip": np.repeat(np.arange(n), 2)}, {"model": "tiny-clip"}, root / "embed.safetensors")  # fmt: skip
    _save({"action": (text[:, :12] * 2).numpy().astype(np.float32)}, {"model": "tiny-xclip"}, root / "action.safetensors")
    man = pd.DataFrame({"row": np.arange(n), "clip": [f"{root.name}{i:03d}" for i in range(n)], "clip_index": np.arange(n),
                        "caption": [f"clip {i} of {root.name}" for i in range(n)],
                        "embed_file": "embed.safetensors", "embed_row": np.arange(n),
                        "action_file": "action.safetensors", "action_row": np.arange(n)})  # fmt: skip
    for j, name in enumerate(names):
        man[f"cat_{name}"] = (text[:, j] > 0).numpy().astype(np.int8)
    man["episode"], man["has_cut"] = "ep01", False
    if wan is not None:
        z = rng.standard_normal((n, 16, 9, 8, 12)).astype(np.float32)
        _save({"mean": z, "std": np.full_like(z, 0.05)}, {"vae_class": "AutoencoderKLWan", "model": str(wan),
              "latents_mean": [0.0] * 16, "latents_std": [1.0] * 16}, root / "wan.safetensors")  # fmt: skip
        man["wan_latents_file"], man["wan_latents_row"] = "wan.safetensors", np.arange(n)
    if videos:
        for i in range(n):
            write_video(root / f"clip{i:03d}.mp4", rng.integers(0, 255, (33, 64, 96, 3), dtype=np.uint8), 8.0)
        man["video"] = [f"clip{i:03d}.mp4" for i in range(n)]
    man.to_parquet(root / "manifest.parquet")
    (root / "dataset.json").write_text(json.dumps({"Subject": "01", "fmri": {"Shape": [n, 3, 40]},
                                                   "eeg": {"Shape": [n, 64, 400]}}))  # fmt: skip


@pytest.fixture(scope="module")
def stage1(tmp_path_factory, tiny_wan):
    """Stage 1 trained on a split whose fMRI is a known map of the caption: (datasets folder, output, metrics).
    The training split carries Wan latents, the test split clips on disk (for stage 2)."""
    from cinebrain.methods.cineneuron.train import train_brain

    tmp_path = tmp_path_factory.mktemp("stage1")
    text = torch.randn(192, 16, generator=torch.Generator().manual_seed(0))
    _split(tmp_path / "ds/train", text[:160], 0, wan=tiny_wan)
    _split(tmp_path / "ds/test", text[160:], 1, videos=True)
    m = train_brain(train_dir=tmp_path / "ds/train", test_dir=tmp_path / "ds/test",
                    model=dict(n_tokens=8, width=32, depth=2, heads=4), evaluation={"repeats": 1},
                    train={"steps": 150, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5, "checkpoint_every": 50,
                           "schedule": "cosine"},
                    out_dir=tmp_path / "out", progress=False, device="cpu")  # fmt: skip
    return tmp_path, tmp_path / "out", m


def test_train_brain_learns_its_world_and_writes_the_contract(stage1):
    """Stage 1 end to end: test-clip retrieval far above chance, superclasses above the always-no
    classifier, the methods' contract written."""
    import json

    from cinebrain.methods.contract import check_metrics

    tmp_path, _, m = stage1
    assert m["train_clips"] == 160 and m["n_candidates"] == 32
    assert m["scores"]["brain_to_video_top1"] > 5 * m["chance"]["brain_to_video_top1"]
    assert m["scores"]["two_way"] > 0.9
    cats = m["categories"]
    assert set(cats["classes"]) == {"people", "animals", "vehicles"}
    always_no = np.mean([1 - c["prevalence"] for c in cats["classes"].values()])  # about 0.5 here
    assert cats["mean"]["accuracy"] > max(0.7, always_no + 0.1)
    check_metrics(json.loads((tmp_path / "out/metrics.json").read_text()))
    saved = np.load(tmp_path / "out/test_embeddings.npz")
    assert saved["semantic"].shape == (32, 16) and saved["image"].shape == (32, 16) and saved["logits"].shape == (32, 3)
    assert json.loads((tmp_path / "out/config.json").read_text())["model"]["action_dim"] == 12
    assert not (tmp_path / "out/checkpoint.pt").exists()


# --- the Wan2.1 decoder --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory):
    from cinebrain.synth.models import save_tiny_wan

    return save_tiny_wan(tmp_path_factory.mktemp("wan") / "wan")


def test_flow_matching_loss_is_wan_s_objective(tiny_wan):
    from diffusers import WanTransformer3DModel

    from cinebrain.methods.cineneuron.decoder import flow_matching_loss, shifted_sigmas

    u = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(shifted_sigmas(u, 1.0), u) and torch.allclose(shifted_sigmas(u, 3.0), torch.tensor([0, 0.75, 1]))
    tr = WanTransformer3DModel.from_pretrained(tiny_wan, subfolder="transformer").eval()
    g = torch.Generator().manual_seed(0)
    x0, noise, cond = torch.randn(2, 16, 3, 8, 12, generator=g), torch.randn(2, 16, 3, 8, 12, generator=g), torch.randn(2, 6, 32, generator=g)
    sigma = torch.tensor([0.2, 0.9])
    with torch.no_grad():
        loss = flow_matching_loss(tr, x0, cond, noise, sigma)
        xt = torch.stack([0.8 * x0[0] + 0.2 * noise[0], 0.1 * x0[1] + 0.9 * noise[1]])
        v = tr(hidden_states=xt, timestep=torch.tensor([200.0, 900.0]), encoder_hidden_states=cond, return_dict=False)[0]
    assert float(loss) == pytest.approx(float(((v - (noise - x0)) ** 2).mean()), rel=1e-5)


def _decoder(tiny_wan, pool_rows=None, stage1_weight=1.0):
    from diffusers import WanTransformer3DModel

    from cinebrain.methods.cineneuron.decoder import NeuronDecoder, add_lora

    torch.manual_seed(0)
    brain = BrainModel(_config())
    memory = MixtureOfMemories(width=32, n_tokens=8, embed_dim=16, action_dim=12, cond_tokens=6, cond_dim=32, top_k=2,
                               heads=4)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    pool = MemoryPool([f"train{i:03d}" for i in range(8)], text=torch.randn(8, 16, generator=g),
                      image=torch.randn(8, 16, generator=g), action=torch.randn(8, 12, generator=g),
                      condition=torch.randn(8, 6, 32, generator=g), models={})  # fmt: skip
    tr = add_lora(WanTransformer3DModel.from_pretrained(tiny_wan, subfolder="transformer"))
    return NeuronDecoder(brain, memory, tr, pool, shift=np.zeros(16, np.float32), scale=np.ones(16, np.float32),
                         pool_rows=pool_rows, stage1_weight=stage1_weight)  # fmt: skip


def _decoder_batch(n=4, seed=0):
    data = _world(n, seed)
    g = torch.Generator().manual_seed(seed)
    return data | {"latents_mean": torch.randn(n, 16, 3, 8, 12, generator=g), "latents_std": torch.full((n, 16, 3, 8, 12), 0.01),
                   "index": torch.arange(n)}  # fmt: skip


def test_neuron_decoder_trains_lora_brain_and_memories_not_the_base(tiny_wan):
    model = _decoder(tiny_wan, pool_rows=[0, 1, 2, 3])
    loss, logs = model(_decoder_batch())
    assert torch.isfinite(loss) and {"diffusion", "stage1_image", "router_text"} <= set(logs)
    assert sum(logs[f"router_{m}"] for m in ("text", "image", "action")) == pytest.approx(1.0)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in grads) and all("lora_" in n for n in grads if n.startswith("transformer."))
    assert all(p.grad is None for n, p in model.transformer.named_parameters() if "lora_" not in n)  # the base is frozen
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("brain.backbone"))
    assert model.memory.fmri_zero.weight.grad.abs().sum() > 0  # the zero-conv learns first
    # in training a clip never retrieves itself (its pool row is excluded)
    out = model.condition(_decoder_batch()["fmri"], exclude=torch.arange(4))
    assert (out["retrieved"].indices != torch.arange(4)[:, None]).all()


def test_neuron_decoder_fits_a_few_clips_and_its_lora_round_trips(tiny_wan, tmp_path):
    from diffusers import WanPipeline

    from cinebrain.methods.cineneuron.decoder import flow_matching_loss, load_wan, save_lora

    model, batch = _decoder(tiny_wan, stage1_weight=0.0), _decoder_batch()
    g = torch.Generator().manual_seed(5)
    noise, sigma = torch.randn(4, 16, 3, 8, 12, generator=g), torch.tensor([0.3, 0.5, 0.7, 0.9])

    def held():
        with torch.no_grad():
            cond = model.condition(batch["fmri"])["condition"]
            return float(flow_matching_loss(model.transformer, batch["latents_mean"], cond, noise, sigma))

    before = held()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(100):
        loss, _ = model(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held() < 0.9 * before  # measured: 2.33 -> 1.98 (random latents; the LoRA, brain and memories learn them)
    path = save_lora(model.transformer, tmp_path / "lora")
    assert path.name == "pytorch_lora_weights.safetensors"
    pipe = load_wan(str(tiny_wan))
    assert isinstance(pipe, WanPipeline) and pipe.text_encoder is None
    pipe.load_lora_weights(str(tmp_path / "lora"))
    x, cond = torch.randn(1, 16, 3, 8, 12), torch.randn(1, 6, 32)
    with torch.no_grad():
        a = model.transformer(hidden_states=x, timestep=torch.tensor([500.0]), encoder_hidden_states=cond, return_dict=False)[0]
        b = pipe.transformer(hidden_states=x, timestep=torch.tensor([500.0]), encoder_hidden_states=cond, return_dict=False)[0]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_wan_latents_of_another_vae_are_refused(tiny_wan, tmp_path):
    import pandas as pd

    from cinebrain.features import _save
    from cinebrain.methods.cineneuron.decoder import (
        DecoderError,
        check_wan_latents,
        load_wan,
        wan_transformer_config,
    )

    tc = wan_transformer_config(str(tiny_wan))
    z = np.zeros((2, 16, 3, 8, 12), np.float32)
    _save({"mean": z, "std": z}, {"vae_class": "AutoencoderKLWan", "model": str(tiny_wan)}, tmp_path / "wan.safetensors")
    _save({"mean": z, "std": z}, {"vae_class": "AutoencoderKLCogVideoX", "model": "cog"}, tmp_path / "cog.safetensors")
    man = pd.DataFrame({"wan_latents_file": ["wan.safetensors"] * 2})
    check_wan_latents(man, tmp_path, tc, base=str(tiny_wan))
    with pytest.raises(DecoderError, match="cog.safetensors: latents of a AutoencoderKLCogVideoX, not of Wan's VAE; fix"):
        check_wan_latents(man.assign(wan_latents_file="cog.safetensors"), tmp_path, tc)
    with pytest.raises(DecoderError, match="the decoder's base is /models/wan; fix: set features.wan_vae.model"):
        check_wan_latents(man, tmp_path, tc, base="/models/wan")
    with pytest.raises(DecoderError, match="no Wan latents"):
        check_wan_latents(pd.DataFrame({"latents_file": ["x"]}), tmp_path, tc)
    with pytest.raises(DecoderError, match="not a Wan pipeline folder"):
        load_wan(str(tmp_path))


def test_memory_pool_of_the_training_clips(stage1, tiny_wan, tmp_path):
    """build_memory: one entry per training clip — its CLIP text embedding, its frames through the stage-1
    projection head, its action embedding, its caption through the Wan pipeline's UMT5 — and the leakage
    guard on the test clips and on extra memories."""
    from diffusers import WanPipeline

    from cinebrain.methods.cineneuron.brain import load_brain
    from cinebrain.methods.cineneuron.train import build_memory
    from cinebrain.models.retrieval import topk

    root, brain_dir, _ = stage1
    info = build_memory(train_dir=root / "ds/train", test_dir=root / "ds/test", brain_dir=brain_dir, base=str(tiny_wan),
                        out=tmp_path / "memory.safetensors", tokens=40)  # fmt: skip
    assert info["entries"] == 160 and info["condition"] == [40, 32] and info["models"]["decoder_text"] == str(tiny_wan)
    pool = MemoryPool.load(tmp_path / "memory.safetensors")
    assert pool.clips[:2] == ["train000", "train001"] and pool.action.shape == (160, 12)
    pipe = WanPipeline.from_pretrained(tiny_wan, transformer=None, vae=None)
    with torch.no_grad():
        ref = pipe.encode_prompt(["clip 7 of train"], do_classifier_free_guidance=False, max_sequence_length=40)[0]
    torch.testing.assert_close(pool.condition[7].float(), ref[0], rtol=1e-2, atol=1e-3)  # stored in float16
    assert (pool.condition[7, len("clip 7 of train") + 1 :] == 0).all()  # Wan zeroes past the caption's tokens
    # the stage-1 brain retrieves its own clips' image memories well above chance (1/160)
    brain = load_brain(brain_dir)
    with torch.no_grad():
        sem = brain(torch.from_numpy(np.load(root / "ds/train/fmri.npy")))["semantic"]
    sims = (sem @ torch.nn.functional.normalize(pool.image, dim=-1).T).numpy()
    assert topk(sims, 5) > 0.5
    # leakage: a test clip among the extra memories
    extra = MemoryPool(["test003"], text=pool.text[:1], image=pool.image[:1], action=pool.action[:1],
                       condition=pool.condition[:1], models=pool.models)  # fmt: skip
    extra.save(tmp_path / "extra.safetensors")
    with pytest.raises(MemoryPoolError, match=r"1 test clips are memories \(test003\)"):
        build_memory(train_dir=root / "ds/train", test_dir=root / "ds/test", brain_dir=brain_dir, base=str(tiny_wan),
                     out=tmp_path / "leaky.safetensors", tokens=40, extra=tmp_path / "extra.safetensors")  # fmt: skip
    assert not (tmp_path / "leaky.safetensors").exists()


@pytest.mark.slow
def test_stage2_trains_and_reconstructs_into_the_contract(stage1, tiny_wan, tmp_path):
    """Stage 2 end to end on the tiny Wan: the pool, joint training (LoRA + brain + memories), the adapter
    and state saved, and every test clip reconstructed from its fMRI (same noise for all, so clips differ by
    their brain input only) into the methods' contract, with the no-brain control."""
    import json

    import pandas as pd

    from cinebrain.methods.cineneuron.reconstruct import reconstruct
    from cinebrain.methods.cineneuron.train import build_memory, train_decoder
    from cinebrain.stimuli import read_video

    root, brain_dir, _ = stage1
    build_memory(train_dir=root / "ds/train", test_dir=root / "ds/test", brain_dir=brain_dir, base=str(tiny_wan),
                 out=tmp_path / "memory.safetensors", tokens=40)  # fmt: skip
    meta = train_decoder(train_dir=root / "ds/train", brain_dir=brain_dir, memory_file=tmp_path / "memory.safetensors",
                         model={"base": str(tiny_wan), "tokens": 40}, memory={"top_k": 2, "heads": 4},
                         train={"steps": 12, "batch_size": 8, "lr": 1e-3, "warmup_steps": 2, "checkpoint_every": 6},
                         out_dir=tmp_path / "decoder", device="cpu", progress=False)  # fmt: skip
    assert meta["train_clips"] == 160 and meta["pool"]["entries"] == 160 and np.isfinite(meta["final_loss"])
    assert meta["pool"]["models"] == {"embedder": "tiny-clip", "action": "tiny-xclip", "decoder_text": str(tiny_wan)}
    for f in ("pytorch_lora_weights.safetensors", "brain.safetensors", "decoder.json", "metrics.csv"):
        assert (tmp_path / "decoder" / f).exists(), f
    curve = pd.read_csv(tmp_path / "decoder/metrics.csv")
    assert len(curve) == 12 and {"diffusion", "router_text", "stage1_category"} <= set(curve.columns)
    info = reconstruct(decoder_dir=tmp_path / "decoder", test_dir=root / "ds/test", train_dir=root / "ds/train",
                       out_dir=tmp_path / "recon", settings={"steps": 2}, device="cpu", progress=False)  # fmt: skip
    assert info == {"clips": 32, "frames": 33, "size": [64, 96]}
    table = pd.read_parquet(tmp_path / "recon/reconstructions.parquet")
    assert list(table.columns) == ["clip", "episode", "has_cut", "video", "ground_truth", "no_brain"]
    first, second = read_video(table["video"].iloc[0]), read_video(table["video"].iloc[1])
    assert first.shape == (33, 64, 96, 3) and np.abs(first.astype(int) - second).mean() > 0.1
    assert read_video(table["no_brain"].iloc[0]).shape == (33, 64, 96, 3)
    assert json.loads((tmp_path / "decoder/decoder.json").read_text())["decoder"]["lora_rank"] == 16


def test_a_memory_pool_of_other_feature_models_is_refused(stage1, tiny_wan, tmp_path):
    """Stage 2 refuses a pool whose memories another CLIP made than the training split's features, before
    any training and without output."""
    from cinebrain.methods.cineneuron.train import build_memory, train_decoder

    root, brain_dir, _ = stage1
    build_memory(train_dir=root / "ds/train", test_dir=root / "ds/test", brain_dir=brain_dir, base=str(tiny_wan),
                 out=tmp_path / "memory.safetensors", tokens=40)  # fmt: skip
    pool = MemoryPool.load(tmp_path / "memory.safetensors")
    pool.models["embedder"] = "openai/clip-vit-large-patch14"
    pool.save(tmp_path / "foreign.safetensors")
    with pytest.raises(MemoryPoolError, match=r"foreign.safetensors: its 'embedder' embeddings come from "
                       r"openai/clip-vit-large-patch14, the decoder trains on .*train with tiny-clip's; fix: rebuild"):
        train_decoder(train_dir=root / "ds/train", brain_dir=brain_dir, memory_file=tmp_path / "foreign.safetensors",
                      model={"base": str(tiny_wan), "tokens": 40}, memory={"top_k": 2, "heads": 4},
                      train={"steps": 4, "batch_size": 8, "warmup_steps": 2}, out_dir=tmp_path / "decoder",
                      device="cpu", progress=False)  # fmt: skip
    assert not (tmp_path / "decoder").exists()


@pytest.mark.slow
def test_stage2_resumes_after_a_signal_to_the_same_weights(stage1, tiny_wan, tmp_path):
    """Stage 2 stopped by SIGUSR1 after step 2 (a checkpoint of the trainable weights: LoRA, Brain Model,
    memories), resumed by a new run: the same adapter and brain state as the uninterrupted run."""
    from safetensors.torch import load_file

    from cinebrain.methods.cineneuron.train import DECODER_STATE, build_memory, train_decoder

    from .conftest import interrupted_after_step

    root, brain_dir, _ = stage1
    build_memory(train_dir=root / "ds/train", test_dir=root / "ds/test", brain_dir=brain_dir, base=str(tiny_wan),
                 out=tmp_path / "memory.safetensors", tokens=40)  # fmt: skip

    def run(out):
        return train_decoder(train_dir=root / "ds/train", brain_dir=brain_dir, memory_file=tmp_path / "memory.safetensors",
                             model={"base": str(tiny_wan), "tokens": 40}, memory={"top_k": 2, "heads": 4},
                             train={"steps": 4, "batch_size": 8, "lr": 1e-3, "warmup_steps": 2, "checkpoint_every": 10},
                             out_dir=out, device="cpu", progress=False)  # fmt: skip

    run(tmp_path / "straight")
    with interrupted_after_step(2):
        run(tmp_path / "resumed")
    ck = torch.load(tmp_path / "resumed/checkpoint.pt", weights_only=False)
    assert ck["step"] == 2 and not (tmp_path / "resumed" / DECODER_STATE).exists()
    assert all("lora_" in k or k.startswith(("brain.", "memory.")) for k in ck["model"])  # not the frozen Wan
    run(tmp_path / "resumed")
    for name in ("pytorch_lora_weights.safetensors", DECODER_STATE):
        a, b = load_file(str(tmp_path / "resumed" / name)), load_file(str(tmp_path / "straight" / name))
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_superclass_table_and_figure(stage1, tmp_path):
    """The report's per-superclass figure: one row per subject and class from stage 1's metrics.json, the
    always-no baseline as 1 - prevalence; a metrics file without the scores is a clear error."""
    import json

    import pandas as pd

    from cinebrain.methods.cineneuron.report import plot_categories

    _, out, m = stage1
    other = json.loads((out / "metrics.json").read_text()) | {"subject": "05"}
    (tmp_path / "m05.json").write_text(json.dumps(other))
    table = plot_categories([out / "metrics.json", tmp_path / "m05.json"], tmp_path / "c.png", tmp_path / "c.csv")
    assert len(table) == 6 and list(table["superclass"][:3]) == ["people", "animals", "vehicles"]
    row = table.iloc[0]
    assert row["accuracy"] == m["categories"]["classes"]["people"]["accuracy"]
    assert row["always_no"] == pytest.approx(1 - m["categories"]["classes"]["people"]["prevalence"])
    assert (tmp_path / "c.png").stat().st_size > 0
    assert pd.read_csv(tmp_path / "c.csv", dtype={"subject": str})["subject"].tolist()[-1] == "05"
    (tmp_path / "bad.json").write_text(json.dumps({"subject": "01"}))
    with pytest.raises(ValueError, match="bad.json: no per-superclass scores.*fix: rerun rule cineneuron_brain"):
        plot_categories([tmp_path / "bad.json"], tmp_path / "x.png", tmp_path / "x.csv")
