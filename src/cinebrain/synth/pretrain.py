"""Pre-training of the synthetic world's generator and judges on freshly rendered scenes.

A real CogVideoX renders what a caption names, and the real benchmark's classifiers (Kinetics VideoMAE,
ImageNet ViT) recognise what a clip shows; random tiny models do neither, so the demo's reconstructions
would be one noise texture and its N-way scores a degenerate classifier's.  As the tiny CLIP is trained
on synthetic frames and captions (:func:`cinebrain.synth.models.pretrain_tiny_clip`), the models here
are trained on a corpus of synthetic clips (:func:`render_corpus`) — the demo's stand-in for the real
models' web-scale pre-training:

- the CogVideoX **VAE** as an autoencoder of clips (:func:`pretrain_vae`; reconstruction PSNR/SSIM on
  held-out clips reported), and its ``scaling_factor`` set to 1 / std of the corpus latents, as
  Stable Diffusion's and CogVideoX's factors were chosen;
- the CogVideoX **transformer** as a caption-to-video model (:func:`pretrain_transformer`): conditioned
  on the tiny CLIP's text encoder (its last hidden states, 77 tokens x 32, in place of T5's 226 x 4096),
  with 10% of the captions replaced by a zeroed embedding — the unconditional input that classifier-free
  guidance uses, and the one the brain decoder's reconstruction uses — and CogVideoX's v-prediction
  loss on the zero-terminal-SNR schedule. The text encoder and tokenizer are saved in the pipeline
  folder (``text_encoder/``, ``tokenizer/``) so that ``CogVideoXPipeline.from_pretrained`` is a
  text-to-video pipeline, as THUDM/CogVideoX-5b is with its T5;
- the benchmark's **judges** (:func:`pretrain_judges`): the ViT image classifier on frames labelled
  shape x colour x background (125 classes: what one frame shows), the VideoMAE video classifier on
  clips labelled shape x colour x direction (100 classes: the direction needs the motion), so that "the
  ground truth's top-3 classes" means something; held-out top-1/top-3 accuracy reported. Both have more
  than the 52 classes a 50-way test under MinD-Video's top-3 convention needs.

Whether the generator renders what a caption names is measured, not assumed (:func:`world_renders`, the
manifest's ``renders``): the judges read each attribute (shape, colour, background; shape, colour,
direction) from held-out clips as rendered, through the VAE, and generated from their captions.

**Leakage.** The corpus is drawn from its own random stream (``seed``, default 1234; the synthetic
dataset draws its episodes from ``synth.seed`` through :func:`cinebrain.synth.stimuli.make_scenes`), scene
by scene with continuous speeds, sizes and start times, so no corpus clip is a clip of the dataset; the
models learn the world (shapes, colours, backgrounds, motion), never the dataset's episodes. The held-out
clips that the reports use are drawn after the training clips, from the same stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stimuli import BACKGROUNDS, CATEGORIES, COLOURS, DIRECTIONS, Scene, draw_motion, render_frames

#: The judges' labels: what one frame shows (image classifier) and what a clip shows (video classifier).
IMAGE_LABELS = [f"{c} {s} on {b}" for s in CATEGORIES for c in COLOURS for b in BACKGROUNDS]
VIDEO_LABELS = [f"{c} {s} moving {d}" for s in CATEGORIES for c in COLOURS for d in DIRECTIONS]


@dataclass
class Corpus:
    """Synthetic clips without cuts: frames uint8 (N, F, H, W, 3) and each clip's scene."""

    clips: np.ndarray
    scenes: list[Scene]

    @property
    def captions(self) -> list[str]:
        return [s.caption for s in self.scenes]

    def image_labels(self) -> np.ndarray:
        return np.array([IMAGE_LABELS.index(f"{s.colour} {s.category} on {s.background}") for s in self.scenes])

    def video_labels(self) -> np.ndarray:
        return np.array([VIDEO_LABELS.index(f"{s.colour} {s.category} moving {s.direction}") for s in self.scenes])

    def split(self, n_test: int) -> tuple[Corpus, Corpus]:
        return (Corpus(self.clips[:-n_test], self.scenes[:-n_test]),
                Corpus(self.clips[-n_test:], self.scenes[-n_test:]))  # fmt: skip


