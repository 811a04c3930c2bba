"""Small shared helpers: atomic writes and optional imports."""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from pathlib import Path

from .errors import FileFormatError, MissingDependencyError


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a temporary path beside ``path`` and move it into place on success.

    Readers never see a half-written output: the file appears complete or not at all, and a
    failure leaves any earlier file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def require(module, *, extra, feature):
    """Import an optional dependency or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = (
            f"{feature} needs the optional package '{module}'. "
            f"Install it with: pip install 'magnetar[{extra}]'"
        )
        raise MissingDependencyError(msg) from err


def progress_bar(items=None, *, enabled=True, **kwargs):
    """A tqdm progress bar when ``enabled``: over ``items`` (returned as they are when not
    enabled), or, with no items, a manual bar (``total=``; None when not enabled)."""
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(**kwargs) if items is None else tqdm(items, **kwargs)


def existing_file(path):
    """``path`` as a Path; a :class:`~magnetar.errors.FileFormatError` naming it when it is
    not a file (the readers' first check)."""
    path = Path(path)
    if not path.is_file():
        msg = "no such file"
        raise FileFormatError(msg, path=path)
    return path
