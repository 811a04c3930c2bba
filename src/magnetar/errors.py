"""Exceptions raised by magnetar.

Every error a user can cause derives from :class:`MagnetarError`, so a caller (and the CLI)
can catch them all in one place. Messages say what was received, where (file and line when
reading) and what was expected.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataNotFoundError",
    "FileFormatError",
    "MagnetarError",
    "MissingDependencyError",
    "ValidationError",
]


class MagnetarError(Exception):
    """Base class of every error magnetar raises on purpose."""


class ValidationError(MagnetarError, ValueError):
    """A parameter or an in-memory input has a value that cannot be used."""


class ConfigError(ValidationError):
    """A configuration file or override is malformed or names an unknown option."""


class FileFormatError(MagnetarError, ValueError):
    """A file cannot be read: it is malformed, truncated or contradicts itself.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str or path-like, optional
        The file.
    line : int, optional
        The 1-based line number where the problem was found.
    """

    def __init__(self, message, *, path=None, line=None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}, line {line}"
            where += ": "
        super().__init__(f"{where}{message}")


class DataNotFoundError(MagnetarError, FileNotFoundError):
    """A registered dataset file is neither in the local folder nor fetchable."""


class MissingDependencyError(MagnetarError, ImportError):
    """An optional dependency is needed for this feature; the message says what to install."""
