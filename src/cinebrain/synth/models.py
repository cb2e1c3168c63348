"""Tiny random models of the real classes, saved with ``save_pretrained`` so that the real loading code runs.

Pretrained weights cannot be downloaded in the demo or the tests, so ``models_tiny`` writes small
randomly initialised models of exactly the classes the configuration names for the paper (CLIP or
SigLIP for frame/caption embeddings, Whisper for transcripts, the two captioning VLMs — Qwen2.5-VL and
LLaVA-Video (LLaVA-OneVision's class) with their video processors — a
CogVideoX pipeline folder — 3-D causal VAE, DiT transformer, DPM scheduler — for latents and the decoder,
and the benchmark's networks: a VideoMAE video classifier, a ViT image classifier — with the synthetic world's
classes, :mod:`cinebrain.synth.pretrain` — and a DINO ViT; for CineNeuron an X-CLIP (action embeddings) and a Wan pipeline folder) into folders that the stages load with
``from_pretrained``, just as they load the real checkpoints.  Their shapes and code paths are real; their outputs are meaningless,
except the CLIP's when ``clip_pretrain_steps`` > 0: a real CLIP knows colours, shapes and motion, and the
encoder's alignment targets only mean something if the tiny one does too, so :func:`pretrain_tiny_clip`
trains it contrastively on frames and captions of freshly rendered synthetic scenes (its own random
scripts, never the dataset's episodes) — the demo's stand-in for CLIP's web-scale pre-training. The
CogVideoX VAE and transformer and the two classifiers are trained the same way by
:mod:`cinebrain.synth.pretrain` (rules ``models_world_*``).

Tokenizers are byte-level BPE with the 256 byte symbols and no merges (every byte a token), written as
``vocab.json`` + ``merges.txt``: the smallest vocabulary the real tokenizer classes accept.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The tiny models ``write_tiny_models`` writes, by folder name.
TINY_MODELS = ("clip", "siglip", "whisper", "qwen2_5_vl", "llava_video", "cogvideox", "videomae", "vit", "dino",
               "xclip", "wan", "stable_diffusion", "zeroscope", "blip", "f5tts", "vocos", "encodec")


def _chat_template(image: str, video: str, system: str | None = None) -> str:
    """A ChatML template (the one Qwen2.5-VL and LLaVA-OneVision/LLaVA-Video use) whose image and video entries
    become the model's placeholder text ``image`` and ``video``, and which opens with ``system`` if given."""
    head = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\n" + system + "<|im_end|>\n{% endif %}"
            if system else "")  # fmt: skip
    return (
        head + "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}" + image + "{% elif c['type'] == 'video' %}"
        + video + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


def _byte_bpe(folder: Path, end_of_word: bool = False) -> tuple[Path, Path]:
    from tokenizers import pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    if end_of_word:  # CLIP's BPE marks word ends
        symbols += [s + "</w>" for s in symbols]
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt"


def _tidy(folder: Path) -> None:
    for name in ("vocab.json", "merges.txt"):  # the saved tokenizer.json supersedes them
        p = folder / name
        if p.exists() and (folder / "tokenizer.json").exists():
            p.unlink()


def save_tiny_clip(folder, image_size: int = 32, seed: int = 0) -> Path:
    """A CLIP (ViT) model + processor with 16-dimensional embeddings."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    vocab, merges = _byte_bpe(folder, end_of_word=True)
    tok = CLIPTokenizer(str(vocab), str(merges))
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(seed)
    CLIPModel(cfg).save_pretrained(folder)
    size = {"height": image_size, "width": image_size}
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size=size),
                  tokenizer=tok).save_pretrained(folder)  # fmt: skip
    _tidy(folder)
    return folder


def save_tiny_xclip(folder, image_size: int = 32, frames: int = 8, seed: int = 0) -> Path:
    """An X-CLIP video-text model + processor (16-dimensional embeddings, ``frames`` frames per video): the
    action embedding model of CineNeuron (the paper's ViCLIP has no transformers class)."""
    import torch
    from transformers import CLIPTokenizer, VideoMAEImageProcessor, XCLIPConfig, XCLIPModel, XCLIPProcessor

    folder = Path(folder)
    vocab, merges = _byte_bpe(folder, end_of_word=True)
    tok = CLIPTokenizer(str(vocab), str(merges))
    cfg = XCLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        # the multi-frame integration transformer (MIT) works on the projected frame embeddings: its width is
        # projection_dim's
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8, num_frames=frames, mit_hidden_size=16,
                           mit_intermediate_size=32, mit_num_hidden_layers=1, mit_num_attention_heads=2),
        projection_dim=16, prompt_num_attention_heads=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    XCLIPModel(cfg).save_pretrained(folder)
    images = VideoMAEImageProcessor(size={"shortest_edge": image_size},
                                    crop_size={"height": image_size, "width": image_size})  # fmt: skip
    XCLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(folder)
    _tidy(folder)
    return folder


def save_tiny_siglip(folder, image_size: int = 32, seed: int = 0) -> Path:
    """A SigLIP model + processor (32-dimensional embeddings; texts padded to 16 tokens, as SigLIP is)."""
    import torch
    from transformers import (
        GPT2TokenizerFast,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
    )

    folder = Path(folder)
    vocab, merges = _byte_bpe(folder)
    # SigLIP's own tokenizer is a SentencePiece model; a byte-level BPE of the same interface stands in.
    # transformers 5 ignores vocab_file=/merges_file= (the tokenizer then encodes every text to []): vocab=, merges=
    tok = GPT2TokenizerFast(vocab=str(vocab), merges=str(merges), model_max_length=16)
    tok.add_special_tokens({"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "bos_token": "</s>"})
    special = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    cfg = SiglipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, projection_size=32, **special),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
    )  # fmt: skip
    torch.manual_seed(seed)
    SiglipModel(cfg).save_pretrained(folder)
    size = {"height": image_size, "width": image_size}
    SiglipProcessor(image_processor=SiglipImageProcessor(size=size), tokenizer=tok).save_pretrained(folder)
    _tidy(folder)
    return folder


def save_tiny_whisper(folder, seed: int = 0, languages=("en", "zh", "de", "fr", "es")) -> Path:
    """A Whisper model + processor with Whisper's special and timestamp tokens and generation config."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,  # fmt: skip
        WhisperProcessor,
        WhisperTokenizer,
    )

    folder = Path(folder)
    vocab, merges = _byte_bpe(folder)
    eot = "<|endoftext|>"
    tok = WhisperTokenizer(str(vocab), str(merges), unk_token=eot, bos_token=eot, eos_token=eot, pad_token=eot)
    specials = ["<|startoftranscript|>", *(f"<|{lang}|>" for lang in languages), "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]  # fmt: skip
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])  # timestamps 0.00 ... 30.00 s
    ids = tok.convert_tokens_to_ids
    special = dict(decoder_start_token_id=ids("<|startoftranscript|>"), pad_token_id=ids(eot), bos_token_id=ids(eot),
                   eos_token_id=ids(eot))  # fmt: skip
    cfg = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, d_model=32, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_source_positions=1500, max_target_positions=96,
                        begin_suppress_tokens=[ids(eot)], suppress_tokens=[], **special)  # fmt: skip
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        **special, is_multilingual=True, lang_to_id={f"<|{lang}|>": ids(f"<|{lang}|>") for lang in languages},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"), prev_sot_token_id=ids("<|startofprev|>"),
        max_initial_timestamp_index=50, begin_suppress_tokens=[ids(eot)], suppress_tokens=[],
    )  # fmt: skip
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(folder)
    _tidy(folder)
    return folder


def _chat_tokenizer(folder: Path, specials: list[str]):
    """A byte-level Qwen2 tokenizer with ChatML's special tokens and ``specials`` (the vision placeholders)."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _byte_bpe(folder)
    tok = Qwen2Tokenizer(vocab=str(vocab), merges=str(merges), unk_token="<|endoftext|>",
                         pad_token="<|endoftext|>", eos_token="<|im_end|>")  # fmt: skip
    tok.add_special_tokens({"additional_special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *specials]})
    return tok


def _text_config(tok, model_type: str, **extra) -> dict:
    ids = tok.convert_tokens_to_ids
    return dict(model_type=model_type, vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), **extra)  # fmt: skip


def _save_chat_model(folder: Path, model, proc, tok) -> Path:
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    _tidy(folder)
    return folder


def save_tiny_qwen2_5_vl(folder, seed: int = 0) -> Path:
    """A Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``: windowed ViT with 2x2 patch merging and temporal
    patches of 2 frames, M-RoPE language model) + its processor (image and video processors) + chat template,
    laid out as Qwen/Qwen2.5-VL-7B-Instruct is."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    folder = Path(folder)
    vision = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok = _chat_tokenizer(folder, vision)
    ids = tok.convert_tokens_to_ids
    # Frames are resized to multiples of 28 px (patch 14, merge 2) between 56 x 56 and 112 x 112 pixels' worth.
    pixels = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    proc = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=pixels), video_processor=Qwen2VLVideoProcessor(size=pixels, cap_pixels_per_frame=True),
        tokenizer=tok, chat_template=_chat_template("<|vision_start|><|image_pad|><|vision_end|>",
                                                    "<|vision_start|><|video_pad|><|vision_end|>",
                                                    system="You are a helpful assistant."),
    )  # fmt: skip
    cfg = Qwen2_5_VLConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1], tokens_per_second=2),
        text_config=_text_config(tok, "qwen2_5_vl_text",
                                 rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3]}),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )  # fmt: skip
    torch.manual_seed(seed)
    return _save_chat_model(folder, Qwen2_5_VLForConditionalGeneration(cfg), proc, tok)


def save_tiny_llava_video(folder, seed: int = 0) -> Path:
    """A LLaVA-Video (the -hf conversion of LLaVA-Video-7B-Qwen2: ``LlavaOnevisionForConditionalGeneration``,
    SigLIP vision tower, Qwen2 language model, 2x2-pooled video frames) + its processor (image and video
    processors) + chat template."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    folder = Path(folder)
    tok = _chat_tokenizer(folder, ["<image>", "<video>"])
    ids = tok.convert_tokens_to_ids
    size, patch = 56, 14  # 4 x 4 patches per frame, pooled to 2 x 2 video tokens
    proc = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size={"height": size, "width": size},
                                                     image_grid_pinpoints=[[size, size]]),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": size, "width": size}),
        tokenizer=tok, num_image_tokens=(size // patch) ** 2, vision_feature_select_strategy="full",
        chat_template=_chat_template("<image>\n", "<video>\n"),
    )  # fmt: skip
    cfg = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=size, patch_size=patch),
        text_config=_text_config(tok, "qwen2"), image_token_index=ids("<image>"), video_token_index=ids("<video>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=[[size, size]],
    )  # fmt: skip
    torch.manual_seed(seed)
    return _save_chat_model(folder, LlavaOnevisionForConditionalGeneration(cfg), proc, tok)


