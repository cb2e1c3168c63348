"""CineSync's Neuro Latent Decoder (CineBrain, seed 000, sections 4.2 and 5.2): CogVideoX with LoRA,
conditioned on the fused brain feature: the model (its training task is :func:`.train.train_decoder`,
loading and reconstruction are in :mod:`.reconstruct`).

The fused brain feature of the encoder (:mod:`.encoder`, ``(n_tokens, cond_dim)``)
takes the place of CogVideoX's T5 text embeddings as the transformer's ``encoder_hidden_states``
(CogVideoX-5B: 226 x 4096); when the shapes differ a trainable :func:`brain_adapter` maps one to the
other.  peft LoRA adapters sit on the attention projections and feed-forward layers of every DiT block
(CineBrain: rank 128, alpha 64); the base transformer and the VAE stay frozen, and the pretrained
encoder is fine-tuned jointly (which parts train is ``DecoderConfig.train_parts``).

One training step, as diffusers' CogVideoX LoRA example trains (and the paper describes):

- a latent is drawn from the clip's VAE posterior (mean, std) cached by the features stage — videos are
  never re-encoded — and scaled by the VAE's scaling factor, laid out (B, F, C, H, W);
- a timestep is drawn uniformly from the scheduler's 1,000 training steps and the latent noised with
  the CogVideoX DPM scheduler (zero-terminal-SNR betas);
- the transformer predicts the velocity v; the loss is ``mean(w_t * (x0_hat - x0)^2)`` with
  ``x0_hat = sqrt(a_t) x_t - sqrt(1 - a_t) v_hat`` and CogVideoX's weight ``w_t = 1 / (1 - a_t)``, which
  equals the plain MSE of the predicted velocity;
- 3-D rotary position embeddings are computed for each batch's latent size, exactly as the pipeline
  computes them at sampling time;
- gradient checkpointing in the transformer — of every block, or (``checkpoint_blocks``) of only as many as
  the device's memory needs (:mod:`cinebrain.models.checkpointing`) —, bf16 autocast on a GPU
  (:class:`cinebrain.train.Trainer`).

Only what was trained is saved: the LoRA layers in diffusers' format (``pytorch_lora_weights.safetensors``,
loadable with ``CogVideoXPipeline.load_lora_weights``) and the brain path (encoder backbones + fusion +
adapter, ``brain.safetensors``), plus ``decoder.json`` naming the base model and the signature of its
transformer, so that an adapter is never applied to a different base model.

NeuroCine's dependent noise (seed 003, eq. 7), :func:`dependent_noise`: ``eps_j = sqrt(beta) eps_s +
sqrt(1 - beta) eps_j'``, a component ``eps_s`` shared by all latent frames of a clip (optional in training
and in sampling).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from ...models.noise import dependent_noise  # noqa: F401  (NeuroCine eq. 7, shared; re-exported)
from .settings import DecoderConfig

LORA_FILE = "pytorch_lora_weights.safetensors"  # diffusers' name: load_lora_weights finds it
BRAIN_FILE = "brain.safetensors"
CONFIG_FILE = "decoder.json"
# Encoder parameters that only serve the contrastive stage (class-token heads, the frame aggregator,
# the loss's temperature): they do not shape the fused feature, so they neither train nor get saved here.
_CONTRASTIVE_ONLY = ("heads.", "aggregate.", "logit_scale", "logit_bias")


class DecoderError(ValueError):
    """Bad input to the decoder: the message names the file, the problem and the fix."""


# --- base model ------------------------------------------------------------------------------------


def base_signature(transformer_config) -> str:
    """A hash of the base transformer's architecture (its config without diffusers' private keys)."""
    cfg = {k: v for k, v in dict(transformer_config).items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=list).encode()).hexdigest()[:16]


def load_base(base: str, *, parts=("transformer", "scheduler"), dtype=None, device="cpu") -> dict:
    """The frozen components of a CogVideoX pipeline folder or hub id (``transformer/``, ``vae/``,
    ``scheduler/`` as THUDM/CogVideoX-5b lays them out), loaded with ``from_pretrained``."""
    import diffusers

    out = {}
    for part in parts:
        try:
            if part == "transformer":
                m = diffusers.CogVideoXTransformer3DModel.from_pretrained(base, subfolder="transformer", torch_dtype=dtype)
            elif part == "vae":
                m = diffusers.AutoencoderKLCogVideoX.from_pretrained(base, subfolder="vae", torch_dtype=dtype)
            else:
                m = diffusers.CogVideoXDPMScheduler.from_pretrained(base, subfolder="scheduler")
        except OSError as e:
            raise DecoderError(f"{base}: no CogVideoX {part} (expected {base}/{part}/); fix: point methods.cinesync.decoder.model.base "
                               f"at a CogVideoX pipeline folder ({e})") from e  # fmt: skip
        if part != "scheduler":
            m = m.to(device).eval().requires_grad_(False)
        out[part] = m
    return out


def rotary_embeddings(transformer_config, latent_frames: int, latent_height: int, latent_width: int, device="cpu"):
    """CogVideoX's 3-D rotary position embeddings (cos, sin) for one latent size, computed as
    ``CogVideoXPipeline`` computes them at sampling time (1.0 models: the grid resized and centre-cropped
    to the base sample size; 1.5 models: sliced), so that training and sampling see the same positions.
    None for models with learned positional embeddings."""
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    c = transformer_config
    if not c.use_rotary_positional_embeddings:
        return None
    p, p_t = c.patch_size, c.patch_size_t
    grid = (latent_height // p, latent_width // p)
    base_h, base_w = c.sample_height // p, c.sample_width // p
    if p_t is None:
        crops = get_resize_crop_region_for_grid(grid, base_w, base_h)
        return get_3d_rotary_pos_embed(embed_dim=c.attention_head_dim, crops_coords=crops, grid_size=grid,
                                       temporal_size=latent_frames, device=device)  # fmt: skip
    return get_3d_rotary_pos_embed(embed_dim=c.attention_head_dim, crops_coords=None, grid_size=grid,
                                   temporal_size=(latent_frames + p_t - 1) // p_t, grid_type="slice",
                                   max_size=(base_h, base_w), device=device)  # fmt: skip


# --- the brain path --------------------------------------------------------------------------------


class LinearAdapter(nn.Module):
    """(B, n_in, d_in) -> (B, n_out, d_out): a linear map over the tokens (when their number differs) and
    one over the features."""

    def __init__(self, n_in: int, d_in: int, n_out: int, d_out: int):
        super().__init__()
        self.tokens = nn.Linear(n_in, n_out) if n_in != n_out else nn.Identity()
        self.features = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.features(self.tokens(x.transpose(1, 2)).transpose(1, 2))


def brain_adapter(n_in: int, d_in: int, n_out: int, d_out: int, kind: str = "auto", where: str = "") -> nn.Module:
    """The module from the fused feature (n_in tokens x d_in) to the transformer's text embeddings
    (n_out x d_out): none when they match (``auto``) or must match (``none``), else a LinearAdapter."""
    same = (n_in, d_in) == (n_out, d_out)
    if kind == "none" and not same:
        raise DecoderError(
            f"{where}: the encoder's fused brain feature is {n_in} tokens x {d_in} but the decoder's transformer "
            f"takes text embeddings of {n_out} tokens x {d_out} (max_text_seq_length, text_embed_dim); fix: set "
            "methods.cinesync.decoder.model.adapter: auto (a trainable linear adapter), or train the encoder with "
            f"methods.cinesync.encoder.model.n_tokens: {n_out} and cond_dim: {d_out}"
        )
    if kind == "linear" or not same:
        return LinearAdapter(n_in, d_in, n_out, d_out)
    return nn.Identity()


class Brain(nn.Module):
    """Encoder + adapter: a clip's brain windows -> the transformer's ``encoder_hidden_states``.

    The encoder's contrastive-only parameters (class-token heads, frame aggregator, temperature) do not
    shape the fused feature: they are frozen and not saved with the decoder."""

    def __init__(self, encoder: nn.Module, adapter: nn.Module):
        super().__init__()
        self.encoder, self.adapter = encoder, adapter
        for n, p in self.encoder.named_parameters():
            if n.startswith(_CONTRASTIVE_ONLY):
                p.requires_grad_(False)

    def forward(self, batch):
        return self.adapter(self.encoder(batch, fused=True)["fused"])

    @staticmethod
    def _saved(key: str) -> bool:
        return not key.removeprefix("encoder.").startswith(_CONTRASTIVE_ONLY)

    def state_to_save(self) -> dict:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if self._saved(k)}

    def load_saved(self, path, state: dict | None = None) -> None:
        """Load what :meth:`state_to_save` wrote to ``path`` (or ``state``, read from it by the caller)."""
        from cinebrain.integrity import load_safetensors

        missing, unexpected = self.load_state_dict(load_safetensors(path) if state is None else state, strict=False)
        if unexpected or any(self._saved(k) for k in missing):
            raise DecoderError(f"{path}: does not match the encoder and adapter that decoder.json describes (missing "
                               f"{missing[:3]}, unexpected {unexpected[:3]}); fix: retrain the decoder (rule cinesync_decoder)")  # fmt: skip


# --- the trainable model ---------------------------------------------------------------------------


class NeuroLatentDecoder(nn.Module):
    """Brain path + LoRA-tuned CogVideoX transformer; ``forward(batch)`` returns the training loss."""

    def __init__(self, brain: Brain, transformer, scheduler, scaling_factor: float, noise_beta: float = 0.0):
        super().__init__()
        self.brain, self.transformer = brain, transformer
        self.scheduler = scheduler  # not a module: its tables follow the batch's device
        self.scaling_factor, self.noise_beta = float(scaling_factor), float(noise_beta)
        self._rope: dict = {}
        self.caption_targets, self.caption_weight = None, 0.0
        self.checkpointing = None  # the transformer's gradient checkpointing plan (SelectiveCheckpointing), if on

    def align_to_captions(self, targets, weight: float) -> None:
        """Add ``weight`` x the mean squared error between the brain path's output and ``targets[index]``
        (the training clips' caption embeddings by the base pipeline's text encoder, (N, tokens, width), in
        dataset order; kept on the CPU, a batch's rows moved per step) to the loss."""
        self.caption_targets, self.caption_weight = targets, float(weight)

    def rope(self, f: int, h: int, w: int, device):
        key = (f, h, w, str(device))
        if key not in self._rope:  # once per latent size and device
            self._rope[key] = rotary_embeddings(self.transformer.config, f, h, w, device=device)
        return self._rope[key]

    def forward(self, batch):
        mean, std = batch["latents_mean"].float(), batch["latents_std"].float()
        # a posterior sample, scaled, (B, C, F, H, W) -> (B, F, C, H, W) as the transformer takes it
        x0 = ((mean + std * torch.randn_like(std)) * self.scaling_factor).permute(0, 2, 1, 3, 4)
        b, f, _, h, w = x0.shape
        cond = self.brain(batch)
        noise = dependent_noise(x0.shape, self.noise_beta, device=x0.device, dtype=x0.dtype)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), device=x0.device)
        loss = v_prediction_loss(self.transformer, self.scheduler, x0, cond, self.rope(f, h, w, x0.device), noise, t)
        logs = {"timestep": t.float().mean()}
        if self.caption_targets is not None and self.caption_weight > 0:
            target = self.caption_targets[batch["index"].cpu()].to(cond.device, torch.float32)
            caption_mse = ((cond.float() - target) ** 2).mean()
            loss = loss + self.caption_weight * caption_mse
            logs["caption_mse"] = caption_mse.detach()
        return loss, logs


