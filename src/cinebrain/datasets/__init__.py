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
"""

from __future__ import annotations

#: adapter -> the modalities its runs can have
ADAPTERS = {"bids": ("fmri", "eeg"), "cc2017": ("fmri",)}


def build_inventory(adapter: str, root, options, cc2017=None):
    """The inventory of the dataset at ``root`` read by ``adapter`` (``options``:
    :class:`cinebrain.bids.InventoryOptions`; ``cc2017``: the adapter's settings, a mapping or
    :class:`~cinebrain.datasets.cc2017.Cc2017Settings`)."""
    if adapter == "bids":
        from ..bids import build_inventory as bids_inventory

        return bids_inventory(root, options)
    if adapter == "cc2017":
        from . import cc2017 as cc

        return cc.build_inventory(root, options, _cc2017(cc2017))
    raise ValueError(f"dataset.adapter '{adapter}' does not exist; fix: one of {', '.join(ADAPTERS)}")


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
    if adapter == "cc2017":
        if config.get("fmriprep", {}).get("runner", "precomputed") != "precomputed":
            errors.append("dataset.adapter cc2017 ships its CIFTIs preprocessed (no raw BOLD to run fMRIPrep on); fix: "
                          "fmriprep.runner: precomputed")  # fmt: skip
        if config.get("fmri", {}).get("confounds", {}).get("enabled"):
            errors.append("fmri.confounds.enabled: the cc2017 release has no fMRIPrep confounds tables; fix: "
                          "fmri.confounds.enabled: false")  # fmt: skip
    return errors


def dataset_files(adapter: str, root, derivatives=None, cc2017=None) -> list[str]:
    """Every raw file the inventory reads (the inputs of rule bids_inventory)."""
    if adapter == "cc2017":
        from . import cc2017 as cc

        return cc.dataset_files(root, _cc2017(cc2017))
    from ..bids import dataset_files as bids_files

    return bids_files(root, derivatives)


def _cc2017(settings):
    from ..settings import build
    from .cc2017 import Cc2017Settings

    if settings is None or isinstance(settings, Cc2017Settings):
        return settings
    return build(Cc2017Settings, dict(settings), "dataset.cc2017")
