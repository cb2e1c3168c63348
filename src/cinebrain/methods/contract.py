"""The output contract every method meets, and that the generic stages read (README, "Adding a method").

Per method, variant and subject, in the spirit of BIDS derivatives (a pipeline folder, then ``sub-<label>``)::

    results/methods/<method>/<variant>/sub-<label>/
        config.json          how the model was built and trained (the method's own keys)
        metrics.json         retrieval on the test clips against chance, schema METRICS_SCHEMA
        metrics.csv          the training curve: one row per step, columns step, loss, lr, ...
        <weights>            the method's trained weights (safetensors / diffusers / peft formats)
        recon/               (variants with a generator) a reconstruction of every test clip:
            <clip>.mp4           (and <clip>.wav for audio)
            no_brain.mp4         the no-brain control: the decode of the mean training brain feature
            reconstructions.parquet   clip, episode, has_cut, video, ground_truth, no_brain
    results/methods/<method>/          method-level summaries and figures (the method's own)
    results/benchmark/<method>/<variant>/sub-<label>/metrics.parquet   scores of every clip (generic)

A reconstruction must depend on its clip only through the clip's brain input (e.g. every clip sampled
from the same seeded noise): the benchmark's shuffled-brain control is then the reconstruction of another
clip (:func:`cinebrain.benchmark.score.condition_videos`).

:func:`check_metrics` validates a ``metrics.json``; :func:`write_metrics` validates and writes one.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = "results/methods"

#: metrics.json: retrieval of the brain embedding against the video embedding among n_candidates test clips.
METRICS_SCHEMA = {
    "type": "object",
    "required": ["method", "variant", "subject", "train_clips", "test_clips", "n_candidates", "repeats", "scores",
                 "chance"],
    "properties": {
        "method": {"type": "string"}, "variant": {"type": "string"}, "subject": {"type": "string"},
        "train_clips": {"type": "integer", "minimum": 1}, "test_clips": {"type": "integer", "minimum": 1},
        "n_candidates": {"type": "integer", "minimum": 2}, "repeats": {"type": "integer", "minimum": 1},
        "steps": {"type": "integer"},
        "scores": {"$ref": "#/$defs/scores"}, "chance": {"$ref": "#/$defs/scores"},
    },
    "$defs": {"scores": {
        "type": "object", "required": ["brain_to_video_top1", "video_to_brain_top1", "two_way"],
        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
    }},
}  # fmt: skip


def model_dir(method: str, variant: str, subject: str, root: str = ROOT) -> str:
    return f"{root}/{method}/{variant}/sub-{subject}"


def recon_dir(method: str, variant: str, subject: str, root: str = ROOT) -> str:
    return f"{model_dir(method, variant, subject, root)}/recon"


def check_metrics(metrics: dict, where: str = "metrics.json") -> dict:
    """Raise ValueError naming ``where`` and the first problem if ``metrics`` breaks METRICS_SCHEMA."""
    import jsonschema

    try:
        jsonschema.validate(metrics, METRICS_SCHEMA)
    except jsonschema.ValidationError as e:
        key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
        raise ValueError(f"{where}: breaks the methods' metrics.json contract at '{key}': {e.message}; fix: write it "
                         "with cinebrain.methods.contract.write_metrics") from None  # fmt: skip
    return metrics


def write_metrics(metrics: dict, path) -> None:
    from ..atomic import atomic_files

    check_metrics(metrics, str(path))
    with atomic_files(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))


def read_metrics(path) -> dict:
    return check_metrics(json.loads(Path(path).read_text()), str(path))
