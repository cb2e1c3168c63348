"""Model references of the configuration: local folders or Hugging Face hub ids, checked before any job.

Every model the workflow loads is a configuration value that is either a folder (``from_pretrained`` reads
it) or a hub id (``owner/name``, downloaded into the Hugging Face cache).  The model keys are found in the
configuration's schema: a key whose default is a hub id, or whose description says it takes one.

Two checks follow (run by the Snakefile, :func:`check_model_references`):

- a value that cannot be a hub id (an absolute path, ``./x``, ``a/b/c``) must exist, unless the workflow
  writes it (under ``results/``); so must a value shaped like a hub id whose first part is a local folder
  (``models/clip`` when ``models/`` exists): a typo there would otherwise be sent to the hub and fail late,
  as "repository not found";
- when every model is a local folder, the workflow runs offline (:func:`offline_environment`:
  ``HF_HUB_OFFLINE=1`` and friends), so that no job can reach the network by accident.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: ``owner/name`` as the hub spells repository ids
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: first parts of relative paths that are the workflow's folders, never hub owners
LOCAL_ROOTS = ("results", "resources", "logs", "config")
#: written by the workflow: a model folder there need not exist before the run (the demo's tiny models)
PRODUCED = ("results/",)
#: the variables that put Hugging Face's libraries (hub, transformers, diffusers, datasets) offline
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip


def is_hub_id(value: str) -> bool:
    """Shaped like ``owner/name`` and not one of the workflow's own folders."""
    return bool(HUB_ID.match(value)) and value.split("/", 1)[0] not in LOCAL_ROOTS


def _is_model_key(schema: dict) -> bool:
    default = schema.get("default")
    return (isinstance(default, str) and is_hub_id(default)) or "hub id" in str(schema.get("description", ""))


def model_references(config: dict, schema: dict, prefix: str = "") -> dict[str, str]:
    """{dotted key: value} of every model reference set in ``config`` (walked beside ``schema``)."""
    out: dict[str, str] = {}
    if isinstance(config, dict):
        props = schema.get("properties", {})
        for key, value in config.items():
            sub = props.get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is None:
                continue
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, str) and _is_model_key(sub):
                out[dotted] = value
            else:
                out.update(model_references(value, sub, dotted))
    elif isinstance(config, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(config):
            out.update(model_references(value, schema["items"], f"{prefix}[{i}]"))
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []):
        if isinstance(config, (dict, list)) and alt.get("type") in ("object", "array"):
            out.update(model_references(config, alt, prefix))
    return out


def _path(value: str, workdir) -> Path:
    return Path(value) if os.path.isabs(value) else Path(workdir) / value


def is_local(value: str, workdir=".") -> bool:
    """A folder (existing, or written by the workflow under ``results/``), not a hub id."""
    return _path(value, workdir).exists() or not is_hub_id(value) or value.startswith(PRODUCED)


def check_model_references(refs: dict[str, str], workdir=".") -> list[str]:
    """One message (key, value, problem, fix) per model reference that can be neither a folder nor a hub id."""
    problems = []
    for key, value in refs.items():
        if _path(value, workdir).exists() or value.startswith(PRODUCED):
            continue
        if not is_hub_id(value):
            problems.append(f"{key}: '{value}' is no folder (it does not exist) and cannot be a hub id (owner/name); "
                            "fix: correct the path, or give the model's hub id")  # fmt: skip
        elif (Path(workdir) / value.split("/", 1)[0]).is_dir():
            problems.append(f"{key}: '{value}' does not exist, although its folder '{value.split('/', 1)[0]}/' does: "
                            "it would be sent to the hub as a model id; fix: correct the path (or use ./ for a "
                            "local folder)")  # fmt: skip
    return problems


def offline_environment(refs: dict[str, str], workdir=".") -> dict[str, str]:
    """The variables that put the Hugging Face libraries offline when every model is local, else {}."""
    return dict(OFFLINE) if all(is_local(v, workdir) for v in refs.values()) else {}
