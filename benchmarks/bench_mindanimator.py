"""Print the step time and peak memory of Mind-Animator's decoders and of one reconstruction.

    python benchmarks/bench_mindanimator.py           # the demo's tiny sizes on this CPU
    python benchmarks/bench_mindanimator.py --paper   # appendix C.1's sizes on CineBrain's fMRI, SD v1-5 (GPU)

- ``semantic``: one step of the semantic decoder's tri-modal loss (cinebrain.methods.mindanimator.model), batch
  64; --paper: the fMRI window 5 x 8,405 (visual), MLPs of width 4,096, CLIP ViT-B/32's 512, SD's 77 x 768;
- ``motion``: one step of the Consistency Motion Generator on 8 frames of 4 x 64 x 64 latents with patch 64
  (one token a frame), 4 blocks of width 1,024, batch 64;
- ``reconstruction``: one clip through the inflated SD (v1-5's architecture, random weights, 8 frames at
  512 x 512): 50 DDIM inversion steps and 50 sampling steps with classifier-free guidance.
"""

from __future__ import annotations

import argparse

import torch
from _timing import timed_call, timed_steps
from bench_sd import sd_parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="appendix C.1's sizes and SD v1-5 at 512 x 512 (GPU)")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.paper and not torch.cuda.is_available():
        print("bench_mindanimator --paper: no GPU on this machine; the paper-size decoders and an SD v1-5 "
              "reconstruction at 512 x 512 need one. Nothing measured.")  # fmt: skip
        return
    from diffusers import DDIMInverseScheduler, DDIMScheduler

    from cinebrain.methods.mindanimator.generator import inflate
    from cinebrain.methods.mindanimator.model import (
        ConsistencyMotionGenerator,
        SemanticDecoder,
        semantic_loss,
    )

    device = "cuda" if args.paper else "cpu"
    p = args.paper
    fmri, embed, cond, hidden = ((5, 8405), 512, (77, 768), 4096) if p else ((5, 1200), 16, (77, 32), 64)
    latent, frames, patch, width, depth = ((4, 64, 64), 8, 64, 1024, 4) if p else ((4, 8, 12), 8, 4, 32, 1)
    batch = 64 if p else 16
    print(f"Mind-Animator on {torch.cuda.get_device_name() if p else 'the CPU'}")
    torch.manual_seed(0)
    sem = SemanticDecoder(fmri, embed, cond, hidden).to(device)
    x = torch.randn(batch, *fmri, device=device)
    v, t, c = (torch.randn(batch, embed, device=device), torch.randn(batch, embed, device=device),
               torch.randn(batch, *cond, device=device))  # fmt: skip

    def sem_step():
        f, chat = sem(x)
        return semantic_loss(f, chat, v, t, c, logit_scale=sem.logit_scale, lambda1=0.5, lambda2=0.01, alpha=0.5)[0]

    r = timed_steps(sem_step, list(sem.parameters()), args.steps, device)
    print(f"  semantic decoder step, batch {batch}, fMRI {fmri[0]} x {fmri[1]}, width {hidden}: {r['s_per_step']:.3f} "
          f"s/step, peak {r['peak_gib']:.2f} GiB, {r['trainable']:,} parameters")  # fmt: skip
    sem = None  # free it before the next model
    cmg = ConsistencyMotionGenerator(fmri, latent, frames, patch=patch, width=width, depth=depth, heads=8 if p else 4).to(device)
    z = torch.randn(batch, frames, *latent, device=device)
    r = timed_steps(lambda: cmg.loss(z, x), list(cmg.parameters()), args.steps, device)
    print(f"  motion generator step, batch {batch}, {frames} frames of {latent}, patch {patch}, {depth} x {width}: "
          f"{r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB, {r['trainable']:,} parameters")  # fmt: skip
    cmg = x = z = None
    unet, vae = sd_parts(p, device)
    unet = inflate(unet.eval(), frames)
    steps = 50 if p else 4
    z0 = torch.randn(frames, *latent, device=device)
    cond1 = torch.randn(frames, *cond, device=device)

    def reconstruct():
        inv = DDIMInverseScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        inv.set_timesteps(steps, device=device)
        zt = z0
        for ts in inv.timesteps:
            zt = inv.step(unet(zt, ts, encoder_hidden_states=cond1).sample, ts, zt).prev_sample
        sch = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        sch.set_timesteps(steps, device=device)
        for ts in sch.timesteps:
            eps = unet(torch.cat([zt, zt]), ts, encoder_hidden_states=torch.cat([cond1, cond1])).sample.chunk(2)
            zt = sch.step(eps[0] + 7.5 * (eps[1] - eps[0]), ts, zt).prev_sample
        vae.decode(zt / vae.config.scaling_factor)

    r = timed_call(reconstruct, device)
    print(f"  reconstruction of one clip: {frames} frames at {latent[1] * 8} x {latent[2] * 8}, {steps} inversion + "
          f"{steps} guided DDIM steps: {r['s']:.2f} s, peak {r['peak_gib']:.2f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
