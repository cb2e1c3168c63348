"""CineSync's audio decoder (CineBrain, seed 000, section 4.3, appendix A.2, Tab. B.1): F5-TTS + LoRA on
the fused brain feature, Vocos from mel to waveform.

The model (:class:`AudioLatentDecoder`):

- the brain path is the video decoder's (:class:`cinebrain.methods.cinesync.decoder.Brain`: a trained CineSync encoder — in its
  audio configuration, contrastive against the transcript — and no adapter: the F5-TTS side's
  :class:`~cinebrain.models.f5tts.BrainTextEmbedding` projects the fused tokens to the DiT's text width
  and stretches them to the mel length);
- F5-TTS's DiT (``f5-tts``'s own classes, :mod:`cinebrain.models.f5tts`) with peft LoRA on the attention
  projections of every block (the paper: rank 64, alpha 32); the base DiT stays frozen, the brain text
  embedding and the encoder train;
- the loss is F5-TTS's conditional flow matching (``CFM.forward``) with the whole 4-s mel segment as
  the span to generate (no audio prompt; the paper's "noise over the entire audio segment") and 20% of
  the batches with the brain condition dropped (the null condition of classifier-free guidance);
- the targets are Vocos's log-mels of the clips' 24-kHz audio (:mod:`cinebrain.models.vocoder`),
  computed once per training run.

Saved: ``pytorch_lora_weights.safetensors`` (peft's LoRA state of the DiT), ``brain.safetensors`` (encoder
backbones + fusion + the brain text embedding) and ``decoder.json`` (the base model, the vocoder, the
LoRA configuration, the encoder's config). :func:`load_audio_decoder` rebuilds the model from them;
:mod:`.reconstruct` samples mels (:func:`cinebrain.models.f5tts.sample`) and vocodes them to ``<clip>.wav``
(24 kHz, the clip's length) in the methods' reconstruction contract.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...models import f5tts
from ..cinesync.decoder import BRAIN_FILE, CONFIG_FILE, LORA_FILE, Brain, DecoderError, encoder_config

AUDIO_COLUMN = "audio_{rate}"


class AudioLatentDecoder(nn.Module):
    """Brain path + LoRA-tuned F5-TTS; ``forward(batch)`` returns the flow-matching loss of the batch's
    mels ``batch["mel"]`` (B, frames, n_mels) given its brain windows."""

    def __init__(self, brain: Brain, cfm):
        super().__init__()
        self.brain, self.cfm = brain, cfm

    def condition(self, batch):
        return self.brain(batch)

    def forward(self, batch):
        loss, _, _ = self.cfm(batch["mel"].float(), text=self.condition(batch))
        return loss, {}

    def state_to_save(self) -> dict:
        """The brain path and the DiT's brain text embedding (LoRA is saved apart, in peft's format)."""
        state = {f"brain.{k}": v for k, v in self.brain.state_to_save().items()}
        state.update({f"text_embed.{k}": v.detach().cpu().contiguous()
                      for k, v in self.cfm.transformer.text_embed.state_dict().items()})  # fmt: skip
        return state


def loss_fn(model, batch):
    """The Trainer's loss function."""
    return model(batch)


def add_attention_lora(cfm, *, rank: int, alpha: float, targets, dropout: float = 0.0):
    """peft LoRA layers on ``targets`` of every DiT block (the attention projections, :data:`.settings.
    ATTENTION_TARGETS`; the base frozen, LoRA in fp32)."""
    from peft import LoraConfig, inject_adapter_in_model

    dit = cfm.transformer
    dit.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                                       init_lora_weights=True), dit)  # fmt: skip
    for n, p in dit.named_parameters():
        if "lora_" in n:
            p.data = p.data.float()
            p.requires_grad_(True)
    return dit


def build_audio_decoder(model, encoder_dir, *, device="cpu"):
    """The trainable model from the decoder settings ``model`` (``methods.cinesync_audio.decoder.model``,
    a mapping or :class:`.settings.DecoderModel`) and a trained encoder folder (config.json +
    model.safetensors). Returns (model, info)."""
    from cinebrain.integrity import load_safetensors

    from ...settings import build
    from ..cinesync.encoder import CineSyncEncoder
    from .settings import DecoderModel

    model = model if isinstance(model, DecoderModel) else build(DecoderModel, model, "methods.cinesync_audio.decoder.model")
    encoder_dir = Path(encoder_dir)
    enc_cfg = encoder_config(encoder_dir / "config.json")
    encoder = CineSyncEncoder(enc_cfg)
    encoder.load_state_dict(load_safetensors(encoder_dir / "model.safetensors"))
    encoder.requires_grad_(model.train_encoder)
    brain = Brain(encoder, nn.Identity())
    cfm = f5tts.load_f5tts(model.base, model.config, device="cpu")
    add_attention_lora(cfm, rank=model.lora_rank, alpha=model.lora_alpha, targets=model.lora_targets,
                       dropout=model.lora_dropout)  # fmt: skip
    f5tts.condition_on_brain(cfm, enc_cfg.cond_dim)  # trainable (built after the base was frozen)
    net = AudioLatentDecoder(brain, cfm).to(device)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    info = {"encoder": enc_cfg.to_dict(), "f5_config": cfm.config, "base_signature": f5_signature(cfm.config),
            "trainable_parameters": int(trainable)}  # fmt: skip
    return net, info


