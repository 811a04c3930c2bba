"""Workflows composed of named steps; each exports build_*_pipeline and run_* functions."""

from ._pipeline import Pipeline
from .observatory_cleaning import (
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
