"""Mind-Animator (seed 002) and the shared fMRI augmentations: known answers of each piece, then training and
reconstruction of a split whose fMRI is a planted map of what the clip shows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cinebrain.methods.mindanimator.model import (
    ConsistencyMotionGenerator,
    StructureDecoder,
    sparse_causal_mask,
)
from cinebrain.models.augment import (
    interpolation_weights,
    spatial_mask,
    temporal_interpolation,
    voxel_dropout,
)

# --- the shared fMRI augmentations: their output statistics -------------------------------------------------


def test_spatial_mask_zeroes_the_configured_share_of_columns_in_every_volume():
    x = torch.randn(64, 5, 200) + 10.0  # no zeros of its own
    y = spatial_mask(x, 0.3, torch.Generator().manual_seed(0))
    zero = y == 0
    # the same columns in every volume of a window ...
    assert (zero == zero[:, :1]).all()
    # ... exactly 30% of them per window, different windows different columns
    assert (zero[:, 0].sum(1) == 60).all()
    assert (zero[0, 0] != zero[1, 0]).any()
    assert torch.equal(y[~zero], x[~zero])


def test_temporal_interpolation_replaces_a_volume_by_its_distance_weighted_neighbours():
    w = interpolation_weights(3)
    # the middle volume of three: its two neighbours at distance 1, equal weights
    assert torch.allclose(w[1], torch.tensor([0.5, 0.0, 0.5]))
    # the first: 1 - 1/3 and 1 - 2/3, normalised
    assert torch.allclose(w[0], torch.tensor([0.0, 2 / 3, 1 / 3]))
    x = torch.randn(2000, 3, 4)
    y = temporal_interpolation(x, 0.25, torch.Generator().manual_seed(0))
    changed = (y != x).any(-1)
    assert changed.float().mean() == pytest.approx(0.25, abs=0.02)
    i, t = torch.nonzero(changed)[0]
    assert torch.allclose(y[i, t], (w[t][:, None] * x[i]).sum(0))
    assert torch.equal(temporal_interpolation(x, 0.0), x)


def test_voxel_dropout_zeroes_half_the_values_of_a_fifth_of_the_voxels():
    x = torch.randn(32, 4, 100) + 10.0
    y = voxel_dropout(x, 0.2, 0.5, torch.Generator().manual_seed(0))
    zero = y == 0
    per_voxel = zero.sum(1)  # (B, V): zeroed entries of each column
    assert ((per_voxel == 0) | (per_voxel == 2)).all()  # a drawn column loses half its 4 values
    assert ((per_voxel == 2).sum(1) == 20).all()  # 20% of the columns drawn
    assert zero.float().mean() == pytest.approx(0.1)


def test_every_method_s_training_loss_can_take_the_augmentations():
    """augmenting(loss_fn, section) augments the fMRI of training batches only; an inactive section leaves the
    loss function as it is (CineSync's encoder and CineNeuron's Brain Model train through it)."""
    from cinebrain.methods.cineneuron.settings import BrainSettings
    from cinebrain.methods.cinesync.settings import EncoderSettings
    from cinebrain.models.augment import augmenting

    seen = []

    def loss_fn(model, batch):
        seen.append(batch["fmri"])
        return torch.tensor(0.0), {}

    assert augmenting(loss_fn, {}) is loss_fn
    wrapped = augmenting(loss_fn, {"spatial_mask": 0.5})
    model, x = torch.nn.Linear(1, 1), torch.randn(4, 3, 10) + 10.0
    wrapped(model.train(), {"fmri": x})
    wrapped(model.eval(), {"fmri": x})
    assert ((seen[0] == 0).sum(-1) == 5 * torch.ones(4, 3)).all() and torch.equal(seen[1], x)
    for cls in (EncoderSettings, BrainSettings):  # the sections have the key
        assert "fmri_augment" in cls.__dataclass_fields__


# --- the motion generator -------------------------------------------------------------------------------------


def test_sparse_causal_mask_as_released_keeps_the_first_frame_and_the_ratio():
    """The released code's mask: rows 0-1 causal only; from row 2 every visible entry but column 0 (the diagonal
    included) is hidden with probability 1 - ratio; one draw for the batch."""
    later = torch.ones(8, 8, dtype=torch.bool).triu(1)
    kept = []
    for seed in range(400):
        m = sparse_causal_mask(3, 8, 0.6, torch.Generator().manual_seed(seed))
        assert torch.equal(m[0], m[2])  # one mask for the batch
        m = m[0]
        assert not m[later].any() and m[:, 0].all()  # never a later frame; always the first
        assert torch.equal(m[:2], torch.ones(2, 8, dtype=torch.bool).tril()[:2])
        rows, cols = torch.tril_indices(8, 8)
        free = (rows >= 2) & (cols >= 1)
        kept.append(m[rows[free], cols[free]].float())
    assert torch.cat(kept).mean().item() == pytest.approx(0.6, abs=0.01)
    assert torch.equal(sparse_causal_mask(1, 8, 0.0)[0], torch.ones(8, 8, dtype=torch.bool).tril())


def test_sparse_causal_mask_never_shows_a_later_frame_and_hides_the_configured_share():
    g = torch.Generator().manual_seed(0)
    m = sparse_causal_mask(500, 8, 0.6, g, style="share")
    later = torch.ones(8, 8, dtype=torch.bool).triu(1)
    assert not m[:, later].any()  # the fixed part: no frame sees a later one
    assert m[:, torch.arange(8), torch.arange(8)].all()  # every frame sees itself
    for i in range(1, 8):  # the random part: floor(0.6 i) of the i earlier frames hidden, at random
        assert (m[:, i, :i].sum(1) == i - int(0.6 * i)).all()
    assert m[:, 7, :7].float().mean(0).min() > 0.25  # every earlier frame is sometimes visible
    inference = sparse_causal_mask(4, 8, 0.0)
    assert torch.equal(inference[0], torch.ones(8, 8, dtype=torch.bool).tril())


def test_motion_generator_is_causal_and_refuses_clips_of_another_length():
    torch.manual_seed(0)
    cmg = ConsistencyMotionGenerator((3, 20), (4, 4, 6), 6, patch=2, width=32, depth=2, heads=4, mask_ratio=0.6).eval()
    z, fmri = torch.randn(2, 6, 4, 4, 6), torch.randn(2, 3, 20)
    out = cmg(z, fmri)
    z2 = z.clone()
    z2[:, 4:] = torch.randn(2, 2, 4, 4, 6)  # change the last two frames
    out2 = cmg(z2, fmri)
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-6)  # predictions from frames <= 3 are unchanged
    assert not torch.allclose(out[:, 4:], out2[:, 4:])
    gen = cmg.generate(z[:, 0], fmri)
    assert gen.shape == (2, 6, 4, 4, 6) and torch.equal(gen[:, 0], z[:, 0])
    with pytest.raises(ValueError, match="5 latent frames; the motion generator expects 6"):
        cmg.loss(z[:, :5], fmri)
    with pytest.raises(ValueError, match="patch size 4 does not divide"):
        ConsistencyMotionGenerator((3, 20), (4, 6, 6), 6, patch=4, width=32, depth=1, heads=4)


def test_motion_generator_learns_the_motion_the_fmri_names():
    """Frames of a bright square moving by a per-clip velocity that the fMRI encodes: the fMRI-guided
    generator predicts the next frames far better than the one without fMRI guidance."""
    g = torch.Generator().manual_seed(0)
    n, f = 256, 5
    v = torch.randint(-1, 2, (n,), generator=g)  # -1, 0, +1 columns per frame
    z = torch.zeros(n, f, 1, 4, 8)
    for i in range(n):
        for t in range(f):
            z[i, t, 0, 1:3, (2 + v[i] * t) % 8] = 1.0
    fmri = torch.nn.functional.one_hot(v + 1, 3).float()[:, None, :].repeat(1, 2, 1) + 0.05 * torch.randn(n, 2, 3, generator=g)
    losses = {}
    for guided in (True, False):
        torch.manual_seed(0)
        cmg = ConsistencyMotionGenerator((2, 3), (1, 4, 8), f, patch=4, width=32, depth=2, heads=4, mask_ratio=0.0,
                                         fmri_guidance=guided)  # fmt: skip
        opt = torch.optim.AdamW(cmg.parameters(), lr=3e-3)
        for _ in range(300):
            idx = torch.randint(n, (64,), generator=g)
            loss = cmg.loss(z[idx], fmri[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        cmg.eval()
        gen = cmg.generate(z[:, 0], fmri)
        losses[guided] = float(((gen[:, 1:] - z[:, 1:]) ** 2).mean())
    # the first frame does not say where the square goes; only the fMRI does
    assert losses[True] < 0.3 * losses[False], losses


# --- the structure decoder and the importance maps ------------------------------------------------------------


def test_structure_decoder_recovers_a_planted_linear_map_and_its_importance_finds_the_voxels():
    from cinebrain.methods.mindanimator.importance import decoder_maps

    g = torch.Generator().manual_seed(0)
    n, t, v = 512, 2, 60
    planted = torch.arange(10, 20)  # the only voxels that carry the latent
    w = torch.randn(10, 2 * 3 * 4, generator=g)
    latent = torch.randn(n, 10, generator=g)
    fmri = 0.1 * torch.randn(n, t, v, generator=g)
    fmri[:, :, planted] += latent[:, None, :]
    target = (latent @ w).view(n, 2, 3, 4)
    torch.manual_seed(0)
    dec = StructureDecoder((t, v), (2, 3, 4), hidden=64)
    opt = torch.optim.AdamW(dec.parameters(), lr=3e-3, weight_decay=0.05)
    for _ in range(600):
        idx = torch.randint(n, (64,), generator=g)
        loss = torch.nn.functional.mse_loss(dec(fmri[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        held = torch.randn(64, 10, generator=g)
        x = 0.1 * torch.randn(64, t, v, generator=g)
        x[:, :, planted] += held[:, None, :]
        err = torch.nn.functional.mse_loss(dec(x), (held @ w).view(64, 2, 3, 4)) / (held @ w).var()
    assert err < 0.1, float(err)
    imp = decoder_maps(None, dec, None, (t, v))["structure"]
    assert imp.max() == 1.0 and imp.min() == 0.0
    others = np.setdiff1d(np.arange(v), planted.numpy())
    assert imp[planted.numpy()].mean() > 3 * imp[others].mean()


def test_importance_maps_round_trip_through_cifti_and_average_per_area(tmp_path):
    import nibabel as nib

    from cinebrain.fmri.grayordinates import mmp_parcels
    from cinebrain.methods.mindanimator.importance import importance, roi_table, write_dscalar

    # the product of the linear maps, averaged over features, magnitudes rescaled to [0, 1]
    w1, w2 = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]), np.array([[1.0, 1.0], [1.0, -1.0]])
    assert np.allclose(importance([w1, w2], (1, 3)), [0.5, 0.0, 1.0])
    # min-max, as the released code: w2 @ w1 = [[2, 1, 4], [2, 1, 2]], means 2, 1, 3 -> (x - 1) / 2 (not x / 3)
    w1 = np.array([[2.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
    assert np.allclose(importance([w1, w2], (1, 3)), [0.5, 0.0, 1.0])
    parcels, labels = mmp_parcels()
    inv = {v: k for k, v in labels.items()}
    cols = np.concatenate([np.flatnonzero(parcels == inv["L_V1"])[:5], np.flatnonzero(parcels == inv["R_MT"])[:5]])
    maps = {"semantic": np.r_[np.full(5, 0.2), np.full(5, 1.0)], "structure": np.r_[np.full(5, 1.0), np.full(5, 0.1)]}
    write_dscalar(tmp_path / "imp.dscalar.nii", maps, cols)
    img = nib.load(tmp_path / "imp.dscalar.nii")
    assert list(img.header.get_axis(0).name) == ["semantic", "structure"]
    data = np.asarray(img.dataobj)
    assert data.shape == (2, 91282) and np.allclose(data[1, cols], maps["structure"]) and data.sum() == pytest.approx(
        sum(m.sum() for m in maps.values()), rel=1e-5)
    table = roi_table(maps, [labels[int(parcels[c])] for c in cols])
    assert table.loc["R_MT", "semantic"] == pytest.approx(1.0) and table.loc["L_V1", "structure"] == pytest.approx(1.0)
    assert table.loc["L_V1", "voxels"] == 5


# --- the inflated generator ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from cinebrain.synth.models import save_tiny_stable_diffusion

    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("sd") / "stable_diffusion")


def test_inflated_unet_attends_to_the_first_and_previous_frame(tiny_sd):
    """Frame i's output changes with frames 0 and i - 1 only: sparse-causal cross-frame attention."""
    from cinebrain.methods.mindanimator.generator import SparseCausalAttnProcessor, load_generator

    pipe = load_generator(str(tiny_sd), frames=4)
    procs = pipe.unet.attn_processors
    assert all(isinstance(p, SparseCausalAttnProcessor) == n.endswith("attn1.processor") for n, p in procs.items())
    attn = next(m for n, m in pipe.unet.named_modules() if n.endswith("attn1"))
    x = torch.randn(4, 6, attn.to_q.in_features)
    with torch.no_grad():
        base = attn(x)
        for changed, affected in ((0, {0, 1, 2, 3}), (1, {1, 2}), (2, {2, 3}), (3, {3})):
            y = x.clone()
            y[changed] += 1.0
            diff = (attn(y) - base).abs().flatten(1).amax(1) > 1e-6
            assert set(torch.nonzero(diff).flatten().tolist()) == affected, changed
    with pytest.raises(ValueError, match="not a whole number of 4-frame clips"):
        attn(torch.randn(6, 6, attn.to_q.in_features))


