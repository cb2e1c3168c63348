"""Print the reconstruction's speed settings side by side: seconds per clip and per guided step, and how far each
moves the final latents from the reference sampler's; and the VAE's encoding in float32 against bfloat16.

    python benchmarks/bench_reconstruct.py            # the demo's tiny CogVideoX on this CPU
    python benchmarks/bench_reconstruct.py --paper    # CogVideoX-5B's architecture, 33 frames at 480 x 720 (GPU)
    python benchmarks/bench_reconstruct.py --paper --steps 20 --skip-compile

One clip is sampled as the rule cinesync_reconstruct samples it (CogVideoXPipeline, classifier-free guidance
against a zeroed conditioning: each step is one transformer pass over a batch of two), from the same initial
noise and conditioning (random: a feature of the brain's shape), with each of ReconstructSettings' speed
settings alone (cinebrain.methods.cinesync.reconstruct.speed_up):

- ``reference``: ``--steps`` steps (default 50, the settings' default), no cache, eager;
- ``half the steps``; ``first_block`` (First-Block Cache, threshold 0.05), ``pyramid_attention`` (Pyramid
  Attention Broadcast) and ``faster_cache`` (FasterCache), with the settings' defaults; ``compile`` (each DiT
  block torch.compile'd; its first clip, which compiles, is not timed).

The change is the relative L2 distance of the final latents to the reference's. With random weights (the
--paper architecture; no weights can be downloaded here) it measures the sampler's numerical deviation, not
the visual quality; the tiny model's weights are the demo world's. The VAE section encodes one clip with
AutoencoderKLCogVideoX in each precision (features.vae.precision) and prints seconds and the bf16 posterior
mean's change relative to the posterior std.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


# Its own timer, not _timing.timed_call: that one runs under bf16 autocast on a GPU, which would turn the VAE's
# float32 row into bf16 and add autocast to the sampler the rule runs without it.
def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _pipeline(paper: bool, device, dtype):
    from bench_decoder import COGVIDEOX_5B, _scheduler
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel

    if paper:  # random weights of CogVideoX-5B's architecture, initialised on the device in bf16
        torch.set_default_dtype(dtype)
        with torch.device(device):
            tr = CogVideoXTransformer3DModel(**COGVIDEOX_5B)
            vae = AutoencoderKLCogVideoX()  # diffusers' defaults are CogVideoX's VAE
        torch.set_default_dtype(torch.float32)
        return CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=tr, scheduler=_scheduler())
    from cinebrain.synth.models import save_tiny_cogvideox

    folder = save_tiny_cogvideox(tempfile.mkdtemp() + "/cogvideox")
    return CogVideoXPipeline.from_pretrained(folder, tokenizer=None, text_encoder=None).to(device)


def _sample(pipe, cond, steps, frames, height, width, device, **settings):
    """(final latents, seconds) of one guided clip with these ReconstructSettings."""
    from cinebrain.methods.cinesync.reconstruct import speed_up
    from cinebrain.methods.cinesync.settings import ReconstructSettings

    rs = ReconstructSettings(steps=steps, seed=0, **settings)
    applied = speed_up(pipe, rs)

    def run():
        g = [torch.Generator().manual_seed(0)]
        return pipe(prompt_embeds=cond, negative_prompt_embeds=torch.zeros_like(cond), num_frames=frames,
                    height=height, width=width, num_inference_steps=rs.steps, guidance_scale=rs.guidance_scale,
                    generator=g, output_type="latent").frames  # fmt: skip

    with torch.no_grad():
        if rs.compile:
            run()  # compiles
        _sync(device)
        t0 = time.perf_counter()
        lat = run()
        _sync(device)
        seconds = time.perf_counter() - t0
    if rs.cache != "off":
        pipe.transformer.disable_cache()
    return lat.float(), seconds, applied


def _vae(pipe, frames, height, width, device) -> None:
    from diffusers import AutoencoderKLCogVideoX

    vae = pipe.vae
    g = torch.Generator().manual_seed(0)
    video = (torch.rand(1, 3, frames, height, width, generator=g) * 2 - 1).to(device)
    out = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        model = AutoencoderKLCogVideoX.from_config(vae.config).to(device, dtype)
        model.load_state_dict(vae.state_dict())
        with torch.no_grad():
            model.encode(video.to(dtype))  # warm-up
            _sync(device)
            t0 = time.perf_counter()
            dist = model.encode(video.to(dtype)).latent_dist
            _sync(device)
        out[name] = (time.perf_counter() - t0, dist.mean.float(), dist.std.float())
        del model
    (t32, m32, s32), (t16, m16, _) = out["float32"], out["bfloat16"]
    change = float((m16 - m32).pow(2).mean().sqrt() / s32.pow(2).mean().sqrt())
    print(f"VAE encoding of one clip ({frames} frames at {height} x {width}): float32 {t32:.2f} s, bfloat16 "
          f"{t16:.2f} s ({t32 / t16:.2f}x); bf16 mean's RMS change {100 * change:.2f}% of the posterior std")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="CogVideoX-5B's architecture at 480 x 720 (needs a GPU)")
    ap.add_argument("--steps", type=int, default=50, help="the reference's sampling steps")
    ap.add_argument("--skip-compile", action="store_true", help="leave out the compiled row")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if args.paper and not cuda:
        print("bench_reconstruct --paper: no GPU on this machine; sampling CogVideoX-5B (bf16, 33 frames at "
              "480 x 720) needs one. Nothing measured.")  # fmt: skip
        return
    device = "cuda" if args.paper else "cpu"
    dtype = torch.bfloat16 if args.paper else torch.float32
    frames, height, width = (33, 480, 720) if args.paper else (33, 64, 96)
    pipe = _pipeline(args.paper, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    tc = pipe.transformer.config
    cond = torch.randn(1, tc.max_text_seq_length, tc.text_embed_dim, generator=torch.Generator().manual_seed(1))
    cond = cond.to(device, dtype)
    where = torch.cuda.get_device_name() if cuda else f"the CPU ({torch.get_num_threads()} threads)"
    print(f"one guided clip, {frames} frames at {height} x {width}, "
          f"{'CogVideoX-5B architecture (random weights), bf16' if args.paper else 'tiny CogVideoX, fp32'}, on {where}")
    rows = [("reference", {}), ("half the steps", {"steps": args.steps // 2}), ("first_block", {"cache": "first_block"}),
            ("pyramid_attention", {"cache": "pyramid_attention"}), ("faster_cache", {"cache": "faster_cache"})]  # fmt: skip
    if not args.skip_compile:
        rows.append(("compile", {"compile": True}))
    ref = None
    for name, settings in rows:
        steps = settings.pop("steps", args.steps)
        lat, seconds, applied = _sample(pipe, cond, steps, frames, height, width, device, **settings)
        ref = lat if ref is None else ref
        change = float((lat - ref).norm() / ref.norm())
        print(f"  {name:18s} {steps:3d} steps  {seconds:7.2f} s/clip  {seconds / steps:.3f} s/guided step  "
              f"latents' change {100 * change:5.1f}%  {applied or ''}", flush=True)  # fmt: skip
    _vae(pipe, frames, height, width, device)


if __name__ == "__main__":
    main()
