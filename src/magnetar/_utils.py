"""Small shared helpers: atomic writes and optional imports."""

from __future__ import annotations

import contextlib
import importlib
import math
import numbers
import os
import tempfile
from pathlib import Path

from .errors import FileFormatError, MissingDependencyError, ValidationError


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
    """Wrap ``items`` in a progress bar when ``enabled``.

    A tqdm progress bar when ``enabled``: over ``items`` (returned as they are when not
    enabled), or, with no items, a manual bar (``total=``; None when not enabled).
    """
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(**kwargs) if items is None else tqdm(items, **kwargs)


def existing_file(path):
    """Return an existing input file as a Path.

    ``path`` as a Path; a :class:`~magnetar.errors.FileFormatError` naming it when it is
    not a file (the readers' first check).
    """
    path = Path(path)
    if not path.is_file():
        msg = "no such file"
        raise FileFormatError(msg, path=path)
    return path


def output_folder(path, *, option="--out"):
    """Return the Path of an output folder, refusing a file in its place.

    ``path`` as the Path of a folder for outputs; a ValidationError naming ``option``
    when it exists as a file (a folder is created later, by the writers).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        msg = f"{option} {path} is an existing file, not a folder"
        raise ValidationError(msg)
    return path


def output_file(path, *, inputs=(), suffixes=None, option="--out"):
    """Return the Path of an output file, refusing what it must not overwrite.

    ``path`` as the Path of an output file, refused (naming ``option``) when it is an
    existing folder, resolves to one of ``inputs`` (inputs are never overwritten) or does
    not end in one of ``suffixes``.
    """
    path = Path(path)
    if path.is_dir():
        msg = f"{option} {path} is an existing folder; give a file name"
        raise ValidationError(msg)
    if any(path.resolve() == Path(p).resolve() for p in inputs):
        msg = f"{option} {path} would overwrite the input {path}; inputs are never modified"
        raise ValidationError(msg)
    if suffixes and path.suffix.lower() not in suffixes:
        msg = f"{option} {path} must end in {' or '.join(suffixes)}"
        raise ValidationError(msg)
    return path


def check_number(value, *, option, minimum=None, maximum=None, integer=False,
                 inclusive=True):
    """Return ``value`` checked as a finite number within bounds.

    ``value`` if it is finite and within [minimum, maximum]; a ValidationError naming
    ``option`` and the allowed range otherwise (None bounds are open).
    """
    ok = isinstance(value, numbers.Real) and math.isfinite(value)  # numpy scalars too
    if ok and integer:
        ok = float(value).is_integer()
    if ok and minimum is not None:
        ok = value >= minimum if inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        bracket = "[" if inclusive else "("
        kind = "an integer" if integer else "a number"
        msg = f"{option} must be {kind} in {bracket}{low}, {high}], got {value}"
        raise ValidationError(msg)
    return value


MAX_ALLOCATION_BYTES = 16e9  # refuse sizes derived from options above this (16 GB)


def check_allocation(nbytes, *, option, what, limit=MAX_ALLOCATION_BYTES):
    """Refuse a size derived from user input before trying to allocate it.

    Parameters
    ----------
    nbytes : float
        Estimated memory the request needs (bytes).
    option : str
        The option(s) that set it, named in the message.
    what : str
        What would be allocated (e.g. "a 200000 x 200000 grid").
    limit : float
        Largest estimate accepted (bytes).

    Returns
    -------
    float
        ``nbytes`` when acceptable.

    Raises
    ------
    ValidationError
        With the estimate and the limit in GB.
    """
    if not nbytes <= limit:
        msg = (f"{option}: {what} needs about {nbytes / 1e9:,.1f} GB (limit "
               f"{limit / 1e9:,.0f} GB); choose a smaller value")
        raise ValidationError(msg)
    return nbytes


def unique_stems(paths, *, clean=None):
    """Return one distinct output stem per input path.

    One output stem per input path (``clean`` maps a name to a file-system-safe stem);
    a ValidationError naming the inputs when two would write the same outputs.
    """
    clean = clean or (lambda name: name)
    stems = {}
    for path in paths:
        stem = clean(Path(path).name)
        if stem in stems:
            msg = (f"inputs {stems[stem]} and {path} would both write outputs named "
                   f"{stem!r}; rename one of them")
            raise ValidationError(msg)
        stems[stem] = path
    return {str(p): s for s, p in stems.items()}


def import_quietly_configuring(module):
    """Import a module without letting it reconfigure logging.

    Import a third-party module that reconfigures logging on import (MagPy disables every
    logger that exists then), and give magnetar's loggers back.
    """
    import logging

    loaded = importlib.import_module(module)
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.split(".")[0] == "magnetar" and isinstance(logger, logging.Logger):
            logger.disabled = False
    return loaded
