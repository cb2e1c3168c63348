"""Print CineSync encoder training throughput: the demo-size model on this CPU, or the paper's size on a GPU.

    python benchmarks/bench_encoder.py                 # the demo's encoder (config/config.yaml) on the CPU
    python benchmarks/bench_encoder.py --paper         # CineSync: 24 layers, width 2048, bf16 (GPU): the speed
                                                       # settings one at a time, at batch 16 and 64
    python benchmarks/bench_encoder.py --compile blocks --optimizer fused --log-every 25 --batch 64

Random fMRI (paper: 5 x 18,946, visual + auditory_release; demo: 5 x 8,405, visual) and EEG (64 x 4,000)
windows and targets (768-d; the demo's tiny CLIP: 16-d), through the real model, loss and training loop
(cinebrain.train.Trainer) with the given speed settings (TrainSettings optimizer, compile, log_every).
Timing: from the end of the second step to the end of the last (the first steps warm up and compile), the
device synchronised at those two points only, so that the host synchronisations log_every saves count. Prints
samples/s, peak memory and, on a GPU, the model FLOPs utilisation (MFU: about 6 x parameters x 227 tokens per
sample, against the device's dense bf16 peak given with --peak-tflops, 989 for an H100/H200 SXM) and which
attention kernel PyTorch's SDPA takes for the encoder's shapes.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch


class Random(torch.utils.data.Dataset):
    def __init__(self, n, v, d):
        g = torch.Generator().manual_seed(0)
        self.f = torch.randn(n, 5, v, generator=g)
        self.e = torch.randn(n, 64, 4000, generator=g) * 1e-5
        self.fr = torch.randn(n, 33, d, generator=g)
        self.t = torch.randn(n, d, generator=g)

    def __len__(self):
        return len(self.f)

    def __getitem__(self, i):
        return {"fmri": self.f[i], "eeg": self.e[i], "frames": self.fr[i], "text": self.t[i]}


def measure(cfg, batch: int, steps: int, **speed) -> dict:
    """Samples/s and peak memory of ``steps`` Trainer steps of the encoder ``cfg`` with the speed settings."""
    from cinebrain.methods.cinesync.encoder import CineSyncEncoder, loss_fn
    from cinebrain.train import Trainer, TrainSettings

    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    model = CineSyncEncoder(cfg)
    data = Random(batch * (steps + 2), cfg.fmri_shape[1], cfg.embed_dim)
    settings = TrainSettings(steps=steps, batch_size=batch, warmup_steps=1, checkpoint_every=10**9,
                             precision="bf16", **speed)  # fmt: skip
    marks = {}

    def on_step(t):  # synchronise at the two timing points only
        if t.step in (2, steps):
            if cuda:
                torch.cuda.synchronize()
            marks[t.step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, loss_fn, data, settings, tmp, device="cuda" if cuda else "cpu")
        trainer.on_step = on_step
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        trainer.fit()
        total = time.perf_counter() - t0
    per_step = (marks[steps] - marks[2]) / (steps - 2)
    mem = torch.cuda.max_memory_allocated() / 1e9 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return {"params": sum(p.numel() for p in model.parameters()), "sps": batch / per_step, "mem": mem,
            "first_steps_s": total - per_step * (steps - 2)}  # fmt: skip


def sdpa_kernel(cfg) -> str:
    """The fused attention kernels SDPA accepts for the encoder's query shape in bf16 (flash, efficient)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    head = cfg.width // cfg.heads
    q = torch.randn(2, cfg.heads, cfg.n_tokens + 1, head, device="cuda", dtype=torch.bfloat16)
    ok = []
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
        try:
            with sdpa_kernel(backend):
                torch.nn.functional.scaled_dot_product_attention(q, q, q)
            ok.append(name)
        except RuntimeError:
            pass
    return ", ".join(ok) or "math only"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="the paper's encoder size (needs a GPU)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None, help="clips per step (default: the settings')")
    ap.add_argument("--compile", default=None, choices=("off", "blocks", "model"))
    ap.add_argument("--optimizer", default=None, choices=("auto", "fused", "foreach", "forloop"))
    ap.add_argument("--log-every", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    args = ap.parse_args()

    from cinebrain.methods.cinesync.encoder import CineSyncConfig

    cuda = torch.cuda.is_available()
    if args.paper and not cuda:
        print("bench_encoder --paper: no GPU on this machine; the paper-size encoder (24 layers, width 2048, "
              "batch 16, bf16) needs one. Nothing measured.")  # fmt: skip
        return
    if args.paper:  # CineSync* input (visual + auditory_release, 18,946 columns), CLIP ViT-L/14 targets
        from cinebrain.methods.cinesync.settings import EncoderModel, EncoderTrain

        paper = EncoderModel()  # the settings' defaults are the paper's sizes
        size = dict(width=paper.width, depth=paper.depth, heads=paper.heads, cond_dim=paper.cond_dim)
        batch, v, d = EncoderTrain().batch_size, 18946, 768
    else:  # the demo's encoder, as config/config.yaml sets it (visual columns, the tiny CLIP's 16-d targets)
        import yaml

        enc = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())["methods"]["cinesync"]["encoder"]
        size = {k: v for k, v in enc["model"].items() if k not in ("loss", "align_modalities")}
        batch, v, d = enc["train"]["batch_size"], 8405, 16
    steps = max(args.steps or (20 if args.paper else 10), 4)
    cfg = CineSyncConfig(fmri_shape=(5, v), eeg_shape=(64, 4000), embed_dim=d, **size)
    given = {k: getattr(args, k) for k in ("compile", "optimizer", "log_every") if getattr(args, k) is not None}
    if args.paper and not given and args.batch is None:  # the levers one at a time, then together
        runs = [(b, label, speed) for b in (16, 64) for label, speed in (
            ("baseline: forloop AdamW, rows every step, eager", {"optimizer": "forloop", "log_every": 1}),
            ("+ fused AdamW", {"optimizer": "fused", "log_every": 1}),
            ("+ rows every 25 steps", {"optimizer": "fused", "log_every": 25}),
            ("+ compiled blocks (the settings' auto + compile: blocks)", {"optimizer": "fused", "log_every": 25,
                                                                         "compile": "blocks"}),
        )]  # fmt: skip
    else:
        runs = [(args.batch or batch, "as given", given)]
    where = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
    tokens = cfg.n_tokens + 1
    print(f"CineSync encoder ({'paper' if args.paper else 'demo'} size: width {cfg.width}, depth {cfg.depth}, 2 x "
          f"{tokens} tokens) on {where}" + (f"; SDPA kernels for its attention: {sdpa_kernel(cfg)}" if cuda else ""))
    for b, label, speed in runs:
        r = measure(cfg, b, steps, **speed)
        line = (f"  batch {b}, {label} {speed}: {r['sps']:.1f} samples/s, peak memory {r['mem']:.2f} GB, "
                f"{r['params'] / 1e6:.1f} M parameters, setup, first 2 steps (compiling) and save {r['first_steps_s']:.1f} s")  # fmt: skip
        if cuda:  # forward + backward = 6 FLOPs per parameter per token; each token passes one of the two backbones
            flops = 6 * r["params"] * tokens * r["sps"]
            line += f", MFU {100 * flops / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