def save_tiny_cogvideox(folder, seed: int = 0, text_tokens: int = 77, text_dim: int = 32, layers: int = 4,
                        heads: int = 4) -> Path:
    """A CogVideoX text-to-video pipeline folder laid out as THUDM/CogVideoX-5b is (``model_index.json``,
    ``vae/``, ``transformer/``, ``scheduler/``), without the T5 text encoder and tokenizer: the brain
    feature takes their place.

    - ``vae``: diffusers AutoencoderKLCogVideoX, 4x temporal and 8x spatial compression, 16 latent channels
      (as CogVideoX-5B's: with 4, the tiny VAE learned the shapes' colours far more slowly);
    - ``transformer``: CogVideoXTransformer3DModel as CogVideoX-5B is built (3-D rotary position
      embeddings, patch 2, v-prediction), ``layers`` layers of ``heads`` heads x 16, text embeddings ``text_tokens`` x
      ``text_dim`` (5B: 226 x 4096); sample size 8 x 12 latents = 64 x 96 pixels, the demo's clips;
    - ``scheduler``: CogVideoXDPMScheduler with CogVideoX-5B's settings (scaled-linear betas rescaled to
      zero terminal SNR, v-prediction, trailing timesteps).
    """
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDPMScheduler,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 16, 16), latent_channels=16,
        layers_per_block=1, norm_num_groups=4, temporal_compression_ratio=4,
    )  # fmt: skip
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=heads, attention_head_dim=16, in_channels=16, out_channels=16, time_embed_dim=16 * heads,
        text_embed_dim=text_dim, num_layers=layers, sample_width=12, sample_height=8, sample_frames=33, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=text_tokens, use_rotary_positional_embeddings=True,
    )  # fmt: skip
    scheduler = CogVideoXDPMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, num_train_timesteps=1000,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True, snr_shift_scale=1.0,
        timestep_spacing="trailing", steps_offset=0,
    )  # fmt: skip
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer, scheduler=scheduler)
    pipe.save_pretrained(folder)
    return Path(folder)


