"""Print the step time and peak memory of NeuroCine's two phases and of one reconstruction.

    python benchmarks/bench_neurocine.py           # the demo's tiny sizes on this CPU
    python benchmarks/bench_neurocine.py --paper   # section 4.3's sizes, SD v1-5 inflated (GPU)

- ``phase 1``: one step of the fMRI encoder's objective (eq. 2-3: two augmented views and the CLIP text and
  image terms); --paper: 4.3's ViT (patch 16, 24 layers of width 1,024) over a window of 2 volumes of CineBrain's
  8,405 visual columns (1,052 tokens), batch 32;
- ``phase 2``: one step of the video UNet (SD v1-5's architecture inflated by diffusers' UNet3DConditionModel,
  random weights) on 12 frames of 256 x 256 (latents 4 x 12 x 32 x 32) with the dependent noise, the attention
  layers trained; --paper: batch 4 (the paper's 24 were spread over a day on one A100);
- ``reconstruction``: one clip, 50 DDIM steps with classifier-free guidance.
"""

from __future__ import annotations

import argparse

import torch
from _timing import timed_call, timed_steps
from bench_sd import sd_parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="4.3's encoder and SD v1-5 inflated at 12 x 256 x 256 (GPU)")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.paper and not torch.cuda.is_available():
        print("bench_neurocine --paper: no GPU on this machine; 4.3's fMRI encoder and an inflated SD v1-5 step at "
              "12 x 256 x 256 need one. Nothing measured.")  # fmt: skip
        return
    from diffusers import DDIMScheduler, DDPMScheduler

    from cinebrain.methods.neurocine.encoder import FmriEncoder, phase1_loss
    from cinebrain.methods.neurocine.settings import EncoderAugment
    from cinebrain.methods.neurocine.video import (
        diffusion_loss,
        inflate_unet,
        sample,
        set_trainable,
        trainable_names,
    )

    p = args.paper
    device = "cuda" if p else "cpu"
    print(f"NeuroCine on {torch.cuda.get_device_name() if p else 'the CPU'}")
    torch.manual_seed(0)
    voxels, kw, batch = (8405, dict(patch=16, width=1024, depth=24, heads=16), 32) if p else \
        (1200, dict(patch=16, width=32, depth=1, heads=4), 16)  # fmt: skip
    cond = (77, 768) if p else (77, 32)
    enc = FmriEncoder(2, voxels, 512 if p else 16, cond, **kw).to(device)
    x = torch.randn(batch, 2, voxels, device=device)
    txt, img = torch.randn(batch, enc.to_clip.out_features, device=device), torch.randn(batch, enc.to_clip.out_features, device=device)
    r = timed_steps(lambda: phase1_loss(enc, x, txt, img, augment=EncoderAugment())[0], list(enc.parameters()),
                    args.steps, device)  # fmt: skip
    print(f"  phase 1 step, batch {batch}, window 2 x {voxels}, {enc.n_patches * 2} tokens, {kw['depth']} x {kw['width']}: "
          f"{r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB, {r['trainable']:,} parameters")  # fmt: skip
    enc = x = None  # free it before the UNet
    unet2d, vae = sd_parts(p, device)
    unet = inflate_unet(unet2d).to(device)
    unet2d = None
    names = trainable_names(unet)
    set_trainable(unet, names)
    if p:
        unet.enable_gradient_checkpointing()
    frames, hw, batch = (12, 32, 4) if p else (12, 4, 4)
    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    z = torch.randn(batch, frames, 4, hw, hw, device=device)
    c = torch.randn(batch, *cond, device=device)
    r = timed_steps(lambda: diffusion_loss(unet, sched, z, c, 0.25), [q for q in unet.parameters() if q.requires_grad],
                    args.steps, device)  # fmt: skip
    print(f"  phase 2 step, batch {batch}, {frames} frames of {hw * 8} x {hw * 8}, dependent noise 0.25: "
          f"{r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB, {r['trainable']:,} of "
          f"{sum(q.numel() for q in unet.parameters()):,} parameters trained")  # fmt: skip
    unet.eval()
    steps = 50 if p else 4
    ddim = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    r = timed_call(lambda: sample(unet, vae, ddim, c[:1], torch.zeros_like(c[:1]), frames=frames, height=hw * 8,
                                  width=hw * 8, steps=steps, guidance_scale=7.5, beta=0.25, seed=0), device)  # fmt: skip
    print(f"  reconstruction of one clip: {frames} frames at {hw * 8} x {hw * 8}, {steps} guided DDIM steps: "
          f"{r['s']:.2f} s, peak {r['peak_gib']:.2f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
