"""magnetar: signal processing and deep learning for geomagnetic data."""

from .errors import (
    ConfigError,
    DataNotFoundError,
    FileFormatError,
    MagnetarError,
    MissingDependencyError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataNotFoundError",
    "FileFormatError",
    "MagnetarError",
    "MissingDependencyError",
    "ValidationError",
    "__version__",
]