def save_tiny_stable_diffusion(folder, seed: int = 0, text_dim: int = 32) -> Path:
    """A Stable Diffusion text-to-image pipeline folder laid out as runwayml/stable-diffusion-v1-5 is
    (``model_index.json``, ``vae/``, ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``; no safety
    checker), Mind-Animator's generator:

    - ``vae``: diffusers AutoencoderKL with SD's 8x spatial compression and 4 latent channels, its scaling factor
      measured as SD's was (1 / the latents' std);
    - ``unet``: UNet2DConditionModel with SD's block types (cross-attention down/up blocks around a
      cross-attention mid block), two levels of 32 and 64 channels, text width ``text_dim`` (SD: 768);
    - ``text_encoder``, ``tokenizer``: a CLIPTextModel of width ``text_dim`` and a byte-level CLIP tokenizer
      (``write_tiny_models`` puts the tiny CLIP's text tower in their place);
    - ``scheduler``: PNDMScheduler with SD v1-5's betas (scaled-linear 0.00085-0.012, epsilon prediction).
    """
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    folder = Path(folder)
    tok, text_encoder, vae, files = _tiny_sd_parts(folder, seed, text_dim)
    unet = UNet2DConditionModel(**_tiny_unet_config("2D", text_dim))
    scheduler = PNDMScheduler(skip_prk_steps=True, **_SD_BETAS)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder)  # fmt: skip
    for f in files:
        f.unlink(missing_ok=True)
    return folder


