"""Physics-based synthetic data with exact ground truth."""

from ._geology import GEOLOGY_SOURCES, GeologyConfig, synthetic_geology
from ._iar import (
    IARConfig,
    synthetic_iar_archive,
    synthetic_iar_night,
    synthetic_iar_nights,
    welch_dof,
)
from ._observatory import (
    ObservatoryTruth,
    inject_coincident,
    inject_interference,
    synthetic_observatories,
)
from ._seafloor import (
    SeafloorConfig,
    layer_anomaly,
    polarity_at,
    read_gpts,
    sample_tracks,
    synthetic_seafloor,
    window_labels,
)

__all__ = [
    "GEOLOGY_SOURCES",
    "GeologyConfig",
    "IARConfig",
    "ObservatoryTruth",
    "SeafloorConfig",
    "inject_coincident",
    "inject_interference",
    "layer_anomaly",
    "polarity_at",
    "read_gpts",
    "sample_tracks",
    "synthetic_geology",
    "synthetic_iar_archive",
    "synthetic_iar_night",
    "synthetic_iar_nights",
    "synthetic_observatories",
    "synthetic_seafloor",
    "welch_dof",
    "window_labels",
]
