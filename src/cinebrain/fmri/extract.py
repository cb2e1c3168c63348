"""ROI time series of one run: read the columns, optional confound regression, run QC.

:class:`RoiExtractor` follows nilearn's maskers: parameters are stored in ``__init__`` and the work is
done in :meth:`RoiExtractor.transform` (there is nothing to fit: the atlas fixes the columns).

Confound regression is nilearn's: :func:`nilearn.interfaces.fmriprep.load_confounds` picks the
fMRIPrep columns of the configured strategy (it knows fMRIPrep's names and the CompCor metadata), and
:func:`nilearn.signal.clean` regresses them out (with optional detrending and Butterworth high-pass).
Volumes are never removed (clip windows count volumes from the run's first): non-steady-state volumes
and scrubbing masks are reported, not applied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_files
from .fmriprep import confounds_of
from .grayordinates import read_columns
from .rois import RoiSelection
from .settings import CONFOUND_STRATEGIES, ConfoundSettings

#: nilearn ``load_confounds`` strategies that keep every volume (``scrub`` would drop some).


class ConfoundsError(ValueError):
    """The confounds file lacks what the config asks for."""


def load_confound_regressors(dtseries, settings: ConfoundSettings) -> pd.DataFrame:
    """The (T, K) confound regressors of a run, as configured; a missing column is a :class:`ConfoundsError`."""
    from nilearn.interfaces.fmriprep import load_confounds
    from nilearn.interfaces.fmriprep.load_confounds_utils import MissingConfoundError

    dtseries = Path(dtseries)
    conf_path = confounds_of(dtseries)
    bad = [s for s in settings.strategy if s not in CONFOUND_STRATEGIES]
    if bad:
        raise ConfoundsError(f"fmri.confounds.strategy has {bad}; fix: use only {', '.join(CONFOUND_STRATEGIES)}")
    parts = []
    if settings.strategy:
        try:
            regressors, _ = load_confounds(
                str(dtseries), strategy=tuple(settings.strategy), motion=settings.motion, wm_csf=settings.wm_csf,
                global_signal=settings.global_signal, compcor=settings.compcor, n_compcor=settings.n_compcor,
                demean=True,
            )  # fmt: skip
        except MissingConfoundError as exc:
            missing = ", ".join([*exc.params, *(f"any '{k}' column" for k in exc.keywords)])
            raise ConfoundsError(
                f"{conf_path}: lacks {missing}, which fmri.confounds asks for (strategy {settings.strategy}, "
                f"motion '{settings.motion}', compcor '{settings.compcor}'); fix: choose a strategy that this "
                "fMRIPrep output has, or re-run fMRIPrep"
            ) from exc
        except (FileNotFoundError, ValueError) as exc:
            raise ConfoundsError(f"{conf_path}: cannot be read for confound regression ({exc}); fix: check that "
                                 "the confounds .tsv and .json sit next to the dtseries") from exc  # fmt: skip
        parts.append(regressors)
    if settings.columns:
        table = pd.read_csv(conf_path, sep="\t")
        missing = [c for c in settings.columns if c not in table.columns]
        if missing:
            raise ConfoundsError(f"{conf_path}: no column(s) {', '.join(missing)} asked for by fmri.confounds.columns; "
                                 f"fix: use column names of this file (e.g. {', '.join(table.columns[:6])})")  # fmt: skip
        extra = table[settings.columns]
        parts.append(extra.fillna(extra.mean()) - extra.mean())  # fMRIPrep leaves the first derivative NaN
    if not parts:
        return pd.DataFrame(index=range(0))
    out = pd.concat(parts, axis=1)
    return out.loc[:, ~out.columns.duplicated()]


@dataclass
class RoiExtractor:
    """Extract, and optionally clean, the ROI columns of one 91k run.

    Parameters
    ----------
    selection : RoiSelection
        The columns to read (:func:`cinebrain.fmri.rois.select`).
    confounds : ConfoundSettings
        Confound regression settings; ``enabled=False`` (the CineBrain config) reads the data as is.
    """

    selection: RoiSelection
    confounds: ConfoundSettings = field(default_factory=ConfoundSettings)

    def transform(self, dtseries, *, tr: float, n_volumes: int) -> tuple[np.ndarray, dict]:
        """(T, V) float32 ROI time series and a report of what was done (JSON-ready)."""
        raw = read_columns(dtseries, self.selection.indices, tr=tr, n_volumes=n_volumes)
        finite = np.isfinite(raw)
        nonfinite_cols = np.flatnonzero(~finite.all(0))
        if len(nonfinite_cols):
            raw[:, nonfinite_cols] = 0.0  # reported below; set to 0 so that cleaning and z-scoring stay finite
        qc = run_qc(raw, dtseries, tr)
        report = {
            "Source": str(dtseries),
            "RepetitionTime": tr,
            "NumberOfVolumes": int(raw.shape[0]),
            "NonFiniteColumns": nonfinite_cols.tolist(),
            "MedianTSNR": qc["median_tsnr"],
            "MeanFramewiseDisplacement": qc["mean_fd"],
            "ConfoundRegression": {"enabled": bool(self.confounds.enabled)},
        }
        data = raw
        if self.confounds.enabled:
            from nilearn.signal import clean

            regressors = load_confound_regressors(dtseries, self.confounds)
            data = clean(
                raw, confounds=regressors.to_numpy() if regressors.shape[1] else None, t_r=tr,
                detrend=self.confounds.detrend, high_pass=self.confounds.high_pass, standardize=None,
                filter="butterworth" if self.confounds.high_pass else False,
            ).astype(np.float32)  # fmt: skip
            # keep the raw mean (signal.clean removes it when detrending, not otherwise), so that
            # tSNR and percent signal stay meaningful downstream
            data += raw.mean(0, keepdims=True) - data.mean(0, keepdims=True)
            report["ConfoundRegression"] = {**asdict(self.confounds), "regressors": list(regressors.columns)}
        return data.astype(np.float32, copy=False), {**report, "_qc": qc}


def run_qc(raw: np.ndarray, dtseries, tr: float) -> dict:
    """Temporal SNR per column (mean / SD of the linearly detrended series) and the framewise displacement."""
    t = np.arange(raw.shape[0], dtype=np.float64)
    design = np.c_[np.ones_like(t), t - t.mean()]
    beta, *_ = np.linalg.lstsq(design, raw.astype(np.float64), rcond=None)
    resid_sd = (raw - design @ beta).std(0)
    mean = raw.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tsnr = np.where(resid_sd > 0, mean / resid_sd, 0.0).astype(np.float32)
    conf = confounds_of(dtseries)
    fd = np.full(raw.shape[0], np.nan, np.float32)
    if conf.exists():
        table = pd.read_csv(conf, sep="\t")
        if "framewise_displacement" in table:
            fd = table["framewise_displacement"].to_numpy(np.float32)
    return {
        "tsnr": tsnr,
        "fd": fd,
        "median_tsnr": float(np.median(tsnr)),
        "mean_fd": float(np.nanmean(fd)) if np.isfinite(fd).any() else None,
    }


def extract_run(manifest, run: int, columns, confounds: dict, outputs) -> None:
    """Rule ``fmri_extract``: read the run's dtseries named in the fMRIPrep manifest, write data, info, QC.

    ``outputs``: the paths ``data`` (.npy), ``info`` (.json) and ``qc`` (.npz: tsnr, fd).
    """
    import json
    import sys

    from .rois import read_columns_table

    doc = json.loads(Path(manifest).read_text())
    record = next((r for r in doc["runs"] if int(r["run"]) == int(run)), None)
    if record is None:
        raise ValueError(f"{manifest}: no run {run}; fix: re-run fmriprep_run for sub-{doc['subject']}")
    _, table = read_columns_table(columns)
    selection = RoiSelection(sets=[], indices=table["grayordinate"].to_numpy(), table=table)
    extractor = RoiExtractor(selection, ConfoundSettings.from_config(confounds))
    data, report = extractor.transform(record["dtseries"], tr=record["TR"], n_volumes=record["n_volumes"])
    qc = report.pop("_qc")
    out_data, out_info, out_qc = Path(outputs["data"]), Path(outputs["info"]), Path(outputs["qc"])
    # temporary names, then rename: a failed job leaves nothing that looks finished
    with atomic_files(out_data, out_qc, out_info) as (tmp_data, tmp_qc, tmp_info):
        np.save(tmp_data, data)
        np.savez(tmp_qc, tsnr=qc["tsnr"], fd=qc["fd"])
        tmp_info.write_text(json.dumps(report, indent=1))
    print(f"run {run}: {data.shape[0]} volumes x {data.shape[1]} columns; median tSNR {report['MedianTSNR']:.1f}; "
          f"confound regression {'on' if extractor.confounds.enabled else 'off'}", file=sys.stderr)  # fmt: skip
