"""Observatory cleaning: peer-prediction (default) and the published coincidence rules.

See docs/cleaning.md for the method and its measured behaviour on real data.
"""

from .archive import clean_archive
from .config import RULES, CleaningConfig
from .method import (
    CleaningResult,
    build_cleaning_pipeline,
    clean_observatories,
    restore_original,
    summary_table,
)
from .run import run_clean, summary_lines, write_cleaning_outputs
from .streaming import StreamingCleaner
from .streaming_peer import StreamingPeerCleaner

__all__ = [
    "RULES",
    "CleaningConfig",
    "CleaningResult",
    "StreamingCleaner",
    "StreamingPeerCleaner",
    "build_cleaning_pipeline",
    "clean_archive",
    "clean_observatories",
    "restore_original",
    "run_clean",
    "summary_lines",
    "summary_table",
    "write_cleaning_outputs",
]
