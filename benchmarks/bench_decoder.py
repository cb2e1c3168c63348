"""Print the step time and peak memory of one decoder LoRA training step: ours against diffusers' reference recipe.

    python benchmarks/bench_decoder.py           # the demo's tiny CogVideoX on this CPU
    python benchmarks/bench_decoder.py --paper   # CogVideoX-5B's architecture, 33 frames at 480 x 720 (GPU)
    python benchmarks/bench_decoder.py --paper --compile   # our rows with each DiT block torch.compile'd

Both steps use the same transformer (random weights; --paper: CogVideoX-5B's published configuration,
42 layers of 48 x 64 heads, bf16 frozen weights, gradient checkpointing), the same batch of random
latents (33 frames at 480 x 720 -> 9 x 60 x 90 x 16) and conditioning (226 x 4096), the same LoRA rank
(128, alpha 64) and AdamW:

- ``ours``: cinebrain.methods.cinesync.decoder's step — NeuroLatentDecoder.forward (posterior sample, uniform
  timestep, CogVideoX-weighted v-prediction loss, per-batch 3-D RoPE) with LoRA on the attention
  projections and the feed-forward layers (the CineBrain recipe);
- ``reference``: the step as diffusers' examples/cogvideo/train_cogvideox_lora.py configures it — LoRA on
  the attention projections only (to_q, to_k, to_v, to_out.0), trainable parameters in fp32, the same
  loss — written out here with the transformer called directly;
- ``ours-attn``: our step with the reference's LoRA targets (attention only): the two at equal settings;
- ``ours-auto``: our step with ``checkpoint_blocks: null`` — on a GPU only as many blocks recomputed as the
  measured memory needs (cinebrain.models.checkpointing), on the CPU all of them.

The brain encoder is not part of either (its cost is the encoder benchmark's, bench_encoder.py); the
conditioning is given. Prints seconds per step (median of --steps after one warm-up step), peak memory
and the ratio ours / reference.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

# CogVideoX-5B's transformer/config.json (THUDM/CogVideoX-5b, the text-to-video model CineBrain fine-tunes)
COGVIDEOX_5B = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=16, out_channels=16, flip_sin_to_cos=True, freq_shift=0,
    time_embed_dim=512, text_embed_dim=4096, num_layers=42, dropout=0.0, attention_bias=True, sample_width=90,
    sample_height=60, sample_frames=49, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
    activation_fn="gelu-approximate", timestep_activation_fn="silu", norm_elementwise_affine=True, norm_eps=1e-5,
    spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False,
)  # fmt: skip
ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")


class Given(torch.nn.Module):
    """The brain path replaced by given conditioning (batch['cond'])."""

    def forward(self, batch):
        return batch["cond"]


def _transformer(paper: bool, device, dtype):
    from diffusers import CogVideoXTransformer3DModel

    if paper:
        torch.set_default_dtype(dtype)  # initialise 5 B parameters in bf16 directly, on the device
        with torch.device(device):
            tr = CogVideoXTransformer3DModel(**COGVIDEOX_5B)
        torch.set_default_dtype(torch.float32)
        return tr.requires_grad_(False)
    import tempfile

    from cinebrain.synth.models import save_tiny_cogvideox

    folder = save_tiny_cogvideox(tempfile.mkdtemp() + "/cogvideox")
    return CogVideoXTransformer3DModel.from_pretrained(folder, subfolder="transformer").to(device).requires_grad_(False)


def _scheduler():
    from diffusers import CogVideoXDPMScheduler

    return CogVideoXDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                                 prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
                                 snr_shift_scale=1.0, timestep_spacing="trailing")  # fmt: skip


def _ours(tr, rank, alpha, *, targets=None, blocks: int | None = -1, compile_=False):
    """Our step: LoRA on ``targets`` (None: the settings' default, attention and feed-forward), the last
    ``blocks`` DiT blocks checkpointed (-1: all; None: the automatic plan), optionally each block compiled."""
    from cinebrain.methods.cinesync.decoder import DecoderConfig, NeuroLatentDecoder, add_lora, checkpointing
    from cinebrain.train.loop import compile_blocks

    kw = {"lora_targets": targets} if targets else {}
    tr = add_lora(tr, DecoderConfig(lora_rank=rank, lora_alpha=alpha, train_parts=("lora",), **kw))
    trainable = sum(p.numel() for p in tr.parameters() if p.requires_grad)
    plan = checkpointing(tr, len(tr.transformer_blocks) if blocks == -1 else blocks, trainable)
    if compile_:
        compile_blocks(tr)
    net = NeuroLatentDecoder(Given(), tr, _scheduler(), scaling_factor=0.7)
    net.plan = plan
    return net, lambda batch: net(batch)[0]


def _reference(tr, rank, alpha):
    """The reference recipe's step (diffusers examples/cogvideo/train_cogvideox_lora.py), written out."""
    from peft import LoraConfig

    from cinebrain.methods.cinesync.decoder import rotary_embeddings

    tr.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=True, target_modules=list(ATTENTION)))
    for p in tr.parameters():  # the recipe casts the trainable (LoRA) parameters to fp32
        if p.requires_grad:
            p.data = p.data.float()
    tr.enable_gradient_checkpointing()
    sched = _scheduler()

    def step(batch):
        x0 = ((batch["latents_mean"] + batch["latents_std"] * torch.randn_like(batch["latents_std"])) * 0.7).permute(0, 2, 1, 3, 4)
        b, f, _, h, w = x0.shape
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (b,), device=x0.device)
        xt = sched.add_noise(x0, noise, t)
        rope = rotary_embeddings(tr.config, f, h, w, device=x0.device)
        out = tr(hidden_states=xt.to(tr.dtype), encoder_hidden_states=batch["cond"].to(tr.dtype), timestep=t,
                 image_rotary_emb=rope, return_dict=False)[0]  # fmt: skip
        pred = sched.get_velocity(out.float(), xt, t)
        a = sched.alphas_cumprod.to(x0.device)[t]
        return torch.mean((1 / (1 - a)).view(b, 1, 1, 1, 1) * (pred - x0) ** 2)

    return tr, step


