"""Target features (cinebrain.features) from tiny CLIP and CogVideoX-VAE models, through from_pretrained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinebrain.captions import caption_episode
from cinebrain.features import (
    ActionEmbedder,
    Embedder,
    embed_actions,
    embed_episode,
    encode_latents,
    latent_normalisation,
    load_vae,
    read_features,
    video_tensor,
)
from cinebrain.stimuli import read_video

from .conftest import CAPTION_RESOURCES, SMALL


@pytest.fixture(scope="module")
def captions(synth, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("captions")
    caption_episode(clips / "clips.parquet", "ep01", [{"name": "truth", "backend": "sidecar", "n": 2}],
                    {"backend": "wordlist", "source": "truth"}, sidecar_dir=synth / "bids/stimuli",
                    **CAPTION_RESOURCES, out=out / "ep01.parquet", out_categories=out / "ep01_categories.parquet")  # fmt: skip
    return out / "ep01.parquet"


def test_frame_and_caption_embeddings(clips, captions, tiny_models, tmp_path):
    out = tmp_path / "clip/ep01.safetensors"
    embed_episode(clips / "clips.parquet", captions, "ep01", model=str(tiny_models / "clip"), out=out, batch_size=7)
    t, meta = read_features(out)
    caps = pd.read_parquet(captions)
    assert t["frames"].shape == (10, 33, 16) and t["text"].shape == (len(caps), 16)
    assert t["text_clip"].tolist() == caps["clip_index"].tolist() and meta["kind"] == "clip"
    assert meta["clips"][3] == "ep01_clip-0003"
    # reference: the same model run directly on one frame and one caption, unbatched
    emb = Embedder(str(tiny_models / "clip"), batch_size=1)
    frame = read_video(pd.read_parquet(clips / "clips.parquet")["video"].iloc[3])[17]
    np.testing.assert_allclose(t["frames"][3, 17], emb.images(frame[None])[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t["text"][5], emb.texts([caps["text"].iloc[5]])[0], rtol=1e-4, atol=1e-5)
    # different scenes give different frame embeddings
    assert np.abs(t["frames"][0, 0] - t["frames"][5, 0]).max() > 1e-3


def test_siglip_embeddings(clips, captions, tiny_models, tmp_path):
    """SigLIP through the same code (AutoModel/AutoProcessor; its texts padded to max_length)."""
    out = tmp_path / "siglip/ep01.safetensors"
    embed_episode(clips / "clips.parquet", captions, "ep01", model=str(tiny_models / "siglip"), out=out)
    t, meta = read_features(out)
    assert meta["kind"] == "siglip" and t["frames"].shape == (10, 33, 32)
    emb = Embedder(str(tiny_models / "siglip"))
    caps = pd.read_parquet(captions)["text"].tolist()
    # max_length padding: a caption's embedding does not depend on the batch it is in
    np.testing.assert_allclose(t["text"][2], emb.texts(caps[2:3])[0], rtol=1e-4, atol=1e-5)


def test_action_embeddings(clips, tiny_models, tmp_path):
    """X-CLIP's video embedding of every clip (CineNeuron's action targets), batched as the rule does, equal
    to the model run by hand on 8 frames spread over the clip."""
    import torch
    from transformers import XCLIPModel, XCLIPProcessor

    out = tmp_path / "xclip/ep01.safetensors"
    embed_actions(clips / "clips.parquet", "ep01", model=str(tiny_models / "xclip"), out=out, batch_size=3)
    t, meta = read_features(out)
    assert t["action"].shape == (10, 16) and meta["kind"] == "xclip" and meta["frames"] == 8
    frames = read_video(pd.read_parquet(clips / "clips.parquet")["video"].iloc[4])  # 33 frames
    picks = frames[[0, 5, 9, 14, 18, 23, 27, 32]]
    proc, net = XCLIPProcessor.from_pretrained(tiny_models / "xclip"), XCLIPModel.from_pretrained(tiny_models / "xclip")
    with torch.no_grad():
        ref = net.get_video_features(pixel_values=proc(videos=[list(picks)], return_tensors="pt")["pixel_values"])
    ref = ref if hasattr(ref, "shape") else ref.pooler_output
    np.testing.assert_allclose(t["action"][4], ref[0].numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(t["action"][0] - t["action"][5]).max() > 1e-4  # different scenes, different embeddings
    with pytest.raises(ValueError, match="has no video embedding; fix: set features.action.model"):
        ActionEmbedder(str(tiny_models / "clip"))


def test_vae_latents(clips, tiny_models, tmp_path):
    import torch
    from diffusers import AutoencoderKLCogVideoX

    out = tmp_path / "vae/ep01.safetensors"
    encode_latents(clips / "clips.parquet", "ep01", model=str(tiny_models / "cogvideox"), subfolder="vae", out=out, batch_size=3)
    t, meta = read_features(out)
    # CogVideoX: 4x temporal (33 -> 9 latent frames, the first kept), 8x spatial, latent_channels 16
    assert t["mean"].shape == (10, 16, 9, SMALL.height // 8, SMALL.width // 8) == t["std"].shape
    assert (t["std"] > 0).all() and meta["scaling_factor"] == pytest.approx(1.15258426)
    vae = AutoencoderKLCogVideoX.from_pretrained(tiny_models / "cogvideox", subfolder="vae").eval()
    frames = read_video(pd.read_parquet(clips / "clips.parquet")["video"].iloc[4])
    with torch.no_grad():
        ref = vae.encode(video_tensor(frames)[None]).latent_dist.mean[0].numpy()
    np.testing.assert_allclose(t["mean"][4], ref, rtol=1e-3, atol=1e-4)


def test_bf16_vae_latents_stay_within_the_stated_tolerance(clips, tiny_models, tmp_path):
    """features.vae.precision: bfloat16 (the VAE's weights and the video in bf16) moves the posterior mean by an
    RMS of at most 2% of the posterior's own std, the noise every training step samples the latent with, and by a
    relative RMS under 3% of the mean (README, "Speed"; measured on the tiny VAE: 0.7% and 2.0%); the file says
    which arithmetic made it."""
    kw = dict(model=str(tiny_models / "cogvideox"), subfolder="vae", batch_size=5, dtype="float32")
    encode_latents(clips / "clips.parquet", "ep01", out=tmp_path / "fp32.safetensors", **kw)
    encode_latents(clips / "clips.parquet", "ep01", out=tmp_path / "bf16.safetensors", precision="bfloat16", **kw)
    (a, meta_a), (b, meta_b) = read_features(tmp_path / "fp32.safetensors"), read_features(tmp_path / "bf16.safetensors")
    assert meta_a["precision"] == "float32" and meta_b["precision"] == "bfloat16" and b["mean"].dtype == np.float32
    change = np.sqrt(np.mean((b["mean"] - a["mean"]) ** 2))
    assert 0 < change / np.sqrt(np.mean(a["std"] ** 2)) < 0.02
    assert change / np.sqrt(np.mean(a["mean"] ** 2)) < 0.03


def test_wan_latents_are_a_second_source_with_their_normalisation(clips, tiny_models, tmp_path):
    """Wan's VAE through the same rule code (its class read from its config): posterior of every clip, the
    per-channel mean and std that normalise it in the metadata; CogVideoX's file normalises by its scalar."""
    import torch
    from diffusers import AutoencoderKLWan

    out = tmp_path / "wan_vae/ep01.safetensors"
    encode_latents(clips / "clips.parquet", "ep01", model=str(tiny_models / "wan"), subfolder="vae", out=out, batch_size=4)
    t, meta = read_features(out)
    assert t["mean"].shape == (10, 16, 9, SMALL.height // 8, SMALL.width // 8) and meta["vae_class"] == "AutoencoderKLWan"
    vae = AutoencoderKLWan.from_pretrained(tiny_models / "wan", subfolder="vae").eval()
    frames = read_video(pd.read_parquet(clips / "clips.parquet")["video"].iloc[2])
    with torch.no_grad():
        ref = vae.encode(video_tensor(frames)[None]).latent_dist.mean[0].numpy()
    np.testing.assert_allclose(t["mean"][2], ref, rtol=1e-3, atol=1e-4)
    shift, scale = latent_normalisation(meta | {"latents_mean": [0.5] * 16, "latents_std": [2.0] * 16})
    assert shift.shape == (16,) and np.allclose(shift, 0.5) and np.allclose(scale, 0.5)
    assert latent_normalisation({"scaling_factor": 1.15}) == (0.0, pytest.approx(1.15))
    with pytest.raises(ValueError, match="a WanTransformer3DModel, not one of the video VAEs.*fix:"):
        load_vae(str(tiny_models / "wan"), "transformer")


def test_video_tensor_range():
    x = video_tensor(np.array([[[[0, 255, 127]]]], np.uint8))
    assert tuple(x.shape) == (3, 1, 1, 1)
    assert x.flatten().tolist() == pytest.approx([-1.0, 1.0, 127 / 127.5 - 1])
