"""The audio configuration's encoders (rule ``cinesync_audio_encoder``).

CineSync's Multi-Modal Fusion Encoder (:mod:`cinebrain.methods.cinesync.encoder`), trained by CineSync's own
task (:func:`cinebrain.methods.cinesync.train.train_encoder`) with the audio configuration: the fMRI columns
of the auditory ROI set (CineSync*: auditory + visual), the contrastive loss against the transcripts'
text embeddings only (section 4.3: "computing contrastive loss exclusively on text modality to avoid
visual-audio misalignment noise"), and brain -> transcript retrieval against chance on the test clips
(metrics.json: ``retrieval_target: text``)."""

from __future__ import annotations

from .settings import VARIANTS


def train_encoder(*, variant: str, train_dir, test_dir, model: dict, train: dict, evaluation: dict, out_dir,
                  roi_sets, text_sources, device: str = "auto", progress: bool = True, fmri_augment=None) -> dict:  # fmt: skip
    """Train one audio variant (``cinesync``, ``cinesync_fmri``, ``cinesync_eeg``, ``cinesync_star``) on one
    subject; outputs and metrics as CineSync's encoder task writes them."""
    from ..cinesync.train import train_encoder as train_cinesync_encoder

    if variant not in VARIANTS:
        raise ValueError(f"audio encoder variant '{variant}' does not exist; fix: one of {sorted(VARIANTS)}")
    return train_cinesync_encoder(variant=VARIANTS[variant][0], train_dir=train_dir, test_dir=test_dir, model=model,
                                  train=train, evaluation=evaluation, out_dir=out_dir, device=device,
                                  progress=progress, roi_sets=roi_sets, fmri_augment=fmri_augment,
                                  targets=("text",), text_sources=list(text_sources), method="cinesync_audio",
                                  name=variant)  # fmt: skip