#: Stable Diffusion v1-5's noise schedule (scaled-linear betas 0.00085-0.012 over 1,000 steps), which the tiny SD's
#: and the tiny Zeroscope's schedulers share.
_SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "set_alpha_to_one": False,
             "steps_offset": 1, "num_train_timesteps": 1000}


def _tiny_unet_config(kind: str, text_dim: int) -> dict:
    """The tiny SD UNet's (``kind`` "2D") and the tiny Zeroscope UNet's ("3D") shared layout: SD's block types
    (cross-attention down/up blocks), two levels of 32 and 64 channels, text width ``text_dim``."""
    return {"sample_size": 8, "in_channels": 4, "out_channels": 4, "layers_per_block": 1, "block_out_channels": (32, 64),
            "down_block_types": (f"CrossAttnDownBlock{kind}", f"DownBlock{kind}"),
            "up_block_types": (f"UpBlock{kind}", f"CrossAttnUpBlock{kind}"), "cross_attention_dim": text_dim,
            "attention_head_dim": 8, "norm_num_groups": 8}  # fmt: skip


def _tiny_sd_parts(folder: Path, seed: int, text_dim: int):
    """Stable Diffusion's tokenizer (a byte-level CLIP BPE, its files written into ``folder``), text encoder and VAE
    (8x compression, 4 channels, its scaling factor measured), drawn from ``seed``; returns them and the files."""
    import torch
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = _byte_bpe(folder, end_of_word=True)
    tok = CLIPTokenizer(str(vocab), str(merges), model_max_length=77)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=text_dim, intermediate_size=2 * text_dim,
                                                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                                                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                                pad_token_id=tok.pad_token_id))  # fmt: skip
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 16, 16), latent_channels=4,
                        layers_per_block=1, norm_num_groups=4, sample_size=64)  # fmt: skip
    # SD's scaling factor (0.18215) is 1 / the std of its VAE's latents, measured on images (Rombach et al. 2022,
    # appendix G); measured the same way for this VAE, on smooth random images
    with torch.no_grad():
        images = torch.nn.functional.interpolate(torch.rand(16, 3, 8, 8) * 2 - 1, size=(64, 64), mode="bilinear")
        vae.register_to_config(scaling_factor=float(1.0 / vae.encode(images).latent_dist.mean.std()))
    return tok, text_encoder, vae, (vocab, merges)