def v_prediction_loss(transformer, scheduler, x0, cond, rope, noise, t):
    """CogVideoX's training loss: the clean latents ``x0`` (B, F, C, H, W) noised with ``noise`` at timesteps
    ``t``, the transformer's v-prediction given ``cond`` turned into ``x0_hat = sqrt(a_t) x_t - sqrt(1 - a_t)
    v_hat``, its squared error weighted by ``1 / (1 - a_t)``, averaged per clip, then over the batch."""
    b = x0.shape[0]
    xt = scheduler.add_noise(x0, noise, t)
    dtype = transformer.dtype
    v = transformer(hidden_states=xt.to(dtype), encoder_hidden_states=cond.to(dtype), timestep=t,
                    image_rotary_emb=rope, return_dict=False)[0]  # fmt: skip
    x0_hat = scheduler.get_velocity(v.float(), xt, t)  # sqrt(a) x_t - sqrt(1 - a) v
    a = scheduler.alphas_cumprod.to(x0.device)[t].float()
    return ((1 / (1 - a)).view(b, 1, 1, 1, 1) * (x0_hat - x0) ** 2).reshape(b, -1).mean(1).mean()


def caption_embeddings(pipe, captions, max_length: int, device="cpu"):
    """(N, max_length, text_embed_dim): ``captions`` as the CogVideoX pipeline ``pipe`` conditions on them
    (``encode_prompt`` through its own text encoder, no classifier-free copy) — what the brain feature
    replaces, the caption ceiling samples from, and caption alignment pulls the brain feature towards."""
    return pipe.encode_prompt(list(captions), do_classifier_free_guidance=False, max_sequence_length=max_length,
                              device=device)[0]  # fmt: skip


