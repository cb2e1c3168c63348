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


def full_schema(schema_path) -> dict:
    """The workflow's schema: the file's sections plus ``methods``, generated from every method's typed
    settings (:mod:`cinebrain.methods`, :mod:`cinebrain.settings`), so that its keys, defaults and allowed
    values are written once, in the library."""
    from .methods import schema as methods_schema

    schema = load_schema(schema_path)
    schema.setdefault("properties", {})["methods"] = methods_schema()
    return schema


def validate_config(config: dict, schema_path) -> None:
    """Raise :class:`ConfigError` listing every key of ``config`` that violates the schema.

    A valid ``config`` then gets the schema's defaults for the keys it leaves out (:func:`fill_defaults`).
    """
    import jsonschema

    schema = full_schema(schema_path)
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


def check_config(config: dict, launch_dir) -> None:
    """The checks across keys that a schema cannot express, run once by the Snakefile before any job:
    raise one :class:`ConfigError` listing every problem, each with its fix.

    - a clip is a whole number of TRs, and its geometry is one the stages can cut (``stimuli``);
    - with ``synth.enabled`` the dataset is read where the synthetic one is written;
    - every enabled method's launch profiles exist (``launch_dir``/<name>.yaml, or a path) and its own
      cross-key checks pass (``Settings.check``: ROI sets extracted, decoder variants trained, VAE of the
      base model, ...);
    - the benchmark's metric selection names metrics that exist.
    """
    import os

    from .benchmark.score import metric_names
    from .launch import load_profile
    from .methods import enabled
    from .stimuli import ClipSettings, check_timing

    errors = []

    def attempt(fn, *args):
        try:
            fn(*args)
        except (ValueError, OSError) as e:
            errors.append(str(e).removeprefix("config: "))

    attempt(check_timing, config["stimuli"]["clip_seconds"], config["dataset"]["tr"])
    attempt(lambda: ClipSettings.from_config(config["stimuli"]).check())
    synth, bids_root = config.get("synth", {}), config["dataset"]["bids_root"]
    if synth.get("enabled"):
        expected = os.path.join(synth.get("out", "results/synth"), "bids")
        if os.path.normpath(bids_root) != os.path.normpath(expected):
            errors.append(f"synth.enabled is true, so dataset.bids_root must be '{expected}' (inside synth.out), "
                          f"not '{bids_root}'; fix one of the two keys")  # fmt: skip
    for settings in enabled(config).values():
        for profile in dict.fromkeys(settings.launch_profiles()):
            attempt(load_profile, profile, launch_dir)
        errors += settings.check(config)
    attempt(metric_names, config.get("benchmark", {}))
    if errors:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors))
