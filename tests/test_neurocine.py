"""NeuroCine (seed 003): the fMRI encoder's windows and objective, the inflated video UNet, the dependent prior
noise, training of both phases into the contract and reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cinebrain.methods.neurocine.encoder import FmriEncoder, sliding_windows
from cinebrain.models.noise import dependent_noise

from .test_mindanimator import _split


def test_sliding_windows_cover_every_start():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    w = sliding_windows(x, 2)
    assert w.shape == (2, 4, 2, 3)
    assert torch.equal(w[1, 2], x[1, 2:4])
    assert sliding_windows(x, None).shape == (2, 1, 5, 3)
    with pytest.raises(ValueError, match="an encoder window of 6 volumes; the clips have 5"):
        sliding_windows(x, 6)


def test_encoder_pads_voxels_into_patches_and_refuses_other_windows():
    enc = FmriEncoder(2, 37, 16, (77, 32), patch=8, width=32, depth=1, heads=4)
    assert enc.n_patches == 5  # 37 voxels in patches of 8: the last one padded
    e, c = enc(torch.randn(3, 2, 37))
    assert e.shape == (3, 16) and c.shape == (3, 77, 32)
    with pytest.raises(ValueError, match="fMRI windows of 3 x 37; the encoder was built for 2 volumes of 37"):
        enc(torch.randn(3, 3, 37))


def test_dependent_noise_correlates_frames_by_beta_along_the_frame_axis():
    g = torch.Generator().manual_seed(0)
    x = dependent_noise((256, 4, 6, 8, 8), 0.25, generator=g, frame_dim=2)  # UNet3D's (B, C, F, h, w)
    assert x.std().item() == pytest.approx(1.0, abs=0.02)
    a, b = x[:, :, 0].flatten(), x[:, :, 3].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1].item() == pytest.approx(0.25, abs=0.02)
    # channels do not share the component: only frames do
    c0, c1 = x[:, 0].flatten(), x[:, 1].flatten()
    assert abs(torch.corrcoef(torch.stack([c0, c1]))[0, 1].item()) < 0.02


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from cinebrain.synth.models import save_tiny_stable_diffusion

    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("sd") / "stable_diffusion")


def test_inflated_unet_starts_as_stable_diffusion_frame_by_frame(tiny_sd):
    from diffusers import UNet2DConditionModel

    from cinebrain.methods.neurocine.video import inflate_unet, trainable_names

    u2 = UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet").eval()
    u3 = inflate_unet(u2).eval()
    x, t, c = torch.randn(2, 4, 3, 8, 12), torch.tensor([10, 500]), torch.randn(2, 77, 32)
    with torch.no_grad():
        y3 = u3(x, t, encoder_hidden_states=c).sample
        y2 = torch.stack([u2(x[:, :, k], t, encoder_hidden_states=c).sample for k in range(3)], 2)
    assert torch.allclose(y3, y2, atol=1e-5)
    names = trainable_names(u3)
    assert any("temp_attentions" in n for n in names) and any(".attn2." in n for n in names)
    assert not any("resnets" in n or "conv_in" in n for n in names)
    assert not any("temp_convs" in n for n in trainable_names(u3, temporal_convs=False))


def test_temporal_attention_sees_only_the_previous_two_frames(tiny_sd):
    from diffusers import UNet2DConditionModel

    from cinebrain.methods.neurocine.video import WindowedTemporalAttnProcessor, inflate_unet

    u3 = inflate_unet(UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet"), temporal_window=2).eval()
    name, attn = next((n, m) for n, m in u3.named_modules() if ".temp_attentions." in n and n.endswith("attn1"))
    assert isinstance(attn.processor, WindowedTemporalAttnProcessor)
    x = torch.randn(3, 6, attn.to_q.in_features)  # 3 positions, 6 frames
    with torch.no_grad():
        base = attn(x)
        for changed, affected in ((0, {0, 1, 2}), (2, {2, 3, 4}), (5, {5})):
            y = x.clone()
            y[:, changed] += 1.0
            diff = (attn(y) - base).abs().amax((0, 2)) > 1e-6
            assert set(torch.nonzero(diff).flatten().tolist()) == affected, (name, changed)


def _plant_video_map(root):
    """Make each split's fMRI a fixed linear map of the clip's video embedding (its frames' mean CLIP
    embedding) plus noise: the known answer phase 1 must find."""
    from safetensors.numpy import load_file

    m = np.random.default_rng(7).standard_normal((16, 2 * 60)).astype(np.float32)
    for split, seed in (("train", 0), ("test", 1)):
        video = load_file(str(root / split / "embed.safetensors"))["frames"].mean(1)
        video = (video - video.mean(0)) / video.std(0)
        noise = 0.5 * np.random.default_rng(seed).standard_normal((len(video), 2, 60))
        np.save(root / split / "fmri.npy", ((video @ m).reshape(-1, 2, 60) / 4 + noise).astype(np.float32))


@pytest.fixture(scope="module")
def phase1(tmp_path_factory, tiny_models):
    from cinebrain.methods.neurocine.train import train_encoder

    tmp = tmp_path_factory.mktemp("neurocine")
    colours = [(220, 40, 40), (40, 190, 60), (50, 80, 230)]
    _split(tmp / "ds/train", tiny_models / "clip", 96, 0, colours)
    _split(tmp / "ds/test", tiny_models / "clip", 24, 1, colours)
    _plant_video_map(tmp / "ds")
    settings = {"base": str(tiny_models / "stable_diffusion"), "frames": 4, "size": None,
                "encoder": {"model": {"patch": 8, "width": 32, "depth": 1, "heads": 4, "window": 1},
                            "train": {"steps": 300, "batch_size": 32, "lr": 1e-3, "warmup_steps": 5}},
                "decoder": {"video_train": {"steps": 3, "batch_size": 8}, "train": {"steps": 3, "batch_size": 8}},
                "evaluation": {"repeats": 4}}  # fmt: skip
    m = train_encoder(train_dir=tmp / "ds/train", test_dir=tmp / "ds/test", settings=settings, out_dir=tmp / "out",
                      device="cpu", progress=False)  # fmt: skip
    return tmp, settings, m


def test_phase1_aligns_the_fmri_with_the_clips_and_writes_the_contract(phase1):
    from cinebrain.methods.contract import read_metrics

    tmp, _, m = phase1
    assert read_metrics(tmp / "out/metrics.json") == m
    assert m["window"] == 1 and m["n_candidates"] == 24
    # the fMRI is a noisy linear map of the video embedding: retrieval among the 24 test clips well above chance
    assert m["scores"]["two_way"] > 0.7, m["scores"]  # 0.777 when written
    assert m["scores"]["brain_to_video_top5"] > 2 * m["chance"]["brain_to_video_top5"], m
    import pandas as pd

    curve = pd.read_csv(tmp / "out/metrics.csv")
    assert {"embedding", "spatial", "temporal"} <= set(curve.columns) and len(curve) == 300


def test_phase2_trains_saves_only_what_it_tunes_and_reconstructs_into_the_contract(phase1, tiny_models):
    import pandas as pd
    from safetensors.torch import load_file

    from cinebrain.methods.neurocine.reconstruct import load_trained, reconstruct
    from cinebrain.methods.neurocine.train import train_decoder
    from cinebrain.models.frame_latents import encode_latents
    from cinebrain.stimuli import read_video

    tmp, settings, _ = phase1
    base = settings["base"]
    for split in ("train", "test"):
        encode_latents(split_dir=tmp / f"ds/{split}", base=base, frames=4, out=tmp / f"{split}.safetensors")
    meta = train_decoder(train_dir=tmp / "ds/train", encoder_dir=tmp / "out", latents_train=tmp / "train.safetensors",
                         settings=settings, out_dir=tmp / "out", device="cpu", progress=False)  # fmt: skip
    saved = load_file(str(tmp / "out/decoder/unet.safetensors"))
    assert len(saved) == meta["trainable"] and all(("attn" in k or "temp_" in k or "transformer_in" in k) for k in saved)
    curve = pd.read_csv(tmp / "out/decoder/metrics.csv")
    assert list(curve.groupby("phase", sort=False).size().items()) == [("video", 3), ("brain", 3)]
    # the saved parameters come back into a freshly inflated UNet
    unet, encoder, _ = load_trained(tmp / "out")
    params = dict(unet.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in saved.items())
    info = reconstruct(model_dir=tmp / "out", test_dir=tmp / "ds/test", train_dir=tmp / "ds/train",
                       out_dir=tmp / "recon", settings={"steps": 2}, device="cpu", progress=False)  # fmt: skip
    assert info["clips"] == 24
    table = pd.read_parquet(tmp / "recon/reconstructions.parquet")
    assert len(table) == 24 and (tmp / "recon/no_brain.mp4").exists()
    assert read_video(table["video"].iloc[0]).shape == (9, 32, 48, 3)


def test_latents_of_another_vae_are_refused(tiny_sd):
    from cinebrain.methods.neurocine.train import check_latent_channels, load_video_unet

    unet = load_video_unet(str(tiny_sd), 2)
    with pytest.raises(ValueError, match="latents of 8 channels, the UNet takes 4"):
        check_latent_channels(torch.zeros(2, 4, 8, 4, 6), unet, "x.safetensors")


def test_phase1_refuses_a_window_longer_than_the_clips(phase1, tmp_path):
    from cinebrain.methods.neurocine.train import train_encoder

    tmp, settings, _ = phase1
    bad = {**settings, "encoder": {**settings["encoder"], "model": {**settings["encoder"]["model"], "window": 3}}}
    with pytest.raises(ValueError, match="window 3 is longer than the clips' 2 volumes"):
        train_encoder(train_dir=tmp / "ds/train", test_dir=tmp / "ds/test", settings=bad, out_dir=tmp_path / "o",
                      device="cpu", progress=False)  # fmt: skip
    assert not (tmp_path / "o/metrics.json").exists()
