"""Mind-Animator's generator: Stable Diffusion inflated over a clip's frames, never trained on video
("Animate Your Thoughts", seed 002, section 3.3, appendix C.1 and D.3).

The paper builds on Tune-A-Video: every self-attention layer of the UNet becomes *sparse-causal* cross-frame
attention — frame i's queries attend to the keys and values of the first frame and of frame i - 1 (eq. 10),
which ties the frames' appearance together without any motion prior. diffusers ships only Text2Video-Zero's
``CrossFrameAttnProcessor`` (keys and values of the first frame alone, and deprecated since 0.33), so
:class:`SparseCausalAttnProcessor` is written here as a diffusers attention processor; the UNet's
cross-attention layers (the text condition) keep diffusers' ``AttnProcessor2_0``.

:func:`load_generator` loads the pipeline by path (``StableDiffusionPipeline`` with a ``DDIMScheduler``, as
the paper samples with DDIM) and checks that its VAE, UNet and text encoder fit together;
:func:`generate` takes the decoded text condition and the decoded frame latents, inverts the latents with
DDIM under the empty caption (50 steps) and noises them to timestep 200, as the released reconstruction script does: C.1's "250 steps of Gaussian smoothing,
which includes 50 steps of DDIM inversion") and samples the frames with classifier-free guidance against the
empty caption.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class SparseCausalAttnProcessor:
    """Self-attention across a clip's frames (batch = clips x ``frames``): frame i attends to frames 0 and
    i - 1 (frame 0 to itself twice), Tune-A-Video's sparse-causal attention."""

    def __init__(self, frames: int):
        self.frames = int(frames)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if encoder_hidden_states is not None:
            raise ValueError("SparseCausalAttnProcessor replaces self-attention only (the UNet's attn1 layers)")
        residual = hidden_states
        ndim = hidden_states.ndim
        if ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        bf, n, d = hidden_states.shape
        if bf % self.frames:
            raise ValueError(f"a batch of {bf} latents is not a whole number of {self.frames}-frame clips; fix: give "
                             f"the inflated UNet {self.frames} frames per clip")  # fmt: skip
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        x = hidden_states.view(bf // self.frames, self.frames, n, d)
        previous = torch.cat([x[:, :1], x[:, :-1]], 1)
        context = torch.cat([x[:, :1].expand_as(x), previous], 2).reshape(bf, 2 * n, d)
        q, k, v = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        head = k.shape[-1] // attn.heads
        q, k, v = (t.view(bf, -1, attn.heads, head).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(bf, -1, attn.heads * head).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def inflate(unet, frames: int):
    """Set sparse-causal cross-frame attention on every self-attention layer (``attn1``) of ``unet``."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    procs = {name: SparseCausalAttnProcessor(frames) if name.endswith("attn1.processor") else AttnProcessor2_0()
             for name in unet.attn_processors}  # fmt: skip
    if not any(isinstance(p, SparseCausalAttnProcessor) for p in procs.values()):
        raise ValueError("the UNet has no self-attention layers (attn1) to inflate; fix: a Stable Diffusion UNet")
    unet.set_attn_processor(procs)
    return unet


def check_components(vae, unet, text_encoder, where: str) -> None:
    """Raise ValueError naming ``where`` when the VAE, UNet and text encoder do not fit together."""
    problems = []
    if vae.config.latent_channels != unet.config.in_channels:
        problems.append(f"the VAE makes {vae.config.latent_channels}-channel latents, the UNet takes {unet.config.in_channels}")
    if text_encoder is not None and text_encoder.config.hidden_size != unet.config.cross_attention_dim:
        problems.append(f"the text encoder's width is {text_encoder.config.hidden_size}, the UNet attends to "
                        f"{unet.config.cross_attention_dim}")  # fmt: skip
    if problems:
        raise ValueError(f"{where}: {'; '.join(problems)}; fix: a Stable Diffusion pipeline whose vae/, unet/ and "
                         "text_encoder/ belong together (e.g. runwayml/stable-diffusion-v1-5)")  # fmt: skip


def load_generator(base: str, frames: int, device="cpu", dtype=torch.float32):
    """The Stable Diffusion pipeline of ``base`` with a DDIM scheduler and its UNet inflated over ``frames``."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    try:
        pipe = StableDiffusionPipeline.from_pretrained(base, safety_checker=None, requires_safety_checker=False,
                                                       feature_extractor=None, dtype=dtype)  # fmt: skip
    except (OSError, ValueError) as e:
        raise ValueError(f"{base}: not a Stable Diffusion pipeline folder or hub id ({e}); fix: point "
                         "methods.mindanimator.base at one (vae/, unet/, text_encoder/, tokenizer/, scheduler/)") from e  # fmt: skip
    check_components(pipe.vae, pipe.unet, pipe.text_encoder, base)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    inflate(pipe.unet, frames)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def text_conditions(pipe, captions: list[str], device="cpu", batch_size: int = 64) -> torch.Tensor:
    """The pipeline's text condition (N, tokens, width) of ``captions`` (:mod:`cinebrain.models.sd_text`)."""
    from ...models.sd_text import text_conditions as conditions

    return conditions(pipe.tokenizer, pipe.text_encoder, captions, device=device, batch_size=batch_size)


@torch.no_grad()
def ddim_invert(pipe, latents, cond, steps: int):
    """DDIM inversion (diffusers' DDIMInverseScheduler) of clean latents (F, C, h, w) under condition ``cond``
    (F, L, W) to the sampler's starting noise level, without guidance (as Tune-A-Video inverts)."""
    from diffusers import DDIMInverseScheduler

    inverse = DDIMInverseScheduler.from_config(pipe.scheduler.config)
    inverse.set_timesteps(steps, device=latents.device)
    z = latents
    for t in inverse.timesteps:
        eps = pipe.unet(z, t, encoder_hidden_states=cond).sample
        z = inverse.step(eps, t, z).prev_sample
    return z


def generate(pipe, cond, latents, *, steps: int, inversion_steps: int, guidance_scale: float, uncond=None,
             smoothing_timestep: int = 0, seed: int = 0):  # fmt: skip
    """uint8 frames (F, H, W, 3) of one clip: ``cond`` (1, L, W) the decoded text condition, ``latents``
    (F, C, h, w) the decoded frame latents (scaled as the VAE's), DDIM-inverted under the empty caption's
    condition with ``inversion_steps`` steps (0: none), then noised to ``smoothing_timestep`` (0: not) with
    noise drawn from ``seed`` — as the released ``Reconstruction/video_recons.py`` does (50 inversion steps,
    then ``add_noise`` at timestep 200: appendix C.1's "250 steps of Gaussian smoothing, which includes 50
    steps of DDIM inversion") — and sampled from there with ``steps`` DDIM steps and classifier-free guidance
    against ``uncond`` (default: the empty caption's condition)."""
    device, dtype = pipe.unet.device, pipe.unet.dtype
    f = len(latents)
    cond = cond.to(device, dtype).expand(f, -1, -1)
    if uncond is None:
        uncond = text_conditions(pipe, [""], device=device)
    uncond = uncond.to(device, dtype).expand(f, -1, -1)
    z = latents.to(device, dtype)
    if inversion_steps:
        z = ddim_invert(pipe, z, uncond, inversion_steps)
    if smoothing_timestep:
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
        z = pipe.scheduler.add_noise(z, noise, torch.tensor([int(smoothing_timestep)]))
    sf = pipe.vae_scale_factor
    images = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, latents=z, num_inference_steps=steps,
                  guidance_scale=guidance_scale, height=z.shape[-2] * sf, width=z.shape[-1] * sf,
                  output_type="np").images  # fmt: skip
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
