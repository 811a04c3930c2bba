"""Checkpoints: the one place that writes and reads them.

A checkpoint is a dict saved with :func:`torch.save`: ``model_state`` (the weights),
``config`` (the training config as plain types, so the model can be rebuilt), ``kind``
(which task wrote it: "reconstruction", "segmentation", "classifier"), ``epoch``,
``history`` and, for resuming, ``optimizer_state``, ``torch_rng`` and ``generator_rng``;
tasks may add plain metadata (e.g. the chosen ``threshold``).

Loading never runs code from the file: :func:`torch.load` with ``weights_only=True`` accepts
tensors and plain Python containers only, so a crafted pickle is refused before anything in
it executes. Every write is atomic (a temporary file moved into place).
"""

from __future__ import annotations

import pickle
import struct
import warnings
import zipfile
from pathlib import Path

import torch

from .._utils import atomic_path
from ..errors import FileFormatError, ValidationError

__all__ = ["load_state", "save_checkpoint", "update_metadata"]

# what torch.load raises for junk, truncated or code-carrying files
_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, KeyError, RuntimeError, ValueError,
                OSError, zipfile.BadZipFile, AttributeError, TypeError, struct.error)


def save_checkpoint(path, state):
    """Write ``state`` (a dict of tensors and plain types) to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The checkpoint file (``.pt``).
    state : dict
        What to save; see the module docstring for the keys in use.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)
    return path


def load_state(path, *, device="cpu", kind=None):
    """Return the dict saved in a checkpoint, loaded without running code from the file.

    Parameters
    ----------
    path : path-like
        A checkpoint written by :func:`save_checkpoint` (or a shipped model).
    device : str or torch.device
        Where tensors are mapped.
    kind : str, optional
        Refuse a checkpoint of another kind (e.g. a classifier given where a segmentation
        model is expected).

    Returns
    -------
    dict

    Raises
    ------
    ValidationError
        No file at ``path``, or a checkpoint of another kind.
    FileFormatError
        Not a checkpoint: unreadable, or holding objects other than tensors and plain
        types (which are never unpickled).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"no checkpoint at {path}"
        raise ValidationError(msg)
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of junk
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=device, weights_only=True)
    except _LOAD_ERRORS as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        msg = (f"not a magnetar checkpoint, or one holding more than weights and plain "
               f"metadata (refused without running it): {first[:200]}")
        raise FileFormatError(msg, path=path) from None
    if not isinstance(state, dict) or "model_state" not in state:
        msg = "not a magnetar checkpoint: no model_state in it"
        raise FileFormatError(msg, path=path)
    if kind is not None and state.get("kind") != kind:
        msg = f"{path} is a {state.get('kind', 'unknown')} checkpoint, not a {kind} one"
        raise ValidationError(msg)
    return state


def update_metadata(path, **fields):
    """Set plain metadata fields of a checkpoint in place (atomically), e.g. a threshold.

    Parameters
    ----------
    path : path-like
        An existing checkpoint.
    **fields
        Keys and plain values to set; ``model_state`` cannot be changed this way.

    Returns
    -------
    dict
        The updated state.
    """
    if "model_state" in fields:
        msg = "update_metadata does not change weights"
        raise ValidationError(msg)
    state = load_state(path)
    state.update(fields)
    save_checkpoint(path, state)
    return state