def f5_signature(cfg: dict) -> str:
    """A hash of an F5-TTS model's architecture and mel settings."""
    m = cfg["model"]
    return hashlib.sha256(json.dumps([m["arch"], m["mel_spec"]], sort_keys=True).encode()).hexdigest()[:16]


def clip_audio(dataset, rate: int) -> list[np.ndarray]:
    """Every clip's audio at ``rate`` Hz as the stimuli stage cut it (the manifest's ``audio_<rate>``)."""
    from ...stimuli import read_wav

    col = AUDIO_COLUMN.format(rate=rate)
    if col not in dataset.manifest:
        have = [c for c in dataset.manifest if c.startswith("audio_") and not c.startswith("audio_padded")]
        raise DecoderError(f"{dataset.root / 'manifest.parquet'}: no clip audio at {rate} Hz (have {have}); fix: add "
                           f"{rate} to stimuli.audio_rates and rebuild the clips and the dataset")  # fmt: skip
    out = []
    for path in dataset.manifest[col]:
        audio, sr = read_wav(dataset.resolve(path))
        if sr != rate:
            raise DecoderError(f"{dataset.resolve(path)}: {sr} Hz, expected {rate}; fix: rebuild the clips")
        out.append(audio)
    return out


def clip_mels(dataset, vocos) -> torch.Tensor:
    """(N, frames, n_mels): Vocos's log-mel of every clip's audio at the vocoder's rate."""
    from ...models.vocoder import mel, mel_settings

    rate = mel_settings(vocos)["sample_rate"]
    audio = clip_audio(dataset, rate)
    n = min(len(a) for a in audio)
    return torch.cat([mel(vocos, torch.as_tensor(a[:n])[None]) for a in audio]).transpose(1, 2).contiguous()


class MelClips(torch.utils.data.Dataset):
    """A ClipDataset with each clip's mel (``mel``) added to its items."""

    def __init__(self, clips, mels: torch.Tensor):
        self.clips, self.mels = clips, mels

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return {**self.clips[i], "mel": self.mels[i]}


def check_vocoder(cfm, vocos, where: str) -> None:
    """The F5-TTS model and the vocoder share the mel (rate, FFT, hop, bands); else a DecoderError."""
    from ...models.vocoder import mel_settings

    m, v = cfm.config["model"]["mel_spec"], mel_settings(vocos)
    pairs = {"sample_rate": m["target_sample_rate"], "n_fft": m["n_fft"], "hop_length": m["hop_length"],
             "n_mels": m["n_mel_channels"]}  # fmt: skip
    bad = {k: (pairs[k], v[k]) for k in pairs if int(pairs[k]) != int(v[k])}
    if bad:
        raise DecoderError(f"{where}: the F5-TTS model's mel and the vocoder's differ ({bad}, F5-TTS vs Vocos); fix: "
                           "a Vocos trained on F5-TTS's mel (charactr/vocos-mel-24khz for F5-TTS-Base)")  # fmt: skip


