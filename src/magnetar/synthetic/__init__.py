"""Physics-based synthetic data with exact ground truth."""

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
    "ObservatoryTruth",
    "SeafloorConfig",
    "inject_coincident",
    "inject_interference",
    "layer_anomaly",
    "polarity_at",
    "read_gpts",
    "sample_tracks",
    "synthetic_observatories",
    "synthetic_seafloor",
    "window_labels",
]