def test_generator_makes_the_configured_frames_and_refuses_a_mismatched_pair(tiny_sd, tmp_path):
    import shutil

    from diffusers import AutoencoderKL

    from cinebrain.methods.mindanimator.generator import (
        generate,
        load_generator,
        text_conditions,
    )
    from cinebrain.models.frame_latents import encode_frames

    pipe = load_generator(str(tiny_sd), frames=3)
    cond = text_conditions(pipe, ["a red circle moves left"])
    assert cond.shape == (1, 77, 32)
    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 48, 3), dtype=np.uint8)
    z = encode_frames(pipe.vae, frames)
    assert z.shape == (3, 4, 4, 6)
    out = generate(pipe, cond, z, steps=2, inversion_steps=2, guidance_scale=3.0)
    assert out.shape == (3, 32, 48, 3) and out.dtype == np.uint8
    # the released code's smoothing: inverted latents noised to timestep 200 with the seed's noise
    smoothed = [generate(pipe, cond, z, steps=2, inversion_steps=2, guidance_scale=3.0, smoothing_timestep=200, seed=s)
                for s in (1, 1, 2)]  # fmt: skip
    assert np.array_equal(smoothed[0], smoothed[1]) and not np.array_equal(smoothed[0], smoothed[2])
    # a VAE of 8 latent channels beside the 4-channel UNet
    bad = tmp_path / "bad"
    shutil.copytree(tiny_sd, bad)
    AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                  block_out_channels=(8, 16, 16, 16), latent_channels=8, norm_num_groups=4).save_pretrained(bad / "vae")  # fmt: skip
    with pytest.raises(ValueError, match="the VAE makes 8-channel latents, the UNet takes 4"):
        load_generator(str(bad), frames=3)


