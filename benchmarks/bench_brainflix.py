"""Print the step time and peak memory of Brain Netflix's stages and of one reconstruction.

    python benchmarks/bench_brainflix.py           # the demo's tiny sizes on this CPU
    python benchmarks/bench_brainflix.py --paper   # section 4's sizes, a Zeroscope-v2-sized U-Net (GPU)

- ``MBM step``: one masked-brain-modelling step (75% of the patches masked); --paper: patch 16, a 24-layer
  encoder of width 1,024 and MinD-Vis's 8-layer decoder of width 512 over CineBrain's 8,405 visual columns (526
  patches, 132 kept), batch 300 (the paper's);
- ``alignment step``: the contrastive loss plus the MBM loss, batch 120 (the paper's);
- ``regression``: the ridge fit (RidgeCV over 6 penalties, 5 folds) and one MLP step for z (4 x 15 x 33 x 33)
  from the 1,024-dimensional embedding of 2,000 training clips; --paper: the paper's MLP of 2,048 units;
- ``reconstruction``: one clip, the regressed z re-noised at strength 0.8, 40 DDIM steps (32 run) with
  classifier-free guidance, through a U-Net of Zeroscope v2's configuration (ModelScope's: 320-1,280 channels,
  text width 1,024; random weights: nothing downloads) at 15 x 33 x 33 latents.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _timing import timed_call, timed_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="section 4's sizes and a Zeroscope-sized U-Net (GPU)")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.paper and not torch.cuda.is_available():
        print("bench_brainflix --paper: no GPU on this machine; the 24-layer MBM encoder at batch 300 and a Zeroscope-"
              "sized U-Net need one. Nothing measured.")  # fmt: skip
        return
    from diffusers import DDIMScheduler, UNet3DConditionModel

    from cinebrain.methods.brainflix.mbm import MaskedBrainModel
    from cinebrain.methods.brainflix.regress import ResidualMLP, fit_ridge

    p = args.paper
    device = "cuda" if p else "cpu"
    print(f"Brain Netflix on {torch.cuda.get_device_name() if p else 'the CPU'}")
    torch.manual_seed(0)
    voxels, kw, batch, align_batch = (
        (8405, dict(patch=16, width=1024, depth=24, heads=16, decoder_width=512, decoder_depth=8, decoder_heads=16), 300, 120)
        if p else (8405, dict(patch=16, width=32, depth=2, heads=4, decoder_width=16, decoder_depth=1, decoder_heads=2), 64, 16))  # fmt: skip
    model = MaskedBrainModel(voxels, 768 if p else 16, **kw).to(device)
    x = torch.randn(batch, voxels, device=device)
    r = timed_steps(lambda: model.mbm_loss(x), list(model.parameters()), args.steps, device)
    print(f"  MBM step, batch {batch}, {model.n_patches} patches ({kw['depth']} x {kw['width']} encoder, "
          f"{kw['decoder_depth']} x {kw['decoder_width']} decoder): {r['s_per_step']:.3f} s/step, "
          f"{batch / r['s_per_step']:.0f} samples/s, peak {r['peak_gib']:.2f} GiB, {r['trainable']:,} parameters")  # fmt: skip
    xa, cap = x[:align_batch], torch.randn(align_batch, model.to_caption.out_features, device=device)
    r = timed_steps(lambda: model.contrastive(xa, cap) + model.mbm_loss(xa), list(model.parameters()), args.steps, device)
    print(f"  alignment step, batch {align_batch}: {r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB")
    model = x = None
    n, d = (2000, 1024) if p else (200, 32)
    frames, hw = (15, 33) if p else (4, 4)
    k = 4 * frames * hw * hw
    rng = np.random.default_rng(0)
    f, z = rng.standard_normal((n, d), dtype=np.float32), rng.standard_normal((n, k), dtype=np.float32)
    t0 = time.perf_counter()
    fit_ridge(f, z, np.repeat(np.arange(10), n // 10), alphas=(0.1, 1, 10, 100, 1e3, 1e4), n_folds=5)
    print(f"  ridge fit, {n} clips, {d} -> {k:,} targets, 6 penalties x 5 folds: {time.perf_counter() - t0:.2f} s")
    mlp = ResidualMLP(d, k, 2048 if p else 64, 3, 0.3).to(device)
    ft, zt = torch.from_numpy(f[:64]).to(device), torch.from_numpy(z[:64]).to(device)
    r = timed_steps(lambda: mlp.loss({"x": ft, "y": zt})[0], list(mlp.parameters()), args.steps, device)
    print(f"  MLP step (z), batch 64: {r['s_per_step']:.4f} s/step, {r['trainable']:,} parameters")
    mlp = None
    cfg = (dict(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024, attention_head_dim=64,
                layers_per_block=2) if p else
           dict(block_out_channels=(32, 64), cross_attention_dim=32, attention_head_dim=8, layers_per_block=1,
                down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
                norm_num_groups=8))  # fmt: skip
    unet = UNet3DConditionModel(sample_size=hw, in_channels=4, out_channels=4, **cfg).to(device).eval()
    if p:
        unet = unet.to(torch.bfloat16)
    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    cond = torch.randn(2, 77, cfg["cross_attention_dim"], device=device, dtype=unet.dtype)
    zr = torch.randn(1, 4, frames, hw, hw, device=device, dtype=unet.dtype)

    def denoise():
        sched.set_timesteps(40)
        ts = sched.timesteps[int(40 * (1 - 0.8)):]
        lat = sched.add_noise(zr, torch.randn_like(zr), ts[:1])
        for t in ts:
            eps = unet(torch.cat([lat] * 2), t, encoder_hidden_states=cond).sample
            u, c = eps.chunk(2)
            lat = sched.step(u + 9.0 * (c - u), t, lat).prev_sample
        return lat

    r = timed_call(denoise, device)
    print(f"  reconstruction, {frames} x {hw} x {hw} latents, 32 of 40 DDIM steps with CFG, "
          f"{sum(q.numel() for q in unet.parameters()):,}-parameter U-Net: {r['s']:.2f} s, peak {r['peak_gib']:.2f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