def save_tiny_zeroscope(folder, seed: int = 0, text_dim: int = 32) -> Path:
    """A text-to-video pipeline folder laid out as cerspense/zeroscope_v2_576w is (``model_index.json`` naming
    ``TextToVideoSDPipeline``; ``vae/``, ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), Brain
    Netflix's generator, loaded as diffusers' ``VideoToVideoSDPipeline`` from the same folder:

    - ``unet``: ``UNet3DConditionModel`` (ModelScope's: spatial convolutions and attention, temporal convolutions
      and attention per block) with two levels of 32 and 64 channels, text width ``text_dim`` (Zeroscope: 1024);
    - ``vae``, ``text_encoder``, ``tokenizer``: Stable Diffusion's (an ``AutoencoderKL`` with 8x compression and
      4 channels, its scaling factor measured; a CLIPTextModel; ``write_tiny_models`` puts the tiny CLIP's text
      tower in place);
    - ``scheduler``: DDIMScheduler with SD's scaled-linear betas (Zeroscope ships DDIM).
    """
    import torch
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    folder = Path(folder)
    tok, text_encoder, vae, files = _tiny_sd_parts(folder, seed, text_dim)
    torch.manual_seed(seed)
    unet = UNet3DConditionModel(**_tiny_unet_config("3D", text_dim))
    scheduler = DDIMScheduler(clip_sample=False, **_SD_BETAS)
    TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                          scheduler=scheduler).save_pretrained(folder)  # fmt: skip
    for f in files:
        f.unlink(missing_ok=True)
    return folder


#: The tiny BLIP's whole words (the synthetic world's captions), beside single letters and digits.
_BLIP_WORDS = ("a", "an", "the", "on", "in", "of", "and", "with", "is", "moving", "background", "shape", "red", "green",
               "blue", "yellow", "purple", "orange", "white", "black", "grey", "dark", "light", "navy", "circle",
               "square", "triangle", "star", "cross", "left", "right", "up", "down", "scene", "film", "clip")  # fmt: skip


def save_tiny_blip(folder, image_size: int = 32, seed: int = 0) -> Path:
    """A BLIP captioner (``BlipForConditionalGeneration`` + ``BlipProcessor``, as Salesforce/blip-image-captioning-base
    is): a ViT of width 32 over 8-pixel patches, a BERT text decoder cross-attending to it, and BERT's WordPiece
    tokenizer with BLIP's specials (``[DEC]`` begins a caption, ``[SEP]`` ends it) over the synthetic world's words,
    letters and digits (``##`` pieces too), so any lower-case text encodes to tokens other than ``[UNK]``."""
    import string

    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + ".,'-")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars),
             *(w for w in _BLIP_WORDS if w not in chars), "[DEC]"]  # fmt: skip
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True, bos_token="[DEC]", model_max_length=40)
    ids = tok.convert_tokens_to_ids
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, encoder_hidden_size=32,
                         bos_token_id=ids("[DEC]"), sep_token_id=ids("[SEP]"), pad_token_id=ids("[PAD]"),
                         eos_token_id=ids("[SEP]")),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8, initializer_range=0.02),
    )  # fmt: skip
    # BLIP's vision config initialises with std 1e-10 (its weights are always loaded): a random one would embed
    # every image the same
    torch.manual_seed(seed)
    BlipForConditionalGeneration(cfg).save_pretrained(folder)
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}),
                         tokenizer=tok)  # fmt: skip
    proc.save_pretrained(folder)
    return folder