# --- captions ----------------------------------------------------------------------------------------------


def test_caption_augmentation_applies_each_operation_at_its_rate(tmp_path):
    from cinebrain.methods.mindanimator.captions import augment_caption, read_synonyms

    table = tmp_path / "syn.tsv"
    table.write_text("# test\nmoves\tglides,drifts\n")
    syn = read_synonyms(table)
    assert syn["glides"] == ["drifts", "moves"]  # symmetric
    rng = np.random.default_rng(0)
    caption = "a red circle moves left"
    only_synonym = [augment_caption(caption, syn, rng, synonym=0.5, insert=0, swap=0, delete=0) for _ in range(2000)]
    changed = np.mean([c != caption for c in only_synonym])
    assert changed == pytest.approx(0.5, abs=0.04)
    assert {c.split()[3] for c in only_synonym} == {"moves", "glides", "drifts"}
    deleted = [augment_caption(caption, syn, rng, synonym=0, insert=0, swap=0, delete=1.0) for _ in range(50)]
    assert all(len(c.split()) == 4 for c in deleted)
    bad = tmp_path / "bad.tsv"
    bad.write_text("moves glides\n")
    with pytest.raises(ValueError, match="bad.tsv:1: expected 'word<TAB>synonym"):
        read_synonyms(bad)


