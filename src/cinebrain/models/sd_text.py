"""Stable Diffusion's text condition, shared by the methods built on it (Mind-Animator's semantic target and
empty-caption guidance, NeuroCine's phase 2a captions)."""

from __future__ import annotations


def load_text_encoder(base: str, device="cpu"):
    """(tokenizer, text encoder) of the SD pipeline folder or hub id ``base`` (``tokenizer/``, ``text_encoder/``)."""
    from transformers import AutoTokenizer, CLIPTextModel

    try:
        tok = AutoTokenizer.from_pretrained(base, subfolder="tokenizer")
        enc = CLIPTextModel.from_pretrained(base, subfolder="text_encoder").to(device).eval()
    except (OSError, ValueError) as e:
        raise ValueError(f"{base}: no SD tokenizer/ and text_encoder/ ({e}); fix: point the method's base at a Stable "
                         "Diffusion pipeline folder") from e  # fmt: skip
    return tok, enc


def text_conditions(tokenizer, text_encoder, captions: list[str], device="cpu", batch_size: int = 64):
    """The text condition (N, tokens, width) of ``captions``: the tokenizer's ids padded to the text encoder's
    length (SD's 77), its last hidden states."""
    import torch

    out = []
    with torch.no_grad():
        for b in range(0, len(captions), batch_size):
            ids = tokenizer(list(captions[b : b + batch_size]), padding="max_length", truncation=True,
                            max_length=text_encoder.config.max_position_embeddings, return_tensors="pt").input_ids  # fmt: skip
            out.append(text_encoder(ids.to(device))[0].float().cpu())
    return torch.cat(out)
