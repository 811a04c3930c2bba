"""Registry of the real data files magnetar uses, with their public origin and SHA-256.

Every file is identified by its path in the shared sample-data layout (for example
``observatory/brw_ded/geomagBRWX_2022-03-09_2022-03-14.csv``). :func:`fetch` looks in the local
folder named by the environment variable ``MAGNETAR_DATA_DIR`` first, verifies the SHA-256 and
returns that path; otherwise it downloads the file once from its public origin (repository,
commit and path) with :mod:`pooch` into the user cache. Nothing is ever copied into the
repository.

With ``MAGNETAR_STRICT_DATA=1`` (set by CI) a file missing from the local folder is an error
instead of a download attempt, and tests that need it fail instead of being skipped.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DataNotFoundError, ValidationError

__all__ = [
    "DATA_DIR_ENV",
    "STRICT_ENV",
    "DatasetFile",
    "fetch",
    "is_available",
    "list_files",
    "local_path",
    "registry",
]

LOGGER = logging.getLogger(__name__)
DATA_DIR_ENV = "MAGNETAR_DATA_DIR"
STRICT_ENV = "MAGNETAR_STRICT_DATA"
_RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class DatasetFile:
    """One registered file: where it lives in the local layout and where it comes from."""

    name: str
    size: int
    sha256: str
    repo: str
    commit: str
    path_in_repo: str
    licence: str

    @property
    def url(self):
        """Public address of the file at the registered commit."""
        return _RAW_URL.format(repo=self.repo, commit=self.commit, path=self.path_in_repo)


@functools.lru_cache(maxsize=1)
def registry():
    """Return ``{name: DatasetFile}`` for every registered file."""
    text = resources.files(__package__).joinpath("registry.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    out = {}
    for row in rows:
        entry = DatasetFile(
            name=row["path"],
            size=int(row["bytes"]),
            sha256=row["sha256"],
            repo=row["repo"],
            commit=row["commit"],
            path_in_repo=row["path_in_repo"],
            licence=row["licence"],
        )
        out[entry.name] = entry
    return out


def list_files(prefix=""):
    """Names of registered files starting with ``prefix`` (sorted)."""
    return sorted(name for name in registry() if name.startswith(prefix))


def _entry(name):
    try:
        return registry()[name]
    except KeyError:
        close = [n for n in registry() if name.split("/")[-1] in n][:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        msg = f"'{name}' is not a registered dataset file.{hint} See 'magnetar datasets list'."
        raise ValidationError(msg) from None


def _strict():
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no")


@functools.lru_cache(maxsize=None)
def _sha256(path, mtime_ns, size):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_path(name):
    """Path of ``name`` in the local data folder, or ``None`` if absent or no folder is set.

    A present file whose SHA-256 differs from the registry is an error, never silently used.
    """
    entry = _entry(name)
    folder = os.environ.get(DATA_DIR_ENV)
    if not folder:
        return None
    path = Path(folder) / entry.name
    if not path.is_file():
        return None
    stat = path.stat()
    digest = _sha256(str(path), stat.st_mtime_ns, stat.st_size)
    if digest != entry.sha256:
        msg = (
            f"{path}: SHA-256 {digest} does not match the registered {entry.sha256}; "
            "the local copy is corrupt or a different version"
        )
        raise DataNotFoundError(msg)
    return path


def is_available(name):
    """Return True if ``name`` is in the local folder (no download is attempted)."""
    return local_path(name) is not None


def fetch(name, *, download=True):
    """Return a local path to a registered file, downloading it if needed and allowed.

    Parameters
    ----------
    name : str
        Registered name (see :func:`list_files`).
    download : bool
        If False, only the local folder is consulted.

    Raises
    ------
    DataNotFoundError
        The file is not local and cannot (or may not) be downloaded. In strict mode
        (``MAGNETAR_STRICT_DATA=1``) no download is attempted.
    """
    path = local_path(name)
    if path is not None:
        return path
    entry = _entry(name)
    folder = os.environ.get(DATA_DIR_ENV)
    where = f"{DATA_DIR_ENV}={folder}" if folder else f"{DATA_DIR_ENV} is not set"
    if _strict() or not download:
        msg = (
            f"registered file '{name}' is not in the local data folder ({where}); "
            f"place it at <data dir>/{entry.name} (origin: {entry.url})"
        )
        raise DataNotFoundError(msg)
    import pooch  # imported here: only needed for downloads

    cache = pooch.os_cache("magnetar")
    if not (Path(cache) / entry.name.replace("/", "__")).is_file():
        # said once, before anything is fetched: what, from where, how large, and how not to
        LOGGER.warning("downloading %s (%.1f MB) from %s into %s; set %s to a folder that "
                       "holds it to work offline ('magnetar datasets fetch --all' prepares "
                       "one)", name, entry.size / 1e6, entry.url, cache, DATA_DIR_ENV)
    try:
        fetched = pooch.retrieve(
            url=entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=entry.name.replace("/", "__"),
            path=pooch.os_cache("magnetar"),
            progressbar=False,
        )
    except (OSError, ValueError) as err:
        msg = (f"could not fetch '{name}' from {entry.url} ({where}): {err}; offline, set "
               f"{DATA_DIR_ENV} to a folder holding it")
        raise DataNotFoundError(msg) from err
    return Path(fetched)
