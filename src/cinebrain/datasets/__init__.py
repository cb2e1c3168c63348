"""Dataset adapters: every layout the workflow reads becomes the same run inventory (DESIGN.md item 1).

An adapter reads one layout of raw data and writes the inventory's columns (:data:`cinebrain.bids.COLUMNS`):
subject, run, ``repeat`` (the how-manieth viewing of the episode), the stimulus and its episode, TR and
volume count, the film's onset in the run, the split, and the ``modalities`` the run has (``fmri+eeg`` or
``fmri``).  Everything downstream reads only the inventory.

``bids``
    BIDS with simultaneous EEG (CineBrain; :mod:`cinebrain.bids`); with ``dataset.modalities: [fmri]`` the
    EEG is not read, so a BIDS fMRI-only film dataset works too.
``cc2017``
    Wen et al. (2018)'s release: 91k CIFTI per segment and repeat, the segment films, no EEG
    (:mod:`cinebrain.datasets.cc2017`).
``betas``
    Event-related datasets released as one GLM beta vector per video (BOLD Moments, Human Actions;
    :mod:`cinebrain.datasets.betas`): a row of the clip dataset is a beta vector, not a window of volumes.
"""

from __future__ import annotations

#: adapter -> the modalities its runs can have
ADAPTERS = {"bids": ("fmri", "eeg"), "cc2017": ("fmri",), "betas": ("fmri",)}


def build_inventory(adapter: str, root, options, cc2017=None, betas=None):
    """The inventory of the dataset at ``root`` read by ``adapter`` (``options``:
    :class:`cinebrain.bids.InventoryOptions`; ``cc2017``, ``betas``: the adapters' settings, mappings or their
    settings objects)."""
    if adapter == "bids":
        from ..bids import build_inventory as bids_inventory

        return bids_inventory(root, options)
    if adapter == "cc2017":
        from . import cc2017 as cc

        return cc.build_inventory(root, options, _cc2017(cc2017))
    if adapter == "betas":
        from . import betas as bt

        return bt.build_inventory(root, options, _section(bt.BetasSettings, betas, "dataset.betas"))
    raise ValueError(f"dataset.adapter '{adapter}' does not exist; fix: one of {', '.join(ADAPTERS)}")


def matching_files(root, regex):
    """(path relative to ``root`` with "/" separators, match) of every file under ``root`` (hidden folders aside)
    whose relative path ``regex`` matches, in sorted order: how the adapters find their files."""
    import os

    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            m = regex.match(rel)
            if m:
                yield rel, m


def dataset_problems(config: dict) -> list[str]:
    """The configuration's errors against its adapter (checked at start-up, before any job)."""
    ds = config["dataset"]
    adapter, modalities = ds.get("adapter", "bids"), list(ds.get("modalities", ("fmri", "eeg")))
    errors = []
    if "fmri" not in modalities:
        errors.append("dataset.modalities must include fmri (every stage starts from the fMRI); fix: [fmri] or "
                      "[fmri, eeg]")  # fmt: skip
    extra = [m for m in modalities if m not in ADAPTERS.get(adapter, ())]
    if extra:
        errors.append(f"dataset.modalities lists {', '.join(extra)}, which the {adapter} adapter's data do not have; "
                      f"fix: dataset.modalities: [{', '.join(m for m in modalities if m not in extra)}]")  # fmt: skip
    if adapter in ("cc2017", "betas"):
        if config.get("fmriprep", {}).get("runner", "precomputed") != "precomputed":
            errors.append(f"dataset.adapter {adapter} ships its data preprocessed (no raw BOLD to run fMRIPrep on); "
                          "fix: fmriprep.runner: precomputed")  # fmt: skip
        if config.get("fmri", {}).get("confounds", {}).get("enabled"):
            errors.append(f"fmri.confounds.enabled: the {adapter} dataset has no fMRIPrep confounds tables; fix: "
                          "fmri.confounds.enabled: false")  # fmt: skip
    if adapter == "betas" and config.get("fmri", {}).get("activation", {}).get("enabled"):
        errors.append("fmri.activation correlates repeated time series; per-clip betas have none; fix: "
                      "fmri.activation.enabled: false")  # fmt: skip
    return errors


def dataset_files(adapter: str, root, derivatives=None, cc2017=None, betas=None) -> list[str]:
    """Every raw file the inventory reads (the inputs of rule bids_inventory)."""
    if adapter == "cc2017":
        from . import cc2017 as cc

        return cc.dataset_files(root, _cc2017(cc2017))
    if adapter == "betas":
        from . import betas as bt

        return bt.dataset_files(root, _section(bt.BetasSettings, betas, "dataset.betas"))
    from ..bids import dataset_files as bids_files

    return bids_files(root, derivatives)


def _section(cls, settings, where: str):
    from ..settings import build

    if settings is None or isinstance(settings, cls):
        return settings
    return build(cls, dict(settings), where)


def _cc2017(settings):
    from .cc2017 import Cc2017Settings

    return _section(Cc2017Settings, settings, "dataset.cc2017")