def caption_targets(base, captions, *, device="cpu", batch_size: int = 32):
    """(N, max_text_seq_length, text_embed_dim) float16 CPU tensor: :func:`caption_embeddings` of
    ``captions`` by the CogVideoX pipeline ``base``, which must have its text encoder and tokenizer (else one
    DecoderError)."""
    from diffusers import CogVideoXPipeline

    fix = ("fix: point methods.cinesync.decoder.model.base at a pipeline with text_encoder/ and tokenizer/, or set "
           "methods.cinesync.decoder.model.caption_alignment: 0")
    try:
        pipe = CogVideoXPipeline.from_pretrained(base, transformer=None, vae=None)
    except (OSError, ValueError) as e:
        raise DecoderError(f"{base}: caption alignment needs the pipeline's text encoder and tokenizer ({e}); {fix}") from e
    if pipe.text_encoder is None or pipe.tokenizer is None:
        raise DecoderError(f"{base}: caption alignment needs the pipeline's text encoder and tokenizer; {fix}")
    pipe.text_encoder.to(device)
    seq = transformer_config(base).max_text_seq_length
    out = []
    with torch.no_grad():
        for b in range(0, len(captions), batch_size):
            out.append(caption_embeddings(pipe, captions[b : b + batch_size], seq, device).to("cpu", torch.float16))
    return torch.cat(out)