def render_corpus(n: int, seed: int = 1234, frames: int = 33, fps: float = 8.0, height: int = 64, width: int = 96,
                  source: tuple[int, int] = (120, 160)) -> Corpus:  # fmt: skip
    """``n`` clips of ``frames`` frames at ``fps``: each a random scene (category, colour, direction,
    background; travel and size as the films' scenes draw them, :func:`cinebrain.synth.stimuli.draw_motion`)
    seen from a random start within it, rendered at the synthetic films' size
    ``source`` (height, width) and resized and centre-cropped to ``height`` x ``width`` as the stimuli
    stage cuts the films' clips."""
    from ..stimuli import resize_frames

    rng = np.random.default_rng(seed)
    seconds = (frames - 1) / fps
    clips, scenes = [], []
    for _ in range(n):
        start = float(rng.uniform(0.0, 4.0))
        duration = start + seconds + 1.0
        scene = Scene(onset=0.0, duration=duration, category=str(rng.choice(CATEGORIES)),
                      colour=str(rng.choice(list(COLOURS))), direction=str(rng.choice(list(DIRECTIONS))),
                      background=str(rng.choice(list(BACKGROUNDS))),
                      **dict(zip(("speed", "size"), draw_motion(duration, rng), strict=True)))  # fmt: skip
        rendered = [f for f, _ in render_frames([scene], start + frames / fps, fps, *source, start=start)]
        clips.append(resize_frames(np.stack(rendered[:frames]), height, width))
        scenes.append(scene)
    return Corpus(np.stack(clips), scenes)


def _psnr_ssim(gt: np.ndarray, rec: np.ndarray) -> tuple[float, float]:
    from ..benchmark import pixel

    return pixel.psnr(gt, rec), pixel.ssim_rgb(gt, rec)