def _t5_byte_tokenizer():
    """A T5-style fast tokenizer (``<pad>`` 0, ``</s>`` 1 appended, ``<unk>`` 2) over the 256 byte symbols, no
    merges: every byte a token, so every caption encodes to its length plus one."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{s: i + 3 for i, s in enumerate(symbols)}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_tiny_wan(folder, seed: int = 0, text_dim: int = 32, layers: int = 4, heads: int = 4) -> Path:
    """A Wan text-to-video pipeline folder laid out as Wan-AI/Wan2.1-T2V-1.3B-Diffusers is
    (``model_index.json``, ``vae/``, ``transformer/``, ``scheduler/``, ``text_encoder/``, ``tokenizer/``):

    - ``text_encoder``, ``tokenizer``: a UMT5 encoder (UMT5-XXL's class, width ``text_dim``) and a byte-level
      T5-style tokenizer: what encodes the memory pool's captions into the decoder's text space (the
      fused brain embedding replaces it when decoding);

    - ``vae``: diffusers AutoencoderKLWan, 4x temporal and 8x spatial compression, 16 latent channels (as
      Wan2.1's), its latents' per-channel mean 0 and std 1 (the real one carries measured values);
    - ``transformer``: WanTransformer3DModel as Wan2.1 is built (patch 1 x 2 x 2, rotary positions, text
      by cross-attention, flow prediction), ``layers`` layers of ``heads`` heads x 16, text width
      ``text_dim`` (1.3B: 30 layers of 12 x 128, text 4096);
    - ``scheduler``: UniPCMultistepScheduler with flow sigmas and flow shift 3 (Wan2.1's at 480p).
    """
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tokenizer = _t5_byte_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=text_dim, d_kv=8, d_ff=2 * text_dim,
                                               num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                                               relative_attention_max_distance=32, pad_token_id=0, eos_token_id=1,
                                               decoder_start_token_id=0))  # fmt: skip
    vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * 16, latents_std=[1.0] * 16)  # fmt: skip
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=16,
                                        in_channels=16, out_channels=16, text_dim=text_dim, freq_dim=32,
                                        ffn_dim=32 * heads, num_layers=layers, rope_max_seq_len=1024)  # fmt: skip
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                                        flow_shift=3.0)  # fmt: skip
    WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                scheduler=scheduler).save_pretrained(folder)  # fmt: skip
    return Path(folder)


#: F5-TTS's character vocabulary of the tiny model: what the synthetic captions are written with.
_F5_CHARS = " abcdefghijklmnopqrstuvwxyz,.'"


def save_tiny_f5tts(folder, seed: int = 0, dim: int = 64, depth: int = 4, heads: int = 2) -> Path:
    """An F5-TTS model folder as SWivid/F5-TTS's ``F5TTS_Base/`` is laid out (``model_0.safetensors`` of EMA
    weights + ``vocab.txt``), with its config beside it (``model.yaml``, the package's F5TTS_Base.yaml
    layout: DiT with ConvNeXt text blocks, Vocos mel at 24 kHz, 100 bands, hop 256) at a tiny width."""
    import torch

    from ..models import f5tts

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = list(_F5_CHARS)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = {"model": {"name": "F5TTS_tiny", "tokenizer": "custom", "tokenizer_path": "vocab.txt", "backbone": "DiT",
                     "text_num_embeds": len(vocab),
                     "arch": {"dim": dim, "depth": depth, "heads": heads, "dim_head": dim // heads, "ff_mult": 2,
                              "text_dim": 32, "text_mask_padding": True, "text_embedding_average_upsampling": True, "conv_layers": 2, "pe_attn_head": None,
                              "attn_backend": "torch", "attn_mask_enabled": False, "checkpoint_activations": False},
                     "mel_spec": {"target_sample_rate": 24000, "n_mel_channels": 100, "hop_length": 256,
                                  "win_length": 1024, "n_fft": 1024, "mel_spec_type": "vocos"}}}  # fmt: skip
    torch.manual_seed(seed)
    cfm = f5tts.build_cfm(cfg)
    cfm.config = cfg
    return f5tts.save_f5tts(cfm, folder)


def save_tiny_vocos(folder, seed: int = 0) -> Path:
    """A mel Vocos (charactr/vocos-mel-24khz's config.yaml + pytorch_model.bin layout and mel) at a tiny width."""
    import torch
    from vocos import Vocos

    from ..models.vocoder import save_vocos, vocos_config

    cfg = vocos_config(dim=64, intermediate_dim=128, num_layers=2)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML; rewritten by save_vocos
    torch.manual_seed(seed)
    return save_vocos(Vocos.from_hparams(str(folder / "config.yaml")), cfg, folder)


def save_tiny_encodec(folder, seed: int = 0) -> Path:
    """An EnCodec model + feature extractor (transformers; facebook/encodec_24khz's layout) at a tiny width:
    the audio benchmark's FAD embedder."""
    import torch
    from transformers import EncodecConfig, EncodecFeatureExtractor, EncodecModel

    cfg = EncodecConfig(target_bandwidths=[1.5, 3.0], sampling_rate=24000, audio_channels=1, hidden_size=32,
                        num_filters=4, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 2], codebook_size=64,
                        codebook_dim=32, num_lstm_layers=1)  # fmt: skip
    torch.manual_seed(seed)
    model = EncodecModel(cfg)
    model.save_pretrained(folder)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000).save_pretrained(folder)
    return Path(folder)


def _labels(labels) -> dict:
    names = [f"class_{i}" for i in range(labels)] if isinstance(labels, int) else list(labels)
    return dict(num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})


