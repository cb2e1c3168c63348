"""NeuroCine's phase 2: Stable Diffusion made a video diffusion model (seed 003, section 3.2.2, 4.3).

"We modify it by converting 2D convolutions to pseudo 3D and adding a temporal attention layer after each
spatial self-attention layer ... allowing each visual token to attend to tokens from the previous two frames."
diffusers' ``UNet3DConditionModel`` (ModelScope's text-to-video UNet) is exactly that design: its blocks hold
SD's 2-D ResNets and spatial transformers, each ResNet followed by a ``TemporalConvLayer`` (1-D convolutions
over frames: the pseudo-3-D part) and each spatial transformer by a ``TransformerTemporalModel`` (attention
over frames). :func:`inflate_unet` builds it with the SD UNet's configuration, copies every SD weight into it
(same names), and zeroes the temporal layers' output projections, so that before training it computes SD's
UNet frame by frame (a test checks it); AnimateDiff's ``UNetMotionModel`` was the alternative, but it adds
temporal transformers only (no pseudo-3-D convolutions). :class:`WindowedTemporalAttnProcessor` restricts the
temporal attention to the previous ``window`` frames.

:func:`diffusion_loss` is SD's epsilon objective with the dependent prior noise (eq. 7,
:func:`cinebrain.models.noise.dependent_noise`) in place of independent noise; :func:`sample` starts DDIM
from dependent noise and guides against the empty caption's condition. The sampling loop is ours: diffusers'
``TextToVideoSDPipeline`` is deprecated (diffusers.pipelines.deprecated) and takes no initial latents of
our own layout check.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_BLOCKS = {"CrossAttnDownBlock2D": "CrossAttnDownBlock3D", "DownBlock2D": "DownBlock3D",
           "CrossAttnUpBlock2D": "CrossAttnUpBlock3D", "UpBlock2D": "UpBlock3D"}  # fmt: skip


class WindowedTemporalAttnProcessor:
    """Attention over frames (batch = positions, sequence = frames) in which frame i sees frames i - window ... i."""

    def __init__(self, window: int):
        self.window = int(window)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        n, f, d = hidden_states.shape
        ctx = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q, k, v = attn.to_q(hidden_states), attn.to_k(ctx), attn.to_v(ctx)
        head = k.shape[-1] // attn.heads
        q, k, v = (t.view(n, -1, attn.heads, head).transpose(1, 2) for t in (q, k, v))
        i = torch.arange(f, device=hidden_states.device)
        mask = (i[None, :] <= i[:, None]) & (i[None, :] >= i[:, None] - self.window)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(n, f, -1).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


def inflate_unet(unet2d, temporal_window: int = 2):
    """A ``UNet3DConditionModel`` with the SD UNet's configuration and weights, its temporal layers starting
    as the identity, its temporal attention windowed (:class:`WindowedTemporalAttnProcessor`)."""
    from diffusers import UNet3DConditionModel

    c = unet2d.config
    where = f"the Stable Diffusion UNet ({c.get('_name_or_path') or type(unet2d).__name__})"
    unknown = [b for b in (*c.down_block_types, *c.up_block_types) if b not in _BLOCKS]
    if unknown or c.mid_block_type not in (None, "UNetMidBlock2DCrossAttn"):
        raise ValueError(f"{where}: blocks {unknown or c.mid_block_type} have no pseudo-3-D counterpart in diffusers' "
                         "UNet3DConditionModel; fix: a Stable Diffusion v1/v2 UNet")  # fmt: skip
    # SD's config names its heads per block "attention_head_dim" (diffusers' historical naming); UNet3D reads the
    # same key as the heads' width and cannot take a tuple (its input temporal transformer): it is built with the
    # first block's head width, and every spatial attention layer then gets SD's head count back
    channels = tuple(c.block_out_channels)
    heads = c.num_attention_heads or c.attention_head_dim
    heads = (heads,) * len(channels) if isinstance(heads, int) else tuple(heads)
    unet = UNet3DConditionModel(
        sample_size=c.sample_size, in_channels=c.in_channels, out_channels=c.out_channels,
        down_block_types=tuple(_BLOCKS[b] for b in c.down_block_types),
        up_block_types=tuple(_BLOCKS[b] for b in c.up_block_types), block_out_channels=channels,
        layers_per_block=c.layers_per_block, norm_num_groups=c.norm_num_groups, norm_eps=c.norm_eps,
        cross_attention_dim=c.cross_attention_dim, attention_head_dim=channels[0] // heads[0],
    )  # fmt: skip
    heads_of = dict(zip(channels, heads, strict=True))
    for name, module in unet.named_modules():
        if ".attentions." in f".{name}." and name.endswith((".attn1", ".attn2")):
            module.heads = heads_of[module.to_q.out_features]
            module.scale = (module.to_q.out_features // module.heads) ** -0.5
    # the 3-D blocks' spatial transformers project with linear layers, SD v1's with 1 x 1 convolutions: the same map
    target = unet.state_dict()
    state = {k: v.flatten(1) if k in target and v.ndim == 4 and target[k].ndim == 2 else v
             for k, v in unet2d.state_dict().items()}  # fmt: skip
    missing, unexpected = unet.load_state_dict(state, strict=False)
    temporal = ("temp_convs", "temp_attentions", "transformer_in")
    if unexpected or any(not any(t in k for t in temporal) for k in missing):
        raise ValueError(f"{where}: weights that do not map onto the pseudo-3-D UNet (unexpected {unexpected[:3]}, "
                         f"missing {[k for k in missing if not any(t in k for t in temporal)][:3]})")  # fmt: skip
    for name, module in unet.named_modules():
        if name.endswith(("temp_attentions", "transformer_in")) or ".temp_attentions." in name or name == "transformer_in":
            if hasattr(module, "proj_out"):
                torch.nn.init.zeros_(module.proj_out.weight)
                torch.nn.init.zeros_(module.proj_out.bias)
    procs = {}
    for name, proc in unet.attn_processors.items():
        temporal_attn = "temp_attentions" in name or name.startswith("transformer_in")
        procs[name] = WindowedTemporalAttnProcessor(temporal_window) if temporal_attn else proc
    unet.set_attn_processor(procs)
    return unet


def trainable_names(unet, temporal_convs: bool = True) -> list[str]:
    """The parameters phase 2 fine-tunes (4.3): the spatial self-attention (``attn1``) and cross-attention
    (``attn2``) of the spatial transformers, the temporal attention layers, and (``temporal_convs``) the
    pseudo-3-D convolutions."""
    names = []
    for n, _ in unet.named_parameters():
        spatial = ".attentions." in f".{n}" and (".attn1." in n or ".attn2." in n)
        temporal = "temp_attentions" in n or n.startswith("transformer_in")
        if spatial or temporal or (temporal_convs and "temp_convs" in n):
            names.append(n)
    return names


def set_trainable(unet, names) -> int:
    """Freeze every parameter of ``unet`` but ``names``; returns how many values train."""
    keep = set(names)
    total = 0
    for n, p in unet.named_parameters():
        p.requires_grad_(n in keep)
        total += p.numel() if n in keep else 0
    return total


def diffusion_loss(unet, scheduler, latents, cond, beta: float, generator=None):
    """SD's epsilon objective on clips of latents (B, F, C, h, w) under conditions (B, L, W), with the noise
    dependent across each clip's frames (eq. 7) and one timestep per clip."""
    from ...models.noise import dependent_noise

    x0 = latents.permute(0, 2, 1, 3, 4)  # UNet3D's (B, C, F, h, w)
    noise = dependent_noise(x0.shape, beta, generator=generator, device=x0.device, dtype=x0.dtype, frame_dim=2)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), device=x0.device, generator=generator)
    xt = scheduler.add_noise(x0, noise, t)
    pred = unet(xt, t, encoder_hidden_states=cond).sample
    return F.mse_loss(pred, noise)


