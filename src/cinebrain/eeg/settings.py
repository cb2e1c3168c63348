"""The ``eeg`` section of the configuration: the EEG cleaning chain (typed settings, :mod:`cinebrain.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import section, setting


@dataclass(frozen=True)
class GradientSettings:
    """MR-gradient artifact removal: average artifact subtraction locked to the volume markers."""

    enabled: bool = setting(True, "remove the gradient artifact")
    method: str = setting("aas", "aas (sub-sample aligned average artifact subtraction, cinebrain.eeg.gradient) or "
                          "mne_aas (MNE's remove_fmri_gradient_artifact: whole-sample alignment; make bench compares "
                          "them)", enum=("aas", "mne_aas"))  # fmt: skip
    n_template: int = setting(21, "volumes in the sliding template (FMRIB default 21)", minimum=3)
    obs: int = setting(0, "optimal-basis-set components fitted to the residuals (0: off; FMRIB uses 4; method aas)",
                       minimum=0)  # fmt: skip
    min_sfreq: float = setting(1000.0, "lowest recording rate (Hz) the gradient removal accepts: below it the "
                               "artifact's kHz content aliases and no template matches it from volume to volume",
                               exclusiveMinimum=0)  # fmt: skip


@dataclass(frozen=True)
class BcgSettings:
    """Ballistocardiogram removal locked to the ECG R-peaks (set enabled: false for data without ECG)."""

    enabled: bool = setting(True, "remove the ballistocardiogram")
    method: str = setting("average", "average (sliding mean of n_template beats), obs (mean + n_obs principal "
                          "components, fmrib_pas) or mne_pca_obs (MNE's apply_pca_obs with n_obs components)",
                          enum=("average", "obs", "mne_pca_obs"))  # fmt: skip
    n_template: int = setting(21, "beats in the sliding template", minimum=3)
    n_obs: int = setting(3, "principal components (methods obs and mne_pca_obs)", minimum=1)


@dataclass(frozen=True)
class BadChannelSettings:
    """PREP criteria; bad channels are interpolated (spherical splines)."""

    enabled: bool = setting(True, "find and interpolate bad channels")
    deviation_z: float = setting(5.0, "robust z of the amplitude above which a channel is bad", exclusiveMinimum=0)
    correlation: float = setting(0.4, "median window correlation with the best-correlated channel below which a "
                                 "channel is bad", minimum=0, maximum=1)  # fmt: skip


@dataclass(frozen=True)
class IcaSettings:
    """Picard ICA on a copy high-passed at l_freq and decimated to about decim_sfreq; components marked bad by
    CTPS with the ECG and by correlation with EOG proxies (an editable TSV)."""

    enabled: bool = setting(True, "fit the ICA and remove the bad components")
    n_components: int | float = setting(20, "components (an integer), or the explained variance (a fraction)",
                                        oneOf=[{"type": "integer", "minimum": 2},
                                               {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}])  # fmt: skip
    l_freq: float = setting(1.0, "high-pass of the copy the ICA is fitted on (Hz)", exclusiveMinimum=0)
    decim_sfreq: float = setting(50.0, "rate of the copy the ICA is fitted on (Hz)", exclusiveMinimum=0)
    max_iter: int = setting(500, "picard iterations at most", minimum=10)
    ecg_threshold: str | float = setting("auto", "CTPS threshold for ECG components (auto: MNE's)",
                                         oneOf=[{"const": "auto"}, {"type": "number", "exclusiveMinimum": 0}])  # fmt: skip
    eog_threshold: float = setting(3.0, "|z| of the correlation with the EOG proxies above which a component is bad",
                                   exclusiveMinimum=0)  # fmt: skip
    eog_channels: tuple[str, ...] | None = setting(None, "EOG proxies (null: the 2 most frontal electrodes)")
    random_state: int = setting(97, "seed of the ICA: the same data give the same components")


@dataclass(frozen=True)
class EEGSettings:
    """EEG cleaning chain (rules eeg_*)."""

    montage: str = setting("GSN-HydroCel-64_1.0", "MNE standard montage of the cap")
    ecg_channel: str = setting("ECG", "name of the ECG channel")
    marker_tolerance: float = setting(0.005, "largest relative deviation of a volume-marker interval from the TR",
                                      exclusiveMinimum=0)  # fmt: skip
    gradient: GradientSettings = section(GradientSettings)
    bcg: BcgSettings = section(BcgSettings)
    sfreq: float = setting(1000.0, "output sampling rate in Hz", exclusiveMinimum=0)
    l_freq: float | None = setting(0.1, "band-pass low edge in Hz (null: none)", exclusiveMinimum=0)
    h_freq: float | None = setting(30.0, "band-pass high edge in Hz (null: none)", exclusiveMinimum=0)
    notch: tuple[float, ...] = setting((50.0,), "notch frequencies in Hz (mains)",
                                       items={"type": "number", "exclusiveMinimum": 0})  # fmt: skip
    bad_channels: BadChannelSettings = section(BadChannelSettings)
    ica: IcaSettings = section(IcaSettings)

    @classmethod
    def from_config(cls, section: dict) -> EEGSettings:
        """From the configuration's ``eeg`` mapping (or a QC file's copy of it); keys left out: defaults."""
        from ..settings import build

        return build(cls, section, "eeg")
