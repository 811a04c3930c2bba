"""Physics-based synthetic data with exact ground truth."""

from ._observatory import (
    ObservatoryTruth,
    inject_coincident,
    inject_interference,
    synthetic_observatories,
)

__all__ = [
    "ObservatoryTruth",
    "inject_coincident",
    "inject_interference",
    "synthetic_observatories",
]
