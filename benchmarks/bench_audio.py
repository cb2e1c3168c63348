"""Print the step time and peak memory of CineSync's audio decoder, one reconstruction, and the audio metrics.

    python benchmarks/bench_audio.py           # the demo's tiny F5-TTS and Vocos on this CPU
    python benchmarks/bench_audio.py --paper   # F5-TTS-Base's architecture (GPU; the issue's 6-minute device check)

- ``LoRA step``: one optimiser step of the audio decoder — F5-TTS's DiT with LoRA (rank 64, alpha 32 with
  --paper; 8 / 8 tiny) on its attention layers and the brain text embedding, F5-TTS's flow-matching loss over
  whole 4-s mels (376 frames x 100 bands) at batch 8 (the paper's); the brain feature is a random
  (376 x 512) tensor, the encoder left out (its cost is the video encoder's, ``bench_encoder.py``);
  --paper builds F5TTS_Base from the f5-tts package's config with random weights (nothing downloads);
- ``reconstruction``: one 4-s clip: the flow integrated in 32 Euler steps with classifier-free guidance
  (F5-TTS's defaults), then a Vocos of charactr/vocos-mel-24khz's configuration (random weights) to 96,000
  samples;
- ``metrics`` (CPU only): LSD, DTW-aligned MCD and log-mel SSIM/RMSE of one 4-s clip pair at 24 kHz.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _timing import timed_call, timed_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="F5-TTS-Base's architecture (GPU)")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.paper and not torch.cuda.is_available():
        print("bench_audio --paper: no GPU on this machine; F5-TTS-Base (22 layers of width 1,024) at batch 8 of 4-s "
              "mels needs one. Nothing measured.")  # fmt: skip
        return
    from vocos import Vocos

    from cinebrain.methods.cinesync_audio.decoder import add_attention_lora
    from cinebrain.methods.cinesync_audio.settings import ATTENTION_TARGETS
    from cinebrain.models import f5tts
    from cinebrain.models.vocoder import vocode, vocos_config
    from cinebrain.synth.models import save_tiny_f5tts

    p = args.paper
    device = "cuda" if p else "cpu"
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if p:
            cfg = f5tts.read_config("F5TTS_Base")
        else:
            cfg = f5tts.model_config(save_tiny_f5tts(Path(tmp) / "f5"))
        cfm = f5tts.build_cfm(cfg)
        cfm.config = cfg
        rank, alpha = (64, 32) if p else (8, 8)
        add_attention_lora(cfm, rank=rank, alpha=alpha, targets=ATTENTION_TARGETS)
        f5tts.condition_on_brain(cfm, 512 if p else 32)
        cfm.to(device)
        arch = cfg["model"]["arch"]
        print(f"CineSync audio decoder on {torch.cuda.get_device_name() if p else 'the CPU'}: F5-TTS DiT "
              f"{arch['depth']} x {arch['dim']}, LoRA rank {rank} on {', '.join(ATTENTION_TARGETS)}")  # fmt: skip
        batch, frames = 8, 376
        mel = torch.randn(batch, frames, 100, device=device)
        brain = torch.randn(batch, 376, 512 if p else 32, device=device)
        params = [q for q in cfm.parameters() if q.requires_grad]
        r = timed_steps(lambda: cfm(mel, text=brain)[0], params, args.steps, device)
        print(f"  LoRA step, batch {batch} of 4-s mels: {r['s_per_step']:.3f} s/step, peak {r['peak_gib']:.2f} GiB, "
              f"{r['trainable']:,} trainable parameters (30,000 steps: {30000 * r['s_per_step'] / 3600:.1f} h)")  # fmt: skip
        vcfg = vocos_config() if p else vocos_config(dim=64, intermediate_dim=128, num_layers=2)
        import yaml

        (Path(tmp) / "vocos.yaml").write_text(yaml.safe_dump(vcfg))
        vocos = Vocos.from_hparams(str(Path(tmp) / "vocos.yaml")).to(device).eval()

        def reconstruct():
            out = f5tts.sample(cfm, brain[:1], frames, steps=32, cfg_strength=2.0, seed=0)
            vocode(vocos, out.transpose(1, 2).float(), 96000)

        r = timed_call(reconstruct, device)
        print(f"  reconstruction of one 4-s clip (32 steps with CFG, Vocos): {r['s']:.2f} s, peak {r['peak_gib']:.2f} GiB")
    if not p:
        from cinebrain.benchmark import audio as A
        from cinebrain.stimuli import write_wav

        rng = np.random.default_rng(0)
        t = np.arange(96000) / 24000
        a = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(96000)).astype(np.float32)
        b = (0.2 * np.sin(2 * np.pi * 523 * t) + 0.02 * rng.standard_normal(96000)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            write_wav(Path(tmp) / "a.wav", a, 24000)
            write_wav(Path(tmp) / "b.wav", b, 24000)
            for name, fn in (("LSD", lambda: A.lsd(a, b)), ("MCD (DTW)", lambda: A.mcd(Path(tmp) / "a.wav", Path(tmp) / "b.wav", 24000)),
                             ("mel SSIM/RMSE", lambda: A.mel_similarity(a, b))):  # fmt: skip
                fn()
                t0 = time.perf_counter()
                for _ in range(3):
                    fn()
                print(f"  {name} of one 4-s clip pair: {(time.perf_counter() - t0) / 3:.3f} s")


if __name__ == "__main__":
    main()