def measure(kind: str, args, device, dtype) -> dict:
    torch.manual_seed(0)
    tr = _transformer(args.paper, device, dtype)
    c = tr.config
    lat = (args.batch, c.in_channels, (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8)
    batch = {"latents_mean": torch.randn(lat, device=device), "latents_std": torch.full(lat, 0.05, device=device),
             "cond": torch.randn(args.batch, c.max_text_seq_length, c.text_embed_dim, device=device)}  # fmt: skip
    if kind == "reference":
        module, step = _reference(tr, args.rank, args.alpha)
    else:
        module, step = _ours(tr, args.rank, args.alpha, targets=ATTENTION if kind == "ours-attn" else None,
                             blocks=None if kind == "ours-auto" else -1, compile_=args.compile)  # fmt: skip
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = step(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up (kernels, allocator)
            times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # fmt: skip
    out = {"kind": kind, "s_per_step": statistics.median(times), "peak_gib": peak,
           "trainable": sum(p.numel() for p in params), "loss": float(loss.detach()),
           "checkpointed": len(module.plan.checkpointed) if hasattr(module, "plan") else len(tr.transformer_blocks)}
    del module, opt, tr, batch
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="CogVideoX-5B's architecture at 480 x 720 (needs a GPU)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile each DiT block in our rows")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if args.paper and not cuda:
        print("bench_decoder --paper: no GPU on this machine; one LoRA step of CogVideoX-5B (bf16, gradient "
              "checkpointing, 33 frames at 480 x 720, rank 128) needs one. Nothing measured.")  # fmt: skip
        return
    if args.paper:
        args.batch, args.frames, args.height, args.width, args.rank, args.alpha = 2, 33, 480, 720, 128, 64
    else:  # the demo's clips and LoRA (config/config.yaml)
        args.batch, args.frames, args.height, args.width, args.rank, args.alpha = 4, 33, 64, 96, 8, 8
    device = "cuda" if args.paper else "cpu"
    dtype = torch.bfloat16 if args.paper else torch.float32
    print(f"one LoRA training step, batch {args.batch}, {args.frames} frames at {args.height} x {args.width}, rank "
          f"{args.rank} (alpha {args.alpha}), {'CogVideoX-5B architecture, bf16' if args.paper else 'tiny CogVideoX, fp32'}"
          f", gradient checkpointing, on {torch.cuda.get_device_name() if args.paper else 'the CPU'}")  # fmt: skip
    rows = {k: measure(k, args, device, dtype) for k in ("ours", "ours-attn", "ours-auto", "reference")}
    for r in rows.values():
        print(f"  {r['kind']:9s}  {r['s_per_step']:.3f} s/step  peak {r['peak_gib']:.2f} GiB  "
              f"trainable {r['trainable']:,} parameters  blocks recomputed {r['checkpointed']}  loss {r['loss']:.3f}"
              + ("  (blocks compiled)" if args.compile and r["kind"] != "reference" else ""))  # fmt: skip
    ours, attn, ref = rows["ours"], rows["ours-attn"], rows["reference"]
    print(f"  ratio ours-attn / reference (equal settings): time {attn['s_per_step'] / ref['s_per_step']:.2f}, "
          f"peak memory {attn['peak_gib'] / ref['peak_gib']:.2f}; ours / reference: time "
          f"{ours['s_per_step'] / ref['s_per_step']:.2f}, peak memory {ours['peak_gib'] / ref['peak_gib']:.2f}"
          + ("" if args.paper else " (CPU peak: the process's maximum resident set, cumulative)"))  # fmt: skip


if __name__ == "__main__":
    main()
