"""Print CineSync encoder training throughput: the demo-size model on this CPU, or the paper's size on a GPU.

    python benchmarks/bench_encoder.py                 # the demo's encoder (config/config.yaml) on the CPU
    python benchmarks/bench_encoder.py --paper         # CineSync: 24 layers, width 2048, batch 16, bf16 (GPU)

Random fMRI (paper: 5 x 18,946, visual + auditory_release; demo: 5 x 8,405, visual) and EEG (64 x 4,000)
windows and targets (768-d; the demo's tiny CLIP: 16-d), through the real model, loss and training loop
(cinebrain.train.Trainer). Prints samples/s, peak memory
and, on a GPU, the model FLOPs utilisation (MFU: about 6 x parameters x 227 tokens per sample, against the
device's dense bf16 peak given with --peak-tflops, 989 for an H100 SXM).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="the paper's encoder size (needs a GPU)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    args = ap.parse_args()

    from cinebrain.methods.cinesync.encoder import CineSyncConfig, CineSyncEncoder, loss_fn
    from cinebrain.train import Trainer, TrainSettings

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
    steps = args.steps or (20 if args.paper else 10)
    cfg = CineSyncConfig(fmri_shape=(5, v), eeg_shape=(64, 4000), embed_dim=d, **size)
    model = CineSyncEncoder(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    data = Random(batch * (steps + 2), v, d)
    settings = TrainSettings(steps=steps, batch_size=batch, warmup_steps=1, checkpoint_every=10**9, precision="bf16")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, loss_fn, data, settings, tmp, device="cuda" if cuda else "cpu")
        times = []
        trainer.on_step = lambda t: times.append(time.perf_counter())
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.fit()
    per_step = (times[-1] - times[1]) / (len(times) - 2)  # the first steps warm up
    sps = batch / per_step
    where = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
    mem = torch.cuda.max_memory_allocated() / 1e9 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    line = (f"CineSync encoder ({'paper' if args.paper else 'demo'} size: {n_params / 1e6:.1f} M parameters, width "
            f"{cfg.width}, depth {cfg.depth}, 2 x {cfg.n_tokens + 1} tokens) on {where}: {sps:.1f} samples/s at batch "
            f"{batch}, peak memory {mem:.2f} GB")  # fmt: skip
    if cuda:
        # forward + backward = 6 FLOPs per parameter per token; each token passes one of the two backbones
        flops = 6 * n_params * (cfg.n_tokens + 1) * sps
        line += f", MFU {100 * flops / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s"
    print(line)


if __name__ == "__main__":
    main()
