"""Per-clip beta vectors as the clip dataset's fMRI (rule ``fmri_betas``; the betas adapter,
:mod:`cinebrain.datasets.betas`).

A subject's beta vectors (rows x 91,282 grayordinates) are reduced to the columns of the configured ROI sets
(``roi_columns.json``, as the time series are) and z-scored per column with the mean and SD of the subject's
*training* rows, so that the test clips' betas never shape the scaling.  The output is a (rows, V) float32
``.npy`` with a JSON sidecar; ``data_build`` takes row ``beta_row`` of it as clip's one-"volume" window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def normalise_betas(subject: str, *, inventory, values, columns, out, block: int = 256) -> dict:
    """Rule ``fmri_betas``: the subject's ROI columns of its beta vectors, z-scored over its training rows."""
    import sys

    import pandas as pd

    from ..atomic import atomic_files
    from .normalise import column_stats, zscore
    from .rois import read_columns_table

    inv = pd.read_parquet(inventory)
    rows = inv[inv["subject"] == subject]
    if rows.empty or (rows["beta_row"] < 0).any():
        raise ValueError(f"{inventory}: sub-{subject} has no per-clip beta rows; fix: rule fmri_betas is for "
                         "dataset.adapter betas")  # fmt: skip
    _, table = read_columns_table(columns)
    cols = table["grayordinate"].to_numpy()
    src = np.load(values, mmap_mode="r")
    data = np.concatenate([np.asarray(src[b : b + block][:, cols], np.float32) for b in range(0, src.shape[0], block)])
    train = rows.loc[rows["split"] == "train", "beta_row"].to_numpy()
    if not len(train):
        raise ValueError(f"{inventory}: sub-{subject} has no training row to scale the betas with; fix: check the "
                         "table's split column")  # fmt: skip
    z, constant = zscore(data, *column_stats([data[train]]))
    side = {"Source": str(values), "Rows": int(z.shape[0]), "Columns": int(z.shape[1]),
            "Normalisation": "z-score per column with the mean and SD of the subject's training rows",
            "TrainingRows": int(len(train)), "ConstantColumns": np.asarray(constant).tolist()}  # fmt: skip
    out = Path(out)
    with atomic_files(out, out.with_suffix(".json")) as (tmp_npy, tmp_json):
        np.save(tmp_npy, z.astype(np.float32))
        tmp_json.write_text(json.dumps(side))
    print(f"sub-{subject}: {z.shape[0]} beta rows x {z.shape[1]} columns, z-scored over {len(train)} training rows",
          file=sys.stderr)  # fmt: skip
    return side