def save_tiny_videomae(folder, image_size: int = 32, frames: int = 16, labels=None, seed: int = 0) -> Path:
    """A VideoMAE video classifier (VideoMAEForVideoClassification, as MCG-NJU/videomae-base-finetuned-kinetics
    is with Kinetics-400's classes) + its image processor (16 frames); ``labels``: class names or a count
    (default: the synthetic world's 100 video classes, :data:`cinebrain.synth.pretrain.VIDEO_LABELS`)."""
    import torch
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessor

    from .pretrain import VIDEO_LABELS

    torch.manual_seed(seed)
    cfg = VideoMAEConfig(image_size=image_size, patch_size=8, num_frames=frames, tubelet_size=2, hidden_size=32,
                         num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         **_labels(VIDEO_LABELS if labels is None else labels))  # fmt: skip
    VideoMAEForVideoClassification(cfg).save_pretrained(folder)
    VideoMAEImageProcessor(size={"shortest_edge": image_size},
                           crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)  # fmt: skip
    return Path(folder)


def save_tiny_vit(folder, image_size: int = 32, labels=None, seed: int = 0) -> Path:
    """An image classifier (ViTForImageClassification, as google/vit-base-patch16-224 is with ImageNet's
    classes) + image processor; ``labels``: class names or a count (default: the synthetic world's 125
    image classes, :data:`cinebrain.synth.pretrain.IMAGE_LABELS`)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from .pretrain import IMAGE_LABELS

    torch.manual_seed(seed)
    cfg = ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, **_labels(IMAGE_LABELS if labels is None else labels))  # fmt: skip
    ViTForImageClassification(cfg).save_pretrained(folder)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return Path(folder)


def save_tiny_dino(folder, image_size: int = 32, seed: int = 0) -> Path:
    """A DINO ViT backbone (ViTModel, as facebook/dino-vitb16 is; its CLS token is the embedding)."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(seed)
    cfg = ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64)  # fmt: skip
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return Path(folder)


