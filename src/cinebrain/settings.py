"""Typed configuration sections: the one place where a section's keys, defaults and allowed values live.

A section is a frozen dataclass whose fields are made with :func:`setting` (a value: default, one-line
description, JSON-Schema constraints such as ``enum`` or ``minimum``) or :func:`section` (a nested
section).  From the class alone come

- :func:`build`: the section's object from a configuration mapping — missing keys take the defaults,
  nested mappings become nested sections, an unknown key is an error naming its dotted path;
- :func:`schema_of`: its JSON Schema (types, constraints, defaults, descriptions), which
  :mod:`cinebrain.config` validates the workflow's configuration with;
- :func:`defaults`: the plain mapping of every default (what the configuration holds after filling).

jsonschema cannot derive a schema from a dataclass, and pydantic (which could) would be a second
validation layer beside the jsonschema one Snakemake users know (``snakemake.utils.validate``); the
~150 lines here generate the schema instead, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, field, fields, is_dataclass


class SettingsError(ValueError):
    """A configuration section does not fit its settings class."""


def setting(default, doc: str = "", *, required: bool = False, **schema):
    """A configuration key: its ``default`` (lists are stored as tuples), description and JSON-Schema
    constraints (``enum``, ``minimum``, ``exclusiveMinimum``, ``maximum``, ``minItems``, ``items``,
    ``oneOf``, ...).  ``required``: the configuration must set it (the schema gives no default; ``default``
    only serves code that builds the object by hand)."""
    if isinstance(default, list):
        default = tuple(default)
    meta = {"doc": doc, "schema": schema, "required": required}
    if isinstance(default, (dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, doc: str = "", *, required: bool = False):
    """A nested section of settings class ``cls`` (its defaults when the key is left out, unless
    ``required``: then the configuration must have it)."""
    return field(default_factory=cls, metadata={"doc": doc, "section": cls, "required": required})


def sections(cls, default, doc: str = "", **schema):
    """A list of sections of settings class ``cls`` (e.g. caption sources), ``default`` a list of mappings."""
    items = tuple(build(cls, d) for d in default)
    return field(default=items, metadata={"doc": doc, "items": cls, "schema": schema, "required": False})


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


_JSON = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object"}


def _type_schema(tp) -> dict:
    """JSON Schema of a type annotation (int, float, str, bool, tuple[...], dict, X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _type_schema(args[0]) if len(args) == 1 else {}
        t = inner.get("type")
        if t is None:
            return {}
        return {**inner, "type": [*(t if isinstance(t, list) else [t]), "null"]}
    if tp is typing.Any:
        return {}
    if origin in (tuple, list) or tp in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        out = {"type": "array"}
        if args and args[0] in _JSON:
            out["items"] = {"type": _JSON[args[0]]}
        return out
    if origin is dict or tp is dict:
        return {"type": "object"}
    if tp is float:
        return {"type": "number"}
    return {"type": _JSON[tp]} if tp in _JSON else {}


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if is_dataclass(value):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def schema_of(cls) -> dict:
    """The JSON Schema of settings class ``cls``: an object whose keys are its fields, no others."""
    hints = _hints(cls)
    props, required = {}, []
    for f in fields(cls):
        if not f.metadata:
            continue  # not a configuration key (a value the code derives, e.g. a shape)
        if f.metadata.get("section") is not None:
            sub = schema_of(f.metadata["section"])
            if f.metadata.get("required"):
                required.append(f.name)
                sub.pop("default", None)
        else:
            sub = {**_type_schema(hints[f.name]), **f.metadata.get("schema", {})}
            if f.metadata.get("items") is not None:
                sub["items"] = {k: v for k, v in schema_of(f.metadata["items"]).items() if k != "default"}
            if "enum" in sub or "oneOf" in sub or "const" in sub:  # these say it all (and may mix types)
                sub.pop("type", None)
                if "oneOf" in sub:
                    sub.pop("items", None)
                if "enum" in sub:
                    sub["enum"] = list(sub["enum"])
            if f.metadata.get("required"):
                required.append(f.name)
            else:
                default = f.default if f.default is not MISSING else f.default_factory()
                sub["default"] = _jsonable(default)
        if f.metadata.get("doc"):
            sub["description"] = f.metadata["doc"]
        props[f.name] = sub
    out = {"type": "object", "additionalProperties": False}
    if required:
        out["required"] = required
    else:
        out["default"] = {}
    out["properties"] = props
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    out.update(getattr(cls, "__schema__", {}))  # conditions across keys (if/then), as JSON Schema
    return out


def defaults(cls) -> dict:
    """Every default of settings class ``cls`` as plain data (nested sections as mappings): what a
    configuration holds after filling, for a class without required keys."""
    return {f.name: _jsonable(getattr(cls(), f.name)) for f in fields(cls) if f.metadata}


def _convert(value, tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, args[0]) if len(args) == 1 else value
    if (origin in (tuple, list) or tp in (tuple, list)) and isinstance(value, list):
        return tuple(value)
    # numbers stay as written (an int where a float is allowed): what a task receives is what the user wrote,
    # and what it saves (a LoRA's alpha in the adapter's metadata, say) reads the same
    return value


def build(cls, config: dict | None = None, where: str = ""):
    """An instance of settings class ``cls`` from a configuration mapping (missing keys: defaults).

    ``where`` is the dotted key of the section (for messages). Values are not validated here beyond the
    keys: :func:`cinebrain.config.validate_config` checks them against :func:`schema_of` first."""
    config = dict(config or {})
    hints = _hints(cls)
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(config) - set(names))
    if unknown:
        keys = ", ".join(f"'{where + '.' if where else ''}{k}'" for k in unknown)
        raise SettingsError(f"unknown key {keys}; allowed here: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in config.items():
        f = names[name]
        sub, items = f.metadata.get("section"), f.metadata.get("items")
        key = f"{where}.{name}" if where else name
        if sub is not None:
            kwargs[name] = value if isinstance(value, sub) else build(sub, value, key)
        elif items is not None:
            kwargs[name] = tuple(v if isinstance(v, items) else build(items, v, f"{key}[{i}]") for i, v in enumerate(value))
        else:
            kwargs[name] = _convert(value, hints[name])
    return cls(**kwargs)


def as_dict(obj) -> dict:
    """A settings object as plain data (tuples as lists): what a task receives or a config.json holds."""
    return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