def loss_fn(model, batch):
    """The Trainer's loss function (the Trainer runs it inside DDP's forward under torch.distributed)."""
    return model(batch)


def add_lora(transformer, cfg: DecoderConfig):
    """peft LoRA layers on ``cfg.lora_targets`` of every DiT block; trainable in float32 when LoRA trains."""
    from ...models.lora import add_lora as _add

    return _add(transformer, rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=cfg.lora_targets,
                dropout=cfg.lora_dropout, trainable="lora" in cfg.train_parts)  # fmt: skip


def build_decoder(cfg: DecoderConfig, encoder_dir, *, device="cpu", fmri_columns: int | None = None):
    """The trainable model: the encoder of ``encoder_dir`` (config.json + model.safetensors), the adapter
    when needed, the base transformer with LoRA, and the scheduler. Returns (model, info)."""
    from cinebrain.integrity import load_safetensors

    from .encoder import CineSyncEncoder

    encoder_dir = Path(encoder_dir)
    enc_cfg = encoder_config(encoder_dir / "config.json")
    if fmri_columns is not None and "fmri" in enc_cfg.modalities and enc_cfg.fmri_shape[1] != fmri_columns:
        raise DecoderError(f"{encoder_dir / 'config.json'}: the encoder takes {enc_cfg.fmri_shape[1]} fMRI columns but "
                           f"the dataset gives {fmri_columns}; fix: use the same methods.cinesync.roi_sets for both stages "
                           "(and retrain the encoder)")  # fmt: skip
    encoder = CineSyncEncoder(enc_cfg)
    encoder.load_state_dict(load_safetensors(encoder_dir / "model.safetensors"))
    base = load_base(cfg.base, dtype=cfg.dtype(device), device=device)
    tc = base["transformer"].config
    adapter = brain_adapter(enc_cfg.n_tokens, enc_cfg.cond_dim, tc.max_text_seq_length, tc.text_embed_dim, cfg.adapter,
                            where=f"{encoder_dir / 'config.json'} vs {cfg.base}/transformer/config.json")  # fmt: skip
    adapter.requires_grad_("adapter" in cfg.train_parts)
    if "encoder" not in cfg.train_parts:
        encoder.requires_grad_(False)
    brain = Brain(encoder, adapter)
    transformer = add_lora(base["transformer"], cfg)
    scaling = vae_scaling_factor(cfg.base)
    model = NeuroLatentDecoder(brain, transformer, base["scheduler"], scaling, cfg.noise_beta).to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if cfg.gradient_checkpointing:
        model.checkpointing = checkpointing(transformer, cfg.checkpoint_blocks, trainable)
    # the signature of the configuration file (as load_decoder checks it), not of the loaded model's config,
    # which may hold defaults the file of an older diffusers does not
    info = {"encoder": enc_cfg.to_dict(), "base_signature": base_signature(vars(transformer_config(cfg.base))),
            "scaling_factor": scaling, "text_shape": [tc.max_text_seq_length, tc.text_embed_dim],
            "trainable_parameters": int(trainable),
            "adapter": type(adapter).__name__}  # fmt: skip
    return model, info


