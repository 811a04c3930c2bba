"""Pure processing steps on xarray/numpy (no torch, no I/O)."""

from ._anomaly import (
    crustal_anomaly,
    external_disturbance,
    igrf_field,
    nearest_observatory,
    noise_level,
    screen_points,
)
from ._coincidence import (
    FLAG_FLAGGED,
    FLAG_INTERPOLATED,
    FLAG_KEPT,
    FLAG_MEANINGS,
    FLAG_MISSING,
    FLAG_REPLACED,
)
from ._filters import CausalHighpass, butter_highpass, highpass, sampling_period_of
from ._iar import comb_spacing, peak_detection_mask, resonance_parameters
from ._noise import noise_sigma, noise_sigma_daily, rolling_std
from ._schumann import fit_schumann, schumann_model
from ._spectral import bandpass, crop_band, select_night, split_nights, welch_spectrogram
from ._stations import align_stations, split_stations
from ._sync import apply_shifts, lagged_correlation, sync_check

__all__ = [
    "CausalHighpass",
    "FLAG_FLAGGED",
    "FLAG_INTERPOLATED",
    "FLAG_KEPT",
    "FLAG_MEANINGS",
    "FLAG_MISSING",
    "FLAG_REPLACED",
    "align_stations",
    "apply_shifts",
    "bandpass",
    "butter_highpass",
    "comb_spacing",
    "crop_band",
    "crustal_anomaly",
    "external_disturbance",
    "fit_schumann",
    "highpass",
    "igrf_field",
    "lagged_correlation",
    "nearest_observatory",
    "noise_level",
    "noise_sigma",
    "noise_sigma_daily",
    "peak_detection_mask",
    "resonance_parameters",
    "rolling_std",
    "sampling_period_of",
    "schumann_model",
    "screen_points",
    "select_night",
    "split_nights",
    "split_stations",
    "sync_check",
    "welch_spectrogram",
]