# --- training and reconstruction end to end ----------------------------------------------------------------


def _split(root, tiny_clip, n, seed, colours):
    """A split whose clips show a coloured square moving by a per-clip direction; the fMRI columns 0-19 (V1)
    encode the colour, 20-39 (MT) the direction, 40-59 noise."""
    import pandas as pd

    from cinebrain.features import Embedder, _save
    from cinebrain.fmri.grayordinates import mmp_parcels
    from cinebrain.stimuli import write_video

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    col = rng.integers(0, 3, n)
    direction = rng.choice([-1, 1], n)
    videos = np.zeros((n, 9, 32, 48, 3), np.uint8)
    for i in range(n):
        for t in range(9):
            x = 16 + direction[i] * t * 2
            videos[i, t, 10:22, x : x + 12] = colours[col[i]]
        write_video(root / f"clip{i:03d}.mp4", videos[i], 8.0)
    fmri = 0.3 * rng.standard_normal((n, 2, 60)).astype(np.float32)
    fmri[:, :, :20] += np.eye(3)[col].repeat(7, 1)[:, None, :20]
    fmri[:, :, 20:40] += direction[:, None, None]
    np.save(root / "fmri.npy", fmri.astype(np.float32))
    emb = Embedder(str(tiny_clip))
    captions = [f"a {['red', 'green', 'blue'][c]} square moves {'left' if d < 0 else 'right'}" for c, d in zip(col, direction, strict=True)]
    frames = np.stack([emb.images(v) for v in videos])
    text = emb.texts(captions)
    _save({"frames": frames.astype(np.float32), "text": text.astype(np.float32), "text_clip": np.arange(n)},
          {"model": str(tiny_clip)}, root / "embed.safetensors")  # fmt: skip
    man = pd.DataFrame({"row": np.arange(n), "clip": [f"{root.name}{i:03d}" for i in range(n)], "clip_index": np.arange(n),
                        "caption": captions, "embed_file": "embed.safetensors", "embed_row": np.arange(n),
                        "video": [f"clip{i:03d}.mp4" for i in range(n)], "episode": "ep01", "has_cut": False})  # fmt: skip
    man.to_parquet(root / "manifest.parquet")
    (root / "dataset.json").write_text(json.dumps({"Subject": "01", "fmri": {"Shape": [n, 2, 60]}}))
    parcels, labels = mmp_parcels()
    inv = {v: k for k, v in labels.items()}
    gray = np.concatenate([np.flatnonzero(parcels == inv[a])[:20] for a in ("L_V1", "L_MT", "L_FEF")])
    (root / "roi_columns.json").write_text(json.dumps({"Columns": {"grayordinate": gray.tolist(),
                                                                   "label": [labels[int(parcels[g])] for g in gray]}}))  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_models):
    from cinebrain.methods.mindanimator.train import encode_latents, train

    tmp = tmp_path_factory.mktemp("mindanimator")
    colours = [(220, 40, 40), (40, 190, 60), (50, 80, 230)]
    _split(tmp / "ds/train", tiny_models / "clip", 96, 0, colours)
    _split(tmp / "ds/test", tiny_models / "clip", 12, 1, colours)
    base = str(tiny_models / "stable_diffusion")
    for split in ("train", "test"):
        encode_latents(split_dir=tmp / f"ds/{split}", base=base, frames=4, out=tmp / f"{split}.safetensors")
    fast = {"steps": 60, "batch_size": 32, "lr": 2e-3, "warmup_steps": 2, "checkpoint_every": 30}
    settings = {"base": base, "frames": 4, "fmri_augment": {"voxel_dropout": 0.2},
                "semantic": {"model": {"hidden": 64}, "train": fast, "captions": {"variants": 2}},
                "structure": {"model": {"hidden": 64}, "train": fast},
                "motion": {"model": {"patch": 2, "width": 32, "depth": 1, "heads": 4}, "train": fast},
                "reconstruct": {"steps": 2, "inversion_steps": 2}, "evaluation": {"repeats": 2}}  # fmt: skip
    m = train(train_dir=tmp / "ds/train", test_dir=tmp / "ds/test", latents_train=tmp / "train.safetensors",
              latents_test=tmp / "test.safetensors", embedder=str(tiny_models / "clip"), settings=settings,
              out_dir=tmp / "out", device="cpu", progress=False)  # fmt: skip
    return tmp, m