@torch.no_grad()
def sample(unet, vae, scheduler, cond, uncond, *, frames: int, height: int, width: int, steps: int,
           guidance_scale: float, beta: float, seed: int) -> np.ndarray:  # fmt: skip
    """uint8 (F, H, W, 3) frames of one clip: DDIM from dependent noise (eq. 7, drawn with ``seed``: the same
    start for every clip), classifier-free guidance of condition ``cond`` (1, L, W) against ``uncond``."""
    from ...models.noise import dependent_noise

    dev, dtype = cond.device, cond.dtype
    sf = 2 ** (len(vae.config.block_out_channels) - 1)
    shape = (1, unet.config.in_channels, frames, height // sf, width // sf)
    z = dependent_noise(shape, beta, generator=torch.Generator().manual_seed(seed), frame_dim=2).to(dev, dtype)
    z = z * scheduler.init_noise_sigma
    scheduler.set_timesteps(steps, device=dev)
    both = torch.cat([uncond, cond])
    for t in scheduler.timesteps:
        eps_u, eps_c = unet(torch.cat([z, z]), t, encoder_hidden_states=both).sample.chunk(2)
        z = scheduler.step(eps_u + guidance_scale * (eps_c - eps_u), t, z).prev_sample
    z = z[0].permute(1, 0, 2, 3) / vae.config.scaling_factor  # (F, C, h, w)
    images = torch.cat([vae.decode(z[b : b + 8]).sample for b in range(0, len(z), 8)])
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
