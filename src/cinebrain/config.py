"""Workflow configuration: validation against the JSON schema with messages that name the key.

Snakemake's own ``snakemake.utils.validate`` reports the first jsonschema error as-is; researchers
get a clearer message when it names the offending key as a dotted path (``dataset.tr``), the value and
what was expected, so we format jsonschema's errors ourselves (jsonschema does the validation).
"""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """The workflow configuration does not match its schema."""


def load_schema(path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _dotted(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def fill_defaults(config: dict, schema: dict) -> dict:
    """Add the schema's ``default`` of every missing key, recursively (in place; returns ``config``).

    jsonschema validates but does not fill defaults; a missing object with properties is created when
    the schema gives it a default, and then filled.
    """
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = _copy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(config[key], sub)
    return config


def _copy(value):
    import copy

    return copy.deepcopy(value)


def validate_config(config: dict, schema_path) -> None:
    """Raise :class:`ConfigError` listing every key of ``config`` that violates the schema.

    A valid ``config`` then gets the schema's defaults for the keys it leaves out (:func:`fill_defaults`).
    """
    import jsonschema

    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        fill_defaults(config, schema)
        return
    lines = [f"invalid configuration (checked against {Path(schema_path).name}):"]
    for e in errors:
        if e.validator == "additionalProperties":
            allowed = sorted(e.schema.get("properties", {}))
            extra = sorted(set(e.instance) - set(allowed))
            for k in extra:
                key = _dotted([*e.absolute_path, k])
                lines.append(f"  - unknown key '{key}'; allowed here: {', '.join(allowed)}")
            continue
        key = _dotted(e.absolute_path)
        lines.append(f"  - key '{key}': {e.message}")
    raise ConfigError("\n".join(lines))
