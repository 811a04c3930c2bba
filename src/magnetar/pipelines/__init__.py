"""Workflows composed of named steps; each exports build_*_pipeline and run_* functions.

Moving to :mod:`magnetar.workflows` (one folder per workflow); the cleaning workflow has
moved there and its names are re-exported here for existing code.
"""

from ..workflows._pipeline import Pipeline
from ..workflows.cleaning import (
    CleaningConfig,
    CleaningResult,
    StreamingCleaner,
    build_cleaning_pipeline,
    clean_observatories,
    restore_original,
    summary_table,
)

__all__ = [
    "CleaningConfig",
    "CleaningResult",
    "Pipeline",
    "StreamingCleaner",
    "build_cleaning_pipeline",
    "clean_observatories",
    "restore_original",
    "summary_table",
]