def checkpointing(transformer, n: int | None, trainable: int):
    """Gradient checkpointing of the last ``n`` DiT blocks of ``transformer`` (None: planned from the memory, see
    :mod:`cinebrain.models.checkpointing`; the reserve: the fp32 gradient and two AdamW moments of each of the
    ``trainable`` parameters); returns the plan."""
    from ...models.checkpointing import SelectiveCheckpointing

    try:
        plan = SelectiveCheckpointing(transformer.transformer_blocks, n, reserve_bytes=12 * trainable)
    except ValueError as e:
        raise DecoderError(f"methods.cinesync.decoder.model.{e}") from None
    transformer.enable_gradient_checkpointing(plan)
    return plan


def encoder_config(path, key: str = "model"):
    """The CineSyncConfig in an encoder's config.json (key ``model``) or a decoder.json (key ``encoder``)."""
    from .settings import CineSyncConfig

    path = Path(path)
    if not path.exists():
        raise DecoderError(f"{path}: no encoder configuration; fix: train the encoder first (rule cinesync_encoder)")
    cfg = json.loads(path.read_text())[key]
    return CineSyncConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})


def transformer_config(base):
    """The base transformer's config.json as attributes (without loading its weights)."""
    from types import SimpleNamespace

    from diffusers import CogVideoXTransformer3DModel

    try:
        return SimpleNamespace(**CogVideoXTransformer3DModel.load_config(base, subfolder="transformer"))
    except OSError as e:
        raise DecoderError(f"{base}: no CogVideoX transformer/config.json; fix: point methods.cinesync.decoder.model.base at a "
                           f"CogVideoX pipeline folder ({e})") from e  # fmt: skip


def vae_scaling_factor(base) -> float:
    """The VAE's scaling factor from ``vae/config.json`` (the VAE itself is not needed for training)."""
    from diffusers import AutoencoderKLCogVideoX

    try:
        return float(AutoencoderKLCogVideoX.load_config(base, subfolder="vae")["scaling_factor"])
    except OSError as e:
        raise DecoderError(f"{base}: no CogVideoX vae/config.json; fix: point methods.cinesync.decoder.model.base at a CogVideoX "
                           f"pipeline folder ({e})") from e  # fmt: skip


def check_latents(dataset, transformer_config=None) -> None:
    """Every clip of a ClipDataset has its VAE latents where the manifest says (features stage), of a size
    the transformer takes; else one DecoderError naming the file, the clip and the fix."""
    from safetensors import safe_open

    man = dataset.manifest
    if "latents_file" not in man:
        raise DecoderError(f"{dataset.root / 'manifest.parquet'}: the dataset has no latents; fix: enable the "
                           "features stage's vae and rebuild the dataset (rule data_build)")  # fmt: skip
    for file, rows in man.groupby("latents_file", sort=False):
        path = dataset.resolve(file)
        if not path.exists():
            raise DecoderError(f"{path}: missing latents of {len(rows)} clips ({rows['clip'].iloc[0]}, ...); fix: "
                               f"run rule features_latents for episode {rows['episode'].iloc[0]}")  # fmt: skip
        with safe_open(str(path), framework="numpy") as f:
            clips = json.loads((f.metadata() or {}).get("clips", "[]"))
            shape = f.get_slice("mean").get_shape()
        for clip, row in zip(rows["clip"], rows["latents_row"], strict=True):
            if int(row) >= len(clips) or clips[int(row)] != clip or int(row) >= shape[0]:
                raise DecoderError(f"{path}: no latents for clip {clip} (row {int(row)}); fix: rerun rule "
                                   f"features_latents for episode {rows['episode'].iloc[0]} and then data_build")  # fmt: skip
        if transformer_config is not None:
            c, p = transformer_config, transformer_config.patch_size
            if shape[1] != c.in_channels or shape[3] % p or shape[4] % p:
                raise DecoderError(f"{path}: latents of shape {tuple(shape[1:])} (C, F, H, W) do not fit the decoder's "
                                   f"transformer ({c.in_channels} channels, patch {p}); fix: encode the latents with "
                                   "the VAE of methods.cinesync.decoder.model.base (features.vae) at a clip size the patch divides")  # fmt: skip
