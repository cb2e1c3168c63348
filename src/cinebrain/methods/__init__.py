"""Methods as plug-ins: one subpackage per method, discovered here, read by the generic stages.

A method ``<name>`` is

- this package's subpackage ``cinebrain.methods.<name>``, whose ``Settings`` class (a typed section, see
  :mod:`cinebrain.settings`) is the configuration section ``methods.<name>`` and says what the method
  produces: ``model_variants()`` (variants with a trained model), ``recon_variants()`` (variants with
  reconstructions), ``launch_profiles()`` and ``check(config)`` (its cross-key checks), may say which brain
  modalities its variants read (``modalities()``; without it: the fMRI only), and may have a
  ``subjects`` key (:func:`subjects_setting`: the subjects it runs for; absent or null: all);
- the rule file ``workflow/rules/<name>.smk``, included by the Snakefile when the method is enabled;
- its tests.

Every method writes the output contract of :mod:`cinebrain.methods.contract`; the benchmark, the
summaries, the report and ``rule all`` find every enabled method's outputs through :func:`enabled` and
the contract's paths, with no method-specific code.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..settings import build, schema_of


def available() -> list[str]:
    """The methods this installation has (the subpackages of ``cinebrain.methods``)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def settings_class(name: str):
    if name not in available():
        raise ValueError(f"method '{name}' does not exist; fix: one of {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").Settings


def schema() -> dict:
    """The JSON Schema of the ``methods`` section: one typed section per available method."""
    # no default: a method whose section is absent is off (a present section is enabled unless it says not)
    props = {name: {k: v for k, v in schema_of(settings_class(name)).items() if k != "default"} for name in available()}
    return {"type": "object", "additionalProperties": False, "default": {}, "properties": props,
            "description": "Brain-decoding methods (plug-ins of cinebrain.methods), each enabled or not."}  # fmt: skip


def subjects_setting():
    """The ``subjects`` key of a method's section (CineSync's, CineNeuron's): the subjects it runs for."""
    from ..settings import setting

    return setting(None, "the subjects this method is trained, reconstructed and scored for, e.g. ['01'] (null: every "
                   "subject with a training and a test split)", minItems=1, items={"type": "string"})  # fmt: skip


def method_subjects(name: str, settings, candidates: list[str]) -> list[str]:
    """The subjects of ``candidates`` (those with both splits, in their order) that method ``name`` runs for:
    all of them, or those its ``subjects`` setting lists; a listed subject without both splits is an error."""
    wanted = getattr(settings, "subjects", None)
    if wanted is None:
        return list(candidates)
    missing = [str(s) for s in wanted if s not in candidates]
    if missing:
        raise ValueError(f"methods.{name}.subjects lists {', '.join(missing)}, which the dataset lacks or which has no "
                         f"training and test split (subjects with both: {', '.join(candidates) or 'none'}); fix: list "
                         "some of those, quoted as strings ('01'), or set it to null")  # fmt: skip
    return [s for s in candidates if s in wanted]


def check_variants(name: str, variants, allowed) -> None:
    """Raise ValueError naming ``methods.<name>.variants`` when it lists a variant the method does not have."""
    unknown = [v for v in variants if v not in allowed]
    if unknown:
        raise ValueError(f"methods.{name}.variants: {', '.join(unknown)} not among {', '.join(allowed)}")


def roi_set_problems(name: str, roi_sets, config: dict) -> list[str]:
    """The config-check error when ``methods.<name>.roi_sets`` names sets that ``fmri.roi_sets`` does not extract."""
    extracted = list(config.get("fmri", {}).get("roi_sets", []))
    if config.get("fmri", {}).get("activation", {}).get("enabled"):
        extracted.append("activated")  # each subject's stimulus-activated columns (cinebrain.fmri.activation)
    missing = [r for r in roi_sets or () if r not in extracted]
    if not missing:
        return []
    return [f"methods.{name}.roi_sets names {', '.join(missing)}, which fmri.roi_sets ({', '.join(extracted)}) does "
            "not extract; fix: add it to fmri.roi_sets"]  # fmt: skip


def modality_problems(name: str, settings, available) -> list[str]:
    """The config-check errors of a method whose variants read a modality the dataset lacks (a method's
    ``modalities()``: {variant: modalities}; a method without it reads the fMRI only)."""
    needs = settings.modalities() if hasattr(settings, "modalities") else {name: ("fmri",)}
    lacking = {v: [m for m in mods if m not in available] for v, mods in needs.items()}
    lacking = {v: m for v, m in lacking.items() if m}
    if not lacking:
        return []
    keep = [v for v in needs if v not in lacking]
    what = "; ".join(f"{v} reads {', '.join(needs[v])}" for v in lacking)
    missing = sorted({m for ms in lacking.values() for m in ms})
    fix = (f"set methods.{name}.variants: [{', '.join(keep)}] (and its decoder's variants among them)" if keep
           else f"set methods.{name}.enabled: false")  # fmt: skip
    return [f"methods.{name}: {what}, but the dataset has no {', '.join(missing)} (dataset.modalities: "
            f"{', '.join(available)}); fix: {fix}"]


def enabled(config: dict) -> dict:
    """{name: Settings} of every method whose section in ``config['methods']`` is enabled.

    A method needs its section to run: a method absent from ``methods`` is off."""
    sections = config.get("methods") or {}
    out = {}
    for name in available():
        if name in sections:
            s = build(settings_class(name), sections[name], f"methods.{name}")
            if s.enabled:
                out[name] = s
    return out