def pretrain_tiny_clip(folder, steps: int = 400, seconds: float = 900.0, fps: float = 2.0, batch_size: int = 64,
                       lr: float = 1e-3, seed: int = 1234, progress: bool = False) -> dict:
    """Train the CLIP in ``folder`` (in place) with its contrastive loss on synthetic frames and captions.

    The corpus is ``seconds`` of film from :mod:`cinebrain.synth.stimuli` scene scripts drawn with ``seed``
    (not the dataset's: the synthetic dataset uses its own seeds, and a random script shares no clip with
    it), sampled at ``fps`` frames per second, each frame paired with its scene's caption (colour, shape,
    direction, background).  Returns the loss before and after training and the corpus size.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoProcessor, CLIPModel

    from .stimuli import make_scenes, render_frames

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    scenes = make_scenes(seconds, rng)
    frames, captions = [], []
    for frame, feats in render_frames(scenes, seconds, fps, 64, 96):
        frames.append(frame)
        captions.append(scenes[feats["scene"]].caption)
    processor = AutoProcessor.from_pretrained(folder)
    model = CLIPModel.from_pretrained(folder)
    pixels = processor(images=frames, return_tensors="pt")["pixel_values"]
    text = processor(text=captions, return_tensors="pt", padding=True)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc="pretrain tiny CLIP", disable=not progress):
        # Frames of one scene share a caption: draw batches of distinct scenes so no pair is a false negative.
        idx = torch.randperm(len(frames), generator=gen)[: batch_size * 2]
        _, first = np.unique([captions[i] for i in idx.tolist()], return_index=True)
        idx = idx[np.sort(first)][:batch_size]
        out = model(input_ids=text["input_ids"][idx], attention_mask=text["attention_mask"][idx],
                    pixel_values=pixels[idx], return_loss=True)  # fmt: skip
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
    model.eval()
    model.save_pretrained(folder)
    k = max(1, min(20, steps // 10))
    info = {"steps": steps, "frames": len(frames), "scenes": len(scenes), "seed": seed,
            "loss_first": float(np.mean(losses[:k])) if losses else None,
            "loss_last": float(np.mean(losses[-k:])) if losses else None}  # fmt: skip
    (folder / "pretraining.json").write_text(json.dumps(info, indent=1))
    return info


def _set_max_length(folder: Path, n: int) -> None:
    """Give a saved tokenizer CLIP's ``model_max_length`` (the tiny CLIP's has none: a pipeline's prompt
    encoding pads and truncates to it)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    tok.model_max_length = n
    tok.save_pretrained(folder)


def write_tiny_models(out, models=TINY_MODELS, clip_pretrain_steps: int = 0, progress: bool = False) -> dict:
    """Rule ``models_tiny``: every tiny model in ``out/<name>``; returns {name: folder}.

    ``clip_pretrain_steps`` > 0 trains the tiny CLIP on synthetic scenes (:func:`pretrain_tiny_clip`). The
    CogVideoX pipeline gets the CLIP's text encoder (:func:`cinebrain.synth.pretrain.attach_text_encoder`),
    so that it is a text-to-video pipeline; the synthetic world's VAE, transformer and judges are trained
    from these by the ``models_world_*`` rules (:mod:`cinebrain.synth.pretrain`)."""
    from .pretrain import attach_text_encoder

    writers = {"clip": save_tiny_clip, "siglip": save_tiny_siglip, "whisper": save_tiny_whisper,
               "qwen2_5_vl": save_tiny_qwen2_5_vl, "llava_video": save_tiny_llava_video,
               "cogvideox": save_tiny_cogvideox, "videomae": save_tiny_videomae, "vit": save_tiny_vit,
               "dino": save_tiny_dino, "xclip": save_tiny_xclip, "wan": save_tiny_wan,
               "stable_diffusion": save_tiny_stable_diffusion, "zeroscope": save_tiny_zeroscope,
               "blip": save_tiny_blip, "f5tts": save_tiny_f5tts, "vocos": save_tiny_vocos,
               "encodec": save_tiny_encodec}  # fmt: skip
    out = Path(out)
    done = {}
    for name in models:
        done[name] = str(writers[name](out / name))
        if name == "clip" and clip_pretrain_steps > 0:
            pretrain_tiny_clip(out / name, steps=clip_pretrain_steps, progress=progress)
    if "cogvideox" in done and "clip" in done:
        attach_text_encoder(out / "cogvideox", out / "clip")
    if "stable_diffusion" in done and "clip" in done:  # the caption space Mind-Animator's semantic decoder targets
        attach_text_encoder(out / "stable_diffusion", out / "clip")
    if "zeroscope" in done and "clip" in done:  # Brain Netflix's decoded captions condition it
        attach_text_encoder(out / "zeroscope", out / "clip")
        _set_max_length(out / "zeroscope" / "tokenizer", 77)
    (out / "README.md").write_text(
        "Tiny randomly initialised models written by cinebrain (rule models_tiny) for the demo and tests.\n"
        "They have the real classes and file layout; their outputs carry no meaning, except the CLIP's when\n"
        "clip/pretraining.json exists: it was trained on synthetic scenes and their captions. The models_world_*\n"
        "rules train the CogVideoX VAE, transformer and the benchmark's judges from these (results/models/world).\n"
    )
    return done