def _tensor(clips: np.ndarray):
    """uint8 (N, F, H, W, 3) -> float (N, 3, F, H, W) in [-1, 1] (the VAE's input)."""
    import torch

    return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def _frames(x) -> np.ndarray:
    """The VAE's output (N, 3, F, H, W) in [-1, 1] -> uint8 (N, F, H, W, 3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()


def _optimiser(params, lr: float, steps: int):
    import torch

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)


def _step(model, opt, sched, loss, clip: float | None = 1.0) -> float:
    """One optimiser step on ``loss`` (gradient norm clipped to ``clip``); the loss as a float."""
    import torch

    opt.zero_grad()
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    sched.step()
    return float(loss.detach())


def pretrain_vae(folder, train: Corpus, test: Corpus, steps: int = 200, batch_size: int = 8, window: int = 9,
                 crop: tuple[int, int] = (32, 48), lr: float = 3e-3, kl_weight: float = 1e-6, seed: int = 0,
                 progress: bool = False, device: str = "cpu") -> dict:  # fmt: skip
    """Train the AutoencoderKLCogVideoX in ``folder`` (in place) to reconstruct ``window``-frame pieces of
    the training clips, randomly cropped to ``crop`` pixels (a multiple of 8: the VAE is convolutional, and a
    quarter of the clip costs a quarter of the time), with MSE + ``kl_weight`` x KL (a posterior sample
    decoded); set its scaling factor to 1 / std of the training clips' latents; report PSNR and SSIM (RGB)
    of the held-out clips, whole, encoded to their posterior mean and decoded."""
    import torch
    from diffusers import AutoencoderKLCogVideoX
    from tqdm.auto import tqdm

    folder = Path(folder)
    vae = AutoencoderKLCogVideoX.from_pretrained(folder).to(device)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    opt, sched = _optimiser(vae.parameters(), lr, steps)
    vae.train()
    losses = []
    n, f, h, w = train.clips.shape[:4]
    crop = (min(crop[0], h), min(crop[1], w))
    for _ in tqdm(range(steps), desc="pretrain tiny VAE", disable=not progress):
        idx = torch.randint(0, n, (batch_size,), generator=gen)
        t0, y0, x0 = (int(torch.randint(0, m + 1, (1,), generator=gen)) for m in (f - window, (h - crop[0]) // 8,
                                                                                 (w - crop[1]) // 8))  # fmt: skip
        x = _tensor(train.clips[idx.numpy(), t0 : t0 + window, 8 * y0 : 8 * y0 + crop[0], 8 * x0 : 8 * x0 + crop[1]])
        x = x.to(device)
        post = vae.encode(x).latent_dist
        y = vae.decode(post.sample(generator=gen)).sample  # (a CPU generator serves any device)
        losses.append(_step(vae, opt, sched, ((y - x) ** 2).mean() + kl_weight * post.kl().mean()))
    vae.eval()
    with torch.no_grad():
        lat = torch.cat([vae.encode(_tensor(train.clips[i : i + 4]).to(device)).latent_dist.mean
                         for i in range(0, min(n, 64), 4)])  # fmt: skip
        vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
    rec = autoencode(vae, test.clips)
    scores = np.array([_psnr_ssim(g, r) for g, r in zip(test.clips, rec, strict=True)])
    after = {"psnr": float(scores[:, 0].mean()), "ssim_rgb": float(scores[:, 1].mean())}
    vae.cpu().save_pretrained(folder)
    k = max(1, min(10, steps // 5))
    return {"steps": steps, "train_clips": int(n), "test_clips": len(test.clips), "window": window,
            "loss_first": float(np.mean(losses[:k])) if losses else None,
            "loss_last": float(np.mean(losses[-k:])) if losses else None,
            "held_out": after, "scaling_factor": float(vae.config.scaling_factor)}  # fmt: skip


def autoencode(vae, clips: np.ndarray) -> np.ndarray:
    """uint8 clips (N, F, H, W, 3) encoded by ``vae`` to their posterior mean and decoded, on its device."""
    import torch

    dev = vae.device
    with torch.no_grad():
        return np.concatenate([_frames(vae.decode(vae.encode(_tensor(clips[i : i + 2]).to(dev)).latent_dist.mean)
                                       .sample.cpu()) for i in range(0, len(clips), 2)])  # fmt: skip


def text_embeddings(text_encoder, tokenizer, captions: list[str], max_length: int):
    """The text encoder's last hidden states (N, max_length, width) of the captions padded to
    ``max_length`` tokens, as ``CogVideoXPipeline.encode_prompt`` computes them."""
    import torch

    ids = tokenizer(captions, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return text_encoder(ids["input_ids"].to(text_encoder.device))[0]


def attach_text_encoder(pipeline_folder, clip_folder) -> None:
    """Save the CLIP's text model and tokenizer as the CogVideoX pipeline's ``text_encoder/`` and
    ``tokenizer/`` (in place of T5), so that the folder loads as a text-to-video pipeline."""
    from transformers import CLIPModel, CLIPTokenizer

    pipeline_folder = Path(pipeline_folder)
    CLIPModel.from_pretrained(clip_folder).text_model.save_pretrained(pipeline_folder / "text_encoder")
    # CLIPModel's text tower saves as CLIPTextModel's weights with the CLIPTextConfig
    CLIPTokenizer.from_pretrained(clip_folder).save_pretrained(pipeline_folder / "tokenizer")
    index = json.loads((pipeline_folder / "model_index.json").read_text())
    index["text_encoder"] = ["transformers", "CLIPTextModel"]
    index["tokenizer"] = ["transformers", "CLIPTokenizer"]
    (pipeline_folder / "model_index.json").write_text(json.dumps(index, indent=2))


def pretrain_transformer(folder, train: Corpus, test: Corpus, steps: int = 400, batch_size: int = 16,
                         lr: float = 1e-3, uncond_p: float = 0.1, seed: int = 0, progress: bool = False,
                         device: str = "cpu") -> dict:  # fmt: skip
    """Train the CogVideoXTransformer3DModel of the pipeline ``folder`` (in place) as a caption-to-video
    model: the training clips' VAE latents (posterior samples, scaled), the captions through the pipeline's
    frozen text encoder, a zeroed embedding for ``uncond_p`` of them, v-prediction on the pipeline's
    scheduler (:func:`cinebrain.methods.cinesync.decoder.v_prediction_loss`, the brain decoder's loss).

    Reported on the held-out clips (``held_out``): the error of the clean latent predicted from pure noise
    (the last timestep) given the clip's own caption, another held-out clip's caption, and the zeroed
    embedding — how much of what a clip shows the model draws from its caption."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer, CLIPTextModel

    from ..methods.cinesync.decoder import rotary_embeddings, v_prediction_loss

    folder = Path(folder)
    vae = AutoencoderKLCogVideoX.from_pretrained(folder, subfolder="vae").to(device).eval()
    tr = CogVideoXTransformer3DModel.from_pretrained(folder, subfolder="transformer").to(device)
    sched = CogVideoXDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer")
    text = text_embeddings(encoder, tokenizer, train.captions, tr.config.max_text_seq_length)
    def latents(c: Corpus):
        with torch.no_grad():
            post = [vae.encode(_tensor(c.clips[i : i + 8]).to(device)).latent_dist for i in range(0, len(c.clips), 8)]
        return torch.cat([p.mean for p in post]), torch.cat([p.std for p in post])

    mean, std = latents(train)
    scale = float(vae.config.scaling_factor)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    _, _, f, h, w = mean.shape
    rope = rotary_embeddings(tr.config, f, h, w, device=device)
    opt, lr_sched = _optimiser(tr.parameters(), lr, steps)
    tr.train()
    losses = []
    for _ in tqdm(range(steps), desc="pretrain tiny CogVideoX transformer", disable=not progress):
        idx = torch.randint(0, len(mean), (batch_size,), generator=gen).to(device)
        x0 = mean[idx] + std[idx] * torch.randn(std[idx].shape, generator=gen).to(device)
        x0 = (x0 * scale).permute(0, 2, 1, 3, 4)
        cond = text[idx] * (torch.rand(batch_size, 1, 1, generator=gen) >= uncond_p).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (batch_size,), generator=gen).to(device)
        losses.append(_step(tr, opt, lr_sched, v_prediction_loss(tr, sched, x0, cond, rope, noise, t)))
    tr.eval()
    tr.save_pretrained(folder / "transformer")
    # held out: the clean latent predicted from pure noise, given each kind of conditioning
    x0 = (latents(test)[0] * scale).permute(0, 2, 1, 3, 4)
    held_text = text_embeddings(encoder, tokenizer, test.captions, tr.config.max_text_seq_length)
    t = torch.full((len(x0),), sched.config.num_train_timesteps - 1, device=device)
    xt = sched.add_noise(x0, torch.randn(x0.shape, generator=gen).to(device), t)
    held = {}
    for name, cond in (("own_caption", held_text), ("other_caption", held_text.roll(1, 0)),
                       ("zeroed", torch.zeros_like(held_text))):  # fmt: skip
        with torch.no_grad():
            v = tr(hidden_states=xt, encoder_hidden_states=cond, timestep=t, image_rotary_emb=rope, return_dict=False)[0]
        held[name] = float(((sched.get_velocity(v, xt, t) - x0) ** 2).mean())
    k = max(1, min(20, steps // 10))
    return {"steps": steps, "train_clips": len(train.clips), "uncond_p": uncond_p,
            "loss_first": float(np.mean(losses[:k])) if losses else None,
            "loss_last": float(np.mean(losses[-k:])) if losses else None,
            "held_out_x0_mse_from_noise": held, "held_out_latent_variance": float(x0.var())}  # fmt: skip


def _fit_classifier(model, inputs, labels, steps: int, batch_size: int, lr: float, gen, desc: str, progress: bool):
    import torch
    from tqdm.auto import tqdm

    opt, sched = _optimiser(model.parameters(), lr, steps)
    model.train()
    y = torch.as_tensor(labels)
    for _ in tqdm(range(steps), desc=desc, disable=not progress):
        idx = torch.randint(0, len(inputs), (batch_size,), generator=gen)
        _step(model, opt, sched, model(pixel_values=inputs[idx].to(model.device), labels=y[idx].to(model.device)).loss,
              clip=None)  # fmt: skip
    model.eval()


def _logits(model, inputs):
    import torch

    with torch.no_grad():
        return torch.cat([model(pixel_values=inputs[i : i + 64].to(model.device)).logits.float().cpu()
                          for i in range(0, len(inputs), 64)])  # fmt: skip


def _accuracy(model, inputs, labels) -> dict:
    logits = _logits(model, inputs)
    top3 = logits.topk(3, dim=-1).indices.numpy()
    return {"top1": float((top3[:, 0] == labels).mean()), "top3": float((top3 == labels[:, None]).any(1).mean()),
            "n": len(labels), "chance_top1": 1.0 / logits.shape[1]}  # fmt: skip


def _check_labels(model, labels: list[str], folder) -> None:
    if [model.config.id2label[i] for i in range(model.config.num_labels)] != labels:
        raise ValueError(f"{folder}: the classifier's classes are not the synthetic world's {len(labels)} classes; fix: "
                         "write it with cinebrain.synth.models (save_tiny_vit / save_tiny_videomae, default labels)")  # fmt: skip


def pretrain_judges(vit_folder, videomae_folder, images: tuple[Corpus, Corpus], videos: tuple[Corpus, Corpus],
                    steps: int = 600, batch_size: int = 64, lr: float = 5e-3, seed: int = 0,
                    progress: bool = False, device: str = "cpu") -> dict:  # fmt: skip
    """Train the benchmark's ViT image classifier (frames -> :data:`IMAGE_LABELS`) on ``images`` (train,
    held out: every frame of their clips) and VideoMAE video classifier (clips -> :data:`VIDEO_LABELS`) on
    ``videos`` (its ``num_frames`` frames sampled evenly from each clip) in their folders, in place, and
    report their held-out accuracy."""
    import torch
    from transformers import (
        AutoImageProcessor,
        VideoMAEForVideoClassification,
        ViTForImageClassification,
    )

    from ..stimuli import sample_frames

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    out = {}
    # image classifier: every frame, labelled by its clip's scene
    proc = AutoImageProcessor.from_pretrained(vit_folder)
    vit = ViTForImageClassification.from_pretrained(vit_folder).to(device)
    _check_labels(vit, IMAGE_LABELS, vit_folder)

    def frames(c: Corpus):
        f = c.clips.shape[1]
        px = proc(images=list(c.clips.reshape(-1, *c.clips.shape[2:])), return_tensors="pt")["pixel_values"]
        return px, np.repeat(c.image_labels(), f)

    x, y = frames(images[0])
    _fit_classifier(vit, x, y, steps, batch_size, lr, gen, "pretrain tiny ViT judge", progress)
    out["image_classifier"] = {"labels": "colour shape on background", "classes": len(IMAGE_LABELS), "steps": steps,
                               "train_frames": len(y), "held_out": _accuracy(vit, *frames(images[1]))}  # fmt: skip
    vit.save_pretrained(vit_folder)
    # video classifier: the clip's num_frames frames sampled evenly, as the benchmark feeds it
    proc = AutoImageProcessor.from_pretrained(videomae_folder)
    vmae = VideoMAEForVideoClassification.from_pretrained(videomae_folder).to(device)
    _check_labels(vmae, VIDEO_LABELS, videomae_folder)

    def clips(c: Corpus):
        n = vmae.config.num_frames
        return proc([list(sample_frames(v, n)) for v in c.clips], return_tensors="pt")["pixel_values"], c.video_labels()

    x, y = clips(videos[0])
    _fit_classifier(vmae, x, y, steps, batch_size // 2, lr, gen, "pretrain tiny VideoMAE judge", progress)
    out["video_classifier"] = {"labels": "colour shape moving direction", "classes": len(VIDEO_LABELS), "steps": steps,
                               "train_clips": len(y), "held_out": _accuracy(vmae, *clips(videos[1]))}  # fmt: skip
    vmae.save_pretrained(videomae_folder)
    return out


#: The attributes that make up each judge's classes, in the order :data:`IMAGE_LABELS` and
#: :data:`VIDEO_LABELS` nest them.
IMAGE_ATTRIBUTES = {"shape": CATEGORIES, "colour": list(COLOURS), "background": list(BACKGROUNDS)}
VIDEO_ATTRIBUTES = {"shape": CATEGORIES, "colour": list(COLOURS), "direction": list(DIRECTIONS)}


def judge_attributes(vit_folder, videomae_folder, clips: np.ndarray, device: str = "cpu") -> dict:
    """What the trained judges see in each clip (uint8 (N, F, H, W, 3)), attribute by attribute:
    ``{"image": {"shape": names, "colour": ..., "background": ...}, "video": {"shape": ..., "colour": ...,
    "direction": ...}}``, each the most probable value after the judge's class probabilities (the image
    judge's averaged over the clip's frames; the video judge's from its ``num_frames`` frames sampled
    evenly, as the benchmark feeds it) are summed over the other attributes."""
    import torch
    from transformers import AutoImageProcessor, VideoMAEForVideoClassification, ViTForImageClassification

    from ..stimuli import sample_frames

    out = {}
    for key, cls, folder, attrs in (("image", ViTForImageClassification, vit_folder, IMAGE_ATTRIBUTES),
                                    ("video", VideoMAEForVideoClassification, videomae_folder, VIDEO_ATTRIBUTES)):  # fmt: skip
        model, proc = cls.from_pretrained(folder).to(device).eval(), AutoImageProcessor.from_pretrained(folder)
        if key == "image":
            px = proc(images=list(clips.reshape(-1, *clips.shape[2:])), return_tensors="pt")["pixel_values"]
            prob = torch.softmax(_logits(model, px), -1).reshape(len(clips), clips.shape[1], -1).mean(1)
        else:
            n = model.config.num_frames
            px = proc([list(sample_frames(v, n)) for v in clips], return_tensors="pt")["pixel_values"]
            prob = torch.softmax(_logits(model, px), -1)
        prob = prob.reshape(len(clips), *(len(v) for v in attrs.values())).numpy()
        out[key] = {}
        for axis, (name, values) in enumerate(attrs.items()):
            marginal = prob.sum(axis=tuple(a + 1 for a in range(len(attrs)) if a != axis))
            out[key][name] = [values[i] for i in marginal.argmax(1)]
    return out


def attribute_accuracy(judged: dict, scenes: list[Scene]) -> dict:
    """The fraction of clips whose judged attributes (:func:`judge_attributes`) are their scenes', per judge
    and attribute, with each attribute's chance level (1 / its values)."""
    truth = {"shape": [s.category for s in scenes], "colour": [s.colour for s in scenes],
             "background": [s.background for s in scenes], "direction": [s.direction for s in scenes]}  # fmt: skip
    attrs = {"image": IMAGE_ATTRIBUTES, "video": VIDEO_ATTRIBUTES}
    return {key: {name: {"accuracy": float(np.mean(np.array(judged[key][name]) == np.array(truth[name]))),
                         "chance": 1.0 / len(attrs[key][name])} for name in judged[key]} for key in judged}  # fmt: skip


def world_renders(world, test: Corpus, *, steps: int = 10, guidance_scale: float = 6.0, seed: int = 42,
                  device: str = "cpu") -> dict:
    """Whether the world's generator renders what a caption names, judged by its judges on the held-out
    clips ``test`` of the world's corpus: :func:`attribute_accuracy` of the clips as rendered
    (``ground_truth``: what the judges can read at all), through the VAE (``vae``: what the latent space
    keeps), and generated from their captions (``caption``) by the world pipeline ``world/cogvideox`` with
    the demo's sampling (``steps`` DPM steps, classifier-free guidance ``guidance_scale`` against a zeroed
    conditioning, the same seeded noise for every clip, as :func:`cinebrain.benchmark.ceiling.caption_ceiling`)."""
    import torch
    from diffusers import CogVideoXPipeline

    from ..methods.cinesync.decoder import caption_embeddings
    from ..methods.cinesync.reconstruct import sample
    from ..methods.cinesync.settings import ReconstructSettings

    world = Path(world)
    pipe = CogVideoXPipeline.from_pretrained(world / "cogvideox").to(device)
    rs = ReconstructSettings(steps=steps, guidance_scale=guidance_scale, seed=seed, batch_size=8)
    n_frames, height, width = test.clips.shape[1:4]
    samples = []
    for b in range(0, len(test.clips), rs.batch_size):
        with torch.no_grad():
            cond = caption_embeddings(pipe, test.captions[b : b + rs.batch_size],
                                      pipe.transformer.config.max_text_seq_length, device)  # fmt: skip
        samples += sample(pipe, cond, rs, n_frames, height, width, device)
    report = {"clips": len(test.clips), "sampling": {"steps": steps, "guidance_scale": guidance_scale, "seed": seed}}
    for name, clips in (("ground_truth", test.clips), ("vae", autoencode(pipe.vae, test.clips)),
                        ("caption", np.stack(samples))):  # fmt: skip
        judged = judge_attributes(world / "vit", world / "videomae", clips, device=device)
        report[name] = attribute_accuracy(judged, test.scenes)
    return report


# --- the rules: each trains one part of the world from the tiny models into its own folder -----------------


def _corpus(clips: int, seed: int) -> tuple[Corpus, Corpus]:
    return render_corpus(clips, seed=seed).split(32)


def _copy(src, dst) -> Path:
    import shutil

    dst = Path(dst)
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


# --- the shipped world: weights trained once by `cinebrain world`, used while the code that made them is unchanged ---

#: The settings (``models.tiny``) that decide what the world's models become.
WORLD_SETTINGS = ("clip_pretrain_steps", "world_clips", "vae_pretrain_steps", "transformer_pretrain_steps",
                  "judge_pretrain_steps")  # fmt: skip
#: The functions of :mod:`cinebrain.synth.models` whose source is part of :func:`world_key`.
WORLD_MODEL_FUNCTIONS = ("_byte_bpe", "_tidy", "save_tiny_clip", "pretrain_tiny_clip", "save_tiny_cogvideox", "_labels",
                         "save_tiny_videomae", "save_tiny_vit")  # fmt: skip
#: The shipped world's manifest file, in the folder ``models.tiny.world_cache``.
WORLD_MANIFEST = "world.json"


def world_settings(tiny: dict) -> dict:
    """The world-deciding part of ``models.tiny`` (a dict or :class:`cinebrain.synth.settings.TinyModels`)."""
    get = tiny.get if isinstance(tiny, dict) else lambda k: getattr(tiny, k)
    return {k: int(get(k)) for k in WORLD_SETTINGS}


def world_key(settings: dict) -> str:
    """SHA-256 of what decides the world's weights: the source of this module, of the synthetic scenes'
    renderer (:mod:`cinebrain.synth.stimuli`), of the functions of :mod:`cinebrain.synth.models` that
    build the world's tiny models (:data:`WORLD_MODEL_FUNCTIONS`: the CLIP and its pre-training, the
    CogVideoX pipeline, the judges — not the other tiny models, so that adding one leaves the world
    current), of the clip resizer and of the transformer's loss and position embeddings, and the
    ``settings`` (:func:`world_settings`). Any change to them makes shipped weights stale (the rules then
    train)."""
    import hashlib
    import inspect

    from .. import stimuli as clip_stimuli
    from ..methods.cinesync import decoder
    from . import models, stimuli

    h = hashlib.sha256()
    for path in (__file__, stimuli.__file__):
        h.update(Path(path).read_bytes())
    fns = [getattr(models, name) for name in WORLD_MODEL_FUNCTIONS]
    for fn in (*fns, clip_stimuli.resize_frames, decoder.v_prediction_loss, decoder.rotary_embeddings):
        h.update(inspect.getsource(fn).encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def shipped_world(manifest, settings: dict) -> Path | None:
    """The shipped world's folder when its manifest ``manifest`` (``<models.tiny.world_cache>/world.json``;
    None: no shipped world) holds :func:`world_key` of ``settings`` — the weights are what training would
    make now — else None, with the reason on stderr (the rules then train)."""
    import sys

    if not manifest:
        return None
    manifest = Path(manifest)
    if not manifest.is_file():
        print(f"{manifest}: no shipped world (training it); fix: run `make world`", file=sys.stderr)
        return None
    if json.loads(manifest.read_text()).get("key") != world_key(settings):
        print(f"{manifest}: stale — the world's code or settings changed since it was trained (training it now; "
              "slow); fix: run `make world` and commit its folder", file=sys.stderr)  # fmt: skip
        return None
    print(f"{manifest}: the shipped world matches this code and these settings; copied, not trained",
          file=sys.stderr)  # fmt: skip
    return manifest.parent


def world_vae(out, *, steps: int, clips: int = 288, seed: int = 1234, progress: bool = False,
              shipped: Path | None = None, device: str = "cpu") -> dict:  # fmt: skip
    """Rule ``models_world_vae``: the tiny CogVideoX's VAE (:func:`cinebrain.synth.models.save_tiny_cogvideox`,
    written here so that it does not wait for the other tiny models) trained as an autoencoder
    (:func:`pretrain_vae`) in ``out`` (the world pipeline's ``vae/``), its report in ``out/pretraining.json``;
    ``steps`` 0: left random; ``shipped`` (:func:`shipped_world`): copied from there."""
    import tempfile

    from .models import save_tiny_cogvideox

    if shipped is not None:
        _copy(Path(shipped) / "cogvideox" / "vae", out)
        return json.loads((Path(out) / "pretraining.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = _copy(save_tiny_cogvideox(Path(tmp) / "cogvideox") / "vae", out)
    report = {"steps": 0}
    if steps:
        train, test = _corpus(clips, seed)
        report = pretrain_vae(out, train, test, steps=steps, progress=progress, device=device) | {
            "corpus": {"clips": clips, "seed": seed}}
    (out / "pretraining.json").write_text(json.dumps(report, indent=1))
    return report


PIPELINE_PARTS = ("transformer", "scheduler", "text_encoder", "tokenizer")


def world_generator(tiny_dir, vae_dir, out, *, steps: int, clips: int = 288, seed: int = 1234,
                    progress: bool = False, shipped: Path | None = None, device: str = "cpu") -> dict:  # fmt: skip
    """Rule ``models_world_generator``: the world's CogVideoX text-to-video pipeline in ``out`` — the tiny
    pipeline's scheduler, text encoder and tokenizer, the transformer trained as a caption-to-video model
    (:func:`pretrain_transformer`) on the latents of the trained VAE ``vae_dir`` (which must be
    ``out/vae``, written by ``models_world_vae``); its report in ``out/transformer/pretraining.json``;
    ``shipped`` (:func:`shipped_world`): the shipped pipeline's parts copied (its text encoder the one it
    was trained with)."""
    import shutil

    out = Path(out)
    tiny = Path(shipped) / "cogvideox" if shipped is not None else Path(tiny_dir) / "cogvideox"
    if Path(vae_dir).resolve() != (out / "vae").resolve():
        raise ValueError(f"{vae_dir}: the world pipeline's VAE must be {out / 'vae'}")
    if shipped is not None:
        for part in PIPELINE_PARTS:
            _copy(tiny / part, out / part)
        shutil.copyfile(tiny / "model_index.json", out / "model_index.json")
        return json.loads((out / "transformer" / "pretraining.json").read_text())
    for part in PIPELINE_PARTS:
        _copy(tiny / part, out / part)
    shutil.copyfile(tiny / "model_index.json", out / "model_index.json")
    report = {"steps": 0}
    if steps:
        train, test = _corpus(clips, seed)
        report = pretrain_transformer(out, train, test, steps=steps, progress=progress, device=device) | {
            "corpus": {"clips": clips, "seed": seed}}
    (out / "transformer" / "pretraining.json").write_text(json.dumps(report, indent=1))
    return report


def world_judges(vit_out, videomae_out, *, steps: int, images: int = 2048, clips: int = 2048, seed: int = 1234,
                 progress: bool = False, shipped: Path | None = None, device: str = "cpu") -> dict:  # fmt: skip
    """Rule ``models_world_judges``: the benchmark's ViT and VideoMAE classifiers trained on the synthetic
    categories (:func:`pretrain_judges`) in ``vit_out`` and ``videomae_out``, each with its report in
    ``pretraining.json`` (``steps`` 0: left random). They see what the benchmark feeds them, freshly rendered: ``images`` single frames
    (one per random scene) and ``clips`` clips of 16 frames spread over 4 s (VideoMAE's 16 frames sampled
    from a 33-frame clip), many more scenes than the 100-125 classes need, the last eighth held out."""
    from .models import save_tiny_videomae, save_tiny_vit

    if shipped is not None:  # (:func:`shipped_world`)
        return {key: json.loads((_copy(Path(shipped) / name, dst) / "pretraining.json").read_text())
                for key, name, dst in (("image_classifier", "vit", vit_out), ("video_classifier", "videomae", videomae_out))}  # fmt: skip
    vit, vmae = save_tiny_vit(vit_out), save_tiny_videomae(videomae_out)  # the tiny ones, then trained
    report = {"image_classifier": {"steps": 0}, "video_classifier": {"steps": 0}}
    if steps:
        frames = render_corpus(images, seed=seed + 1, frames=1).split(images // 8)
        videos = render_corpus(clips, seed=seed + 2, frames=16, fps=15 / 4).split(clips // 8)
        report = pretrain_judges(vit, vmae, frames, videos, steps=steps, progress=progress, device=device)
    for folder, key in ((vit, "image_classifier"), (vmae, "video_classifier")):
        (folder / "pretraining.json").write_text(json.dumps(report[key] | {"seed": seed}, indent=1))
    return report


def build_world(out, tiny: dict, progress: bool = False, device: str = "cpu") -> dict:
    """``cinebrain world`` (``make world``): train the whole world — the tiny CLIP (its text encoder becomes
    the generator's), the VAE, the caption-to-video transformer and the judges — with the ``models.tiny``
    settings ``tiny`` into ``out`` (``cogvideox/``, ``vit/``, ``videomae/``) and write its manifest
    (:data:`WORLD_MANIFEST`: the :func:`world_key`, the settings, each model's report), so that the
    ``models_world_*`` rules copy it while the code and settings are unchanged. The manifest's ``renders``
    (:func:`world_renders`) says how well the generator renders what a caption names. ``device``: where the
    VAE, transformer and judges train (the tiny CLIP trains on the CPU)."""
    import platform
    import tempfile
    import time

    import torch

    from .models import write_tiny_models

    out, settings = Path(out), world_settings(tiny)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_tiny_models(tmp, models=("clip", "cogvideox"), clip_pretrain_steps=settings["clip_pretrain_steps"],
                          progress=progress)  # fmt: skip
        reports = {"vae": world_vae(out / "cogvideox" / "vae", steps=settings["vae_pretrain_steps"],
                                    clips=settings["world_clips"], progress=progress, device=device)}  # fmt: skip
        reports["generator"] = world_generator(tmp, out / "cogvideox" / "vae", out / "cogvideox",
                                               steps=settings["transformer_pretrain_steps"],
                                               clips=settings["world_clips"], progress=progress, device=device)  # fmt: skip
    reports |= world_judges(out / "vit", out / "videomae", steps=settings["judge_pretrain_steps"], progress=progress,
                            device=device)  # fmt: skip
    reports["renders"] = world_renders(out, _corpus(settings["world_clips"], 1234)[1], device=device)
    manifest = {"key": world_key(settings), "settings": settings, "reports": reports,
                "seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
                "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}  # fmt: skip
    (out / WORLD_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
