"""peft LoRA helpers shared by the methods that fine-tune a pretrained generator (diffusers models)."""

from __future__ import annotations


def add_lora(model, *, rank: int, alpha: float, targets, dropout: float = 0.0, trainable: bool = True):
    """peft LoRA layers on the ``targets`` modules of a diffusers model (``model.add_adapter``); when
    ``trainable`` they train in float32 (optimiser state and updates in fp32 over a bf16 base)."""
    from peft import LoraConfig

    model.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, init_lora_weights=True,
                                 target_modules=list(targets)))  # fmt: skip
    for n, p in model.named_parameters():
        if "lora_" in n:
            p.requires_grad_(trainable)
            if trainable:
                p.data = p.data.float()
    return model


def lora_metadata(model, adapter: str = "default") -> dict:
    """The adapter's LoRA configuration (rank, alpha, targets) as saved beside the weights: without it
    ``load_lora_weights`` guesses alpha = rank and the outputs differ.  peft keeps ``target_modules`` as a
    set, whose order changes from process to process: sorted, so that the same training writes the same file."""
    cfg = model.peft_config[adapter].to_dict()
    if isinstance(cfg.get("target_modules"), (set, list, tuple)):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    return cfg
