"""Brain Netflix's caption side (seed 004, section 4): the BLIP embedding b of every clip, regressed from the fMRI
and decoded to the caption that conditions the video generator.

b is what BLIP's text decoder cross-attends to: the output tokens of its vision encoder for the clip's middle
frame (``BlipForConditionalGeneration.vision_model``; (577, 768) for blip-image-captioning-base at 384 pixels —
the paper's (226, 768) matches no BLIP input size we know of, so we keep the model's own). :func:`decode_captions`
is BLIP's own ``generate`` from that point on — the text decoder started from ``[DEC]``, ended at ``[SEP]`` —
with the paper's repetition penalty 6 and length 4-20, so that a regressed b decodes as an image's would.
"""

from __future__ import annotations

import json

import numpy as np
import torch

BLIP_KEY = "blip"


def load_blip(path: str, device="cpu"):
    """(BlipForConditionalGeneration, BlipProcessor) of a folder or hub id; an error names a folder that is not one."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    try:
        model = BlipForConditionalGeneration.from_pretrained(path).to(device).eval()
        return model, BlipProcessor.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a BLIP captioner ({e}); fix: point methods.brainflix.blip at a "
                         "BlipForConditionalGeneration folder (e.g. Salesforce/blip-image-captioning-base)") from e  # fmt: skip


def image_embeddings(model, processor, frames: np.ndarray, device="cpu", batch_size: int = 16) -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> BLIP's vision tokens (N, T, W)."""
    out = []
    with torch.no_grad():
        for b in range(0, len(frames), batch_size):
            px = processor(images=list(frames[b : b + batch_size]), return_tensors="pt")["pixel_values"]
            out.append(model.vision_model(pixel_values=px.to(device, model.dtype))[0].float().cpu())
    return torch.cat(out)


def encode_blip(*, split_dir, blip: str, out, device: str = "cpu", progress: bool = False) -> dict:
    """The BLIP embedding of every clip of a clip-dataset split (its middle frame) into ``out`` (safetensors)."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from ...atomic import atomic_files
    from ...data import ClipDataset
    from ...stimuli import read_video
    from ...train.distributed import torch_device

    dev = torch_device(device)
    ds = ClipDataset(split_dir, modalities=())
    model, processor = load_blip(blip, dev)
    middle = []
    for v in tqdm(ds.manifest["video"], desc="BLIP embeddings", disable=not progress):
        video = read_video(ds.resolve(v))
        middle.append(video[len(video) // 2])
    emb = image_embeddings(model, processor, np.stack(middle), dev)
    meta = {"clips": json.dumps(ds.manifest["clip"].astype(str).tolist()), "blip": str(blip), "frame": "middle"}
    with atomic_files(out) as tmp:
        save_file({BLIP_KEY: emb.contiguous()}, str(tmp), metadata=meta)
    return {"clips": len(ds), "shape": list(emb.shape[1:])}


def read_blip(path, clips) -> torch.Tensor:
    """The BLIP embeddings of ``path`` for ``clips`` (in that order); an error names a mismatch."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, emb = f.metadata(), f.get_tensor(BLIP_KEY)
    if json.loads(meta["clips"]) != list(map(str, clips)):
        raise ValueError(f"{path}: BLIP embeddings of other clips than the dataset's; fix: rerun rule brainflix_targets "
                         "for this split")  # fmt: skip
    return emb


def decode_captions(model, tokenizer, embeds, *, repetition_penalty: float = 6.0, min_length: int = 4,
                    max_length: int = 20, num_beams: int = 1) -> list[str]:  # fmt: skip
    """Captions of BLIP embeddings (B, T, W) by BLIP's text decoder (lengths in tokens, ``[DEC]`` included)."""
    tc = model.config.text_config
    embeds = torch.as_tensor(embeds).to(model.device, model.dtype)
    if embeds.ndim != 3 or embeds.shape[-1] != model.config.vision_config.hidden_size:
        raise ValueError(f"BLIP embeddings of shape {tuple(embeds.shape)}; this BLIP's text decoder attends to "
                         f"(tokens, {model.config.vision_config.hidden_size}); fix: regress the embeddings of the "
                         "configured methods.brainflix.blip")  # fmt: skip
    start = torch.full((len(embeds), 1), tc.bos_token_id, dtype=torch.long, device=model.device)
    with torch.no_grad():
        ids = model.text_decoder.generate(input_ids=start, encoder_hidden_states=embeds,
                                          encoder_attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long,
                                                                            device=model.device),
                                          eos_token_id=tc.sep_token_id, pad_token_id=tc.pad_token_id,
                                          repetition_penalty=repetition_penalty, min_length=min_length,
                                          max_length=max_length, num_beams=num_beams, do_sample=False)  # fmt: skip
    return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