def test_training_writes_the_contract_and_beats_the_mean_latent(trained):
    from cinebrain.methods.contract import read_metrics

    tmp, m = trained
    out = tmp / "out"
    assert read_metrics(out / "metrics.json") == m
    for f in ("model.safetensors", "config.json", "metrics.csv", "importance.dscalar.nii", "importance.csv"):
        assert (out / f).exists(), f
    assert not list(out.rglob("checkpoint.pt"))
    e = m["latent_mse"]
    assert e["structure"] < e["structure_mean_baseline"], e
    import pandas as pd

    curve = pd.read_csv(out / "metrics.csv")
    assert set(curve["decoder"]) == {"semantic", "structure", "motion", "motion_unguided", "frame_mlps"}
    table = pd.read_csv(out / "importance.csv", index_col=0)
    # the structure decoder reads the colour from V1's columns more than from the noise of FEF's
    assert table.loc["L_V1", "structure"] > table.loc["L_FEF", "structure"]


@pytest.mark.parametrize("variant", ["mindanimator", "no_motion"])
def test_reconstructions_fill_the_contract(trained, variant):
    import pandas as pd

    from cinebrain.methods.mindanimator.reconstruct import reconstruct
    from cinebrain.stimuli import read_video

    tmp, _ = trained
    out = tmp / f"recon_{variant}"
    info = reconstruct(model_dir=tmp / "out", variant=variant, test_dir=tmp / "ds/test", train_dir=tmp / "ds/train",
                       latents_train=tmp / "train.safetensors", out_dir=out, settings={"steps": 2, "inversion_steps": 2},
                       device="cpu", progress=False)  # fmt: skip
    assert info["clips"] == 12
    table = pd.read_parquet(out / "reconstructions.parquet")
    assert len(table) == 12 and (out / "no_brain.mp4").exists()
    video = read_video(table["video"].iloc[0])
    assert video.shape == (9, 32, 48, 3)  # the ground truth's frames and size


