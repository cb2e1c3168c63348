"""Stable Diffusion v1-5's published architecture (runwayml/stable-diffusion-v1-5 unet/ and vae/ config.json), for
the benchmarks of the methods built on it (random weights: the figures are time and memory)."""

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, cross_attention_dim=768,
                 block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)  # fmt: skip
SD15_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512)  # fmt: skip


def sd_parts(paper: bool, device: str):
    """(UNet2DConditionModel, AutoencoderKL): SD v1-5's architecture (``paper``) or the demo's tiny SD."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if paper:
        with torch.device(device):
            return UNet2DConditionModel(**SD15_UNET), AutoencoderKL(**SD15_VAE)
    from cinebrain.synth.models import save_tiny_stable_diffusion

    folder = save_tiny_stable_diffusion(tempfile.mkdtemp() + "/sd")
    return (UNet2DConditionModel.from_pretrained(folder, subfolder="unet").to(device),
            AutoencoderKL.from_pretrained(folder, subfolder="vae").to(device))  # fmt: skip