def train_audio_decoder(*, variant: str, train_dir, encoder_dir, model: dict, train: dict, out_dir, device="auto",
                        progress: bool = True, roi_sets=None) -> dict:  # fmt: skip
    """Fine-tune LoRA (+ encoder, brain text embedding) of F5-TTS on one subject's training clips.

    ``model``: base (F5-TTS folder), config (null: the folder's YAML), vocoder (Vocos folder or hub id),
    lora_rank, lora_alpha, lora_targets, lora_dropout, train_encoder; ``train``: the Trainer's settings
    (:class:`cinebrain.train.TrainSettings` keys). Writes LoRA, brain path, decoder.json and metrics.csv
    to ``out_dir``; resumes from ``out_dir/checkpoint.pt``."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    from ...data import ClipDataset
    from ...models.vocoder import load_vocos
    from ...settings import as_dict, build
    from ...train import Trainer, split_fingerprint
    from ...train.distributed import setup, torch_device
    from .settings import DecoderModel, DecoderTrain

    model = build(DecoderModel, model, "methods.cinesync_audio.decoder.model")
    state = setup()
    out_dir, dev = Path(out_dir), torch_device(device, state)
    enc_cfg = encoder_config(Path(encoder_dir) / "config.json")
    roi_sets = list(roi_sets) if roi_sets and "fmri" in enc_cfg.modalities else None
    clips = ClipDataset(train_dir, modalities=enc_cfg.modalities, roi_sets=roi_sets)
    settings = build(DecoderTrain, train, "methods.cinesync_audio.decoder.train")
    torch.manual_seed(settings.seed)
    vocos = load_vocos(model.vocoder)
    net, info = build_audio_decoder(model, encoder_dir, device=dev)
    check_vocoder(net.cfm, vocos, f"{model.base} vs {model.vocoder}")
    ds = MelClips(clips, clip_mels(clips, vocos))
    enc_file = Path(encoder_dir) / "model.safetensors"
    fingerprint = hashlib.sha256(f"{split_fingerprint(train_dir)} {enc_file.stat().st_size} {enc_file.stat().st_mtime_ns} "
                                 f"{info['base_signature']} {variant} audio".encode()).hexdigest()  # fmt: skip
    trainer = Trainer(net, loss_fn, ds, settings, out_dir, device=dev, dist=state, progress=progress,
                      fingerprint=fingerprint)  # fmt: skip
    trainer.fit()
    if not state.is_main:
        return {}
    save_file({k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(net.cfm.transformer).items()},
              str(out_dir / LORA_FILE))  # fmt: skip
    save_file(net.state_to_save(), str(out_dir / BRAIN_FILE))
    import pandas as pd

    curve = pd.read_csv(trainer.metrics_path)
    meta = {"variant": variant, "subject": clips.info.get("Subject"), "kind": "audio", "base": str(model.base),
            "decoder": as_dict(model),
            "train": as_dict(settings), "train_clips": len(ds), "mel_frames": int(ds.mels.shape[1]),
            "modalities": list(enc_cfg.modalities), "roi_sets": roi_sets,
            "fmri_columns": None if clips.fmri_columns is None else [int(c) for c in clips.fmri_columns],
            "final_loss": float(curve["loss"].iloc[-1]), "training": trainer.summary, **info}  # fmt: skip
    (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=1, default=list))
    trainer.checkpoint_path.unlink(missing_ok=True)
    return meta


def load_audio_decoder(decoder_dir, *, device="cpu", base: str | None = None):
    """(model, decoder.json) of a trained audio decoder: F5-TTS from its base folder (checked against the
    signature it was trained on), LoRA and the brain path loaded, in eval mode."""
    from peft.utils import set_peft_model_state_dict

    from cinebrain.integrity import load_safetensors

    from ...settings import build
    from ..cinesync.encoder import CineSyncEncoder
    from .settings import DecoderModel

    decoder_dir = Path(decoder_dir)
    cfg_path = decoder_dir / CONFIG_FILE
    if not cfg_path.exists():
        raise DecoderError(f"{cfg_path}: no audio decoder here; fix: train it first (rule cinesync_audio_decoder)")
    meta = json.loads(cfg_path.read_text())
    model = build(DecoderModel, dict(meta["decoder"], base=base or meta["base"]), str(cfg_path))
    cfm = f5tts.load_f5tts(model.base, model.config, device="cpu")
    sig = f5_signature(cfm.config)
    if sig != meta["base_signature"]:
        raise DecoderError(f"{decoder_dir / LORA_FILE}: trained for F5-TTS {meta['base']} (signature "
                           f"{meta['base_signature']}), not for {model.base} ({sig}); fix: the base it was trained "
                           "on, or retrain the decoder")  # fmt: skip
    add_attention_lora(cfm, rank=model.lora_rank, alpha=model.lora_alpha, targets=model.lora_targets)
    set_peft_model_state_dict(cfm.transformer, load_safetensors(decoder_dir / LORA_FILE))
    enc = encoder_config(cfg_path, key="encoder")
    f5tts.condition_on_brain(cfm, enc.cond_dim)
    net = AudioLatentDecoder(Brain(CineSyncEncoder(enc), nn.Identity()), cfm)
    saved = load_safetensors(decoder_dir / BRAIN_FILE)
    net.brain.load_saved(decoder_dir / BRAIN_FILE, {k.removeprefix("brain."): v for k, v in saved.items()
                                                   if k.startswith("brain.")})  # fmt: skip
    cfm.transformer.text_embed.load_state_dict({k.removeprefix("text_embed."): v for k, v in saved.items()
                                                if k.startswith("text_embed.")})  # fmt: skip
    return net.to(device).eval(), meta
