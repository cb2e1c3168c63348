"""Print the step time and peak memory of CineNeuron's two training steps.

    python benchmarks/bench_cineneuron.py           # the demo's tiny sizes on this CPU
    python benchmarks/bench_cineneuron.py --paper   # Wan2.1-T2V-1.3B at 33 x 480 x 720 and the paper's Brain Model (GPU)

- ``stage 2``: one LoRA step of the Wan transformer with CineNeuron's objective
  (cinebrain.methods.cineneuron.decoder: ``add_lora`` on the attention projections, rank 16, scaling 16;
  ``flow_matching_loss`` with Wan's shifted noise levels), the fused condition given (512 x 4096 at paper
  size; the Brain Model and memories are stage 1's cost, measured below). --paper: Wan2.1-T2V-1.3B's
  published transformer configuration (30 layers of 12 x 128 heads, FFN 8,960, text 4,096) with random
  weights, frozen in bf16, gradient checkpointing, one clip of 33 frames at 480 x 720 (latents 16 x 9 x 60 x
  90: 12,150 tokens) per GPU;
- ``stage 1``: one step of the Brain Model with its four objectives (image, text, action InfoNCE and the
  category loss) — --paper: section 4.1's transformer backbone (24 layers, width 2,048, 512 + 1 tokens) on
  CineBrain's fMRI window (5 x 9,964 columns) at the paper's batch of 144, bf16 autocast.

Prints seconds per step (median of --steps after one warm-up step), peak memory and trainable parameters.
"""

from __future__ import annotations

import argparse

import torch
from _timing import timed_steps  # benchmarks/_timing.py (this script's folder is on the path)

# Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json
WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)  # fmt: skip


def stage2(args, device) -> dict:
    from diffusers import WanTransformer3DModel

    from cinebrain.methods.cineneuron.decoder import add_lora, flow_matching_loss, shifted_sigmas

    torch.manual_seed(0)
    if args.paper:
        torch.set_default_dtype(torch.bfloat16)  # 1.3 B parameters initialised in bf16, on the device
        with torch.device(device):
            tr = WanTransformer3DModel(**WAN_1_3B)
        torch.set_default_dtype(torch.float32)
        frames, height, width, tokens = 33, 480, 720, 512
    else:
        import tempfile

        from cinebrain.synth.models import save_tiny_wan

        folder = save_tiny_wan(tempfile.mkdtemp() + "/wan")
        tr = WanTransformer3DModel.from_pretrained(folder, subfolder="transformer").to(device)
        frames, height, width, tokens = 33, 64, 96, 96
    tr = add_lora(tr, rank=16, alpha=16)
    for p in tr.parameters():  # the LoRA weights train in fp32
        if p.requires_grad:
            p.data = p.data.float()
    tr.enable_gradient_checkpointing()
    c = tr.config
    x0 = torch.randn(args.batch, c.in_channels, (frames - 1) // 4 + 1, height // 8, width // 8, device=device)
    cond = torch.randn(args.batch, tokens, c.text_dim, device=device)

    def step():
        sigma = shifted_sigmas(torch.rand(args.batch, device=device), 3.0)
        return flow_matching_loss(tr, x0, cond, torch.randn_like(x0), sigma)

    out = timed_steps(step, [p for p in tr.parameters() if p.requires_grad], args.steps, device)
    return out | {"what": f"stage 2: Wan LoRA step, batch {args.batch}, {frames} x {height} x {width}, "
                          f"{'Wan2.1-T2V-1.3B architecture, bf16' if args.paper else 'tiny Wan, fp32'}"}  # fmt: skip


def stage1(args, device) -> dict:
    from cinebrain.methods.cineneuron.brain import BrainModel
    from cinebrain.methods.cineneuron.settings import BrainModelConfig

    torch.manual_seed(0)
    if args.paper:
        cfg, batch = BrainModelConfig(), 144  # section 4.1's defaults: 24 x 2048, 512 tokens, 5 x 9,964
    else:  # the demo's (config/config.yaml)
        cfg = BrainModelConfig(n_tokens=16, width=32, depth=1, heads=4, fmri_shape=(5, 1200), embed_dim=32,
                               action_dim=32)  # fmt: skip
        batch = 16
    net = BrainModel(cfg).to(device).train()
    data = {"fmri": torch.randn(batch, *cfg.fmri_shape, device=device),
            "frames": torch.randn(batch, 8, cfg.embed_dim, device=device),
            "text": torch.randn(batch, cfg.embed_dim, device=device),
            "action": torch.randn(batch, cfg.action_dim, device=device),
            "categories": (torch.rand(batch, cfg.n_classes, device=device) > 0.8).float()}  # fmt: skip
    out = timed_steps(lambda: net.loss(data)[0], [p for p in net.parameters() if p.requires_grad], args.steps, device)
    return out | {"what": f"stage 1: Brain Model step, batch {batch}, {cfg.backbone} {cfg.depth} x {cfg.width}, "
                          f"{cfg.n_tokens} + 1 tokens, fMRI {cfg.fmri_shape[0]} x {cfg.fmri_shape[1]}"}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="Wan2.1-1.3B at 480 x 720 and the paper's Brain Model (GPU)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="clips per stage-2 step (default: 1 with --paper, 4)")
    args = ap.parse_args()
    if args.paper and not torch.cuda.is_available():
        print("bench_cineneuron --paper: no GPU on this machine; a Wan2.1-1.3B LoRA step at 33 x 480 x 720 and the "
              "paper's Brain Model at batch 144 need one. Nothing measured.")  # fmt: skip
        return
    args.batch = args.batch or (1 if args.paper else 4)
    device = "cuda" if args.paper else "cpu"
    print(f"CineNeuron training steps on {torch.cuda.get_device_name() if args.paper else 'the CPU'}")
    for r in (stage2(args, device), stage1(args, device)):
        print(f"  {r['what']}: {r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB, trainable "
              f"{r['trainable']:,} parameters, loss {r['loss']:.3f}")  # fmt: skip
        if device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
