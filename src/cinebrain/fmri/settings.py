"""The ``fmri`` section of the configuration: ROI extraction, confound cleaning, normalisation and lag
(typed settings, :mod:`cinebrain.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import section, setting
from .activation import ActivationSettings

CONFOUND_STRATEGIES = ("motion", "wm_csf", "global_signal", "compcor", "high_pass")
MODELS = ("basic", "power2", "derivatives", "full")
COMPCOR = ("anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated")
NORMALISE = ("run", "subject", "none")


@dataclass
class ConfoundSettings:
    """Confound regression (nilearn load_confounds + signal.clean); off in the CineBrain paper."""

    enabled: bool = setting(False, "regress fMRIPrep confounds out of each run")
    strategy: tuple[str, ...] = setting(("motion", "high_pass", "compcor"), "nilearn load_confounds strategies",
                                        items={"enum": list(CONFOUND_STRATEGIES)}, uniqueItems=True)  # fmt: skip
    motion: str = setting("full", "motion model: basic (6), power2 / derivatives (12), full (24)", enum=MODELS)
    wm_csf: str = setting("basic", "white-matter/CSF model", enum=MODELS)
    global_signal: str = setting("basic", "global-signal model", enum=MODELS)
    compcor: str = setting("anat_combined", "CompCor flavour", enum=COMPCOR)
    n_compcor: int | str = setting(5, "CompCor components, or all",
                                   oneOf=[{"type": "integer", "minimum": 1}, {"const": "all"}])  # fmt: skip
    columns: tuple[str, ...] = setting((), "extra confounds table columns regressed as well")
    high_pass: float | None = setting(None, "Butterworth high-pass cut-off in Hz of signal.clean (null: none)",
                                      exclusiveMinimum=0)  # fmt: skip
    detrend: bool = setting(True, "remove a linear trend as well")

    @classmethod
    def from_config(cls, section: dict) -> ConfoundSettings:
        from ..settings import build

        return build(cls, section, "fmri.confounds")


@dataclass(frozen=True)
class FmriSettings:
    """ROI extraction, cleaning, normalisation and lag (rules fmri_*)."""

    roi_sets: tuple[str, ...] = setting(("visual",), "ROI sets (resources/rois/<name>.yaml, or paths to YAML files), "
                                        "combined as a union", items={"type": "string", "minLength": 1}, minItems=1,
                                        uniqueItems=True)  # fmt: skip
    confounds: ConfoundSettings = section(ConfoundSettings)
    normalise: str = setting("run", "z-score per column within each run (paper), over a subject's runs (release), "
                             "or not", enum=NORMALISE)  # fmt: skip
    hrf_lag: float = setting(4.0, "haemodynamic lag in seconds between the film and the BOLD volumes (CineBrain 4 s)",
                             minimum=0)  # fmt: skip
    activation: ActivationSettings = section(ActivationSettings)