def test_hold_frames_spreads_the_generated_frames_over_the_clip():
    from cinebrain.models.frame_latents import hold_frames

    frames = np.arange(4, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3)
    out = hold_frames(frames, 9)
    assert out[:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]  # floor(k 4 / 9)


def test_saved_decoders_round_trip_to_the_scores_they_were_saved_with(trained):
    """model.safetensors + config.json rebuild every decoder: the test scores recomputed from the loaded
    weights equal those of metrics.json."""
    from cinebrain.data import ClipDataset
    from cinebrain.methods.mindanimator.settings import Settings
    from cinebrain.methods.mindanimator.train import WithLatents, _test_scores, load_trained, read_latents
    from cinebrain.settings import build

    tmp, m = trained
    mods, cfg = load_trained(tmp / "out")
    assert set(mods) == {"semantic", "structure", "motion", "motion_unguided", "frame_mlps"}
    te = ClipDataset(tmp / "ds/test", modalities=("fmri",), targets=("frames",))
    tr = ClipDataset(tmp / "ds/train", modalities=())
    test = WithLatents(te, read_latents(tmp / "test.safetensors", te.manifest["clip"], 4))
    s = build(Settings, {"evaluation": {"repeats": 2}})
    scores, errors = _test_scores(mods, test, read_latents(tmp / "train.safetensors", tr.manifest["clip"], 4), s, "cpu")
    assert errors == pytest.approx(m["latent_mse"], rel=1e-5) and scores["scores"] == m["scores"]


def test_latents_of_other_clips_or_frame_counts_are_refused(trained):
    from cinebrain.data import ClipDataset
    from cinebrain.methods.mindanimator.train import read_latents

    tmp, _ = trained
    clips = ClipDataset(tmp / "ds/test", modalities=()).manifest["clip"]
    with pytest.raises(ValueError, match="clips of 4 latent frames; the model expects 6"):
        read_latents(tmp / "test.safetensors", clips, 6)
    with pytest.raises(ValueError, match="latents of other clips than the dataset's"):
        read_latents(tmp / "test.safetensors", clips[::-1], 4)


def test_a_clip_without_a_caption_is_one_error_naming_the_dataset(trained, tmp_path):
    import shutil

    import pandas as pd

    from cinebrain.data import ClipDataset

    tmp, _ = trained
    ds = tmp_path / "train"
    shutil.copytree(tmp / "ds/train", ds)
    assert ClipDataset(ds, modalities=()).captions()[0].startswith("a ")
    man = pd.read_parquet(ds / "manifest.parquet")
    man.loc[3, "caption"] = " "
    man.to_parquet(ds / "manifest.parquet")
    with pytest.raises(ValueError, match=r"train: clips without a caption; fix: give every clip a caption"):
        ClipDataset(ds, modalities=()).captions()
