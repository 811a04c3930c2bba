"""Spectrograms and label masks as grayscale PNG images (what labelling tools exchange).

Low frequencies are at the bottom row, time runs left to right. Images of any size are read
back; label masks are resized to a target shape by nearest neighbour (scikit-image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .._utils import atomic_path, existing_file, require
from ..errors import FileFormatError, ValidationError

__all__ = ["read_label_mask", "read_spectrogram_png", "write_spectrogram_png"]


def write_spectrogram_png(spec, path, *, vmin=None, vmax=None):
    """Write a ``(frequency, time)`` spectrogram (or 0/1 mask) as 8-bit grayscale.

    ``vmin``/``vmax`` default to the 1st and 99th percentiles; NaN is black. The range is
    stored in the PNG text chunks so :func:`read_spectrogram_png` restores physical values.

    Parameters
    ----------
    spec : xarray.DataArray
        ``(frequency, time)`` values.
    path : path-like
        Output PNG (low frequencies at the bottom).
    vmin, vmax : float, optional
        Values of grey levels 0 and 255.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    pil = require("PIL.Image", extra="plot", feature="Writing PNG spectrograms")
    png = require("PIL.PngImagePlugin", extra="plot", feature="Writing PNG spectrograms")
    if not isinstance(spec, xr.DataArray) or set(spec.dims) != {"frequency", "time"}:
        msg = "spec must be a DataArray with dims (frequency, time)"
        raise ValidationError(msg)
    values = np.asarray(spec.transpose("frequency", "time").values, float)[::-1]
    finite = np.isfinite(values)
    lo = float(np.nanpercentile(values, 1)) if vmin is None else float(vmin)
    hi = float(np.nanpercentile(values, 99)) if vmax is None else float(vmax)
    if not hi > lo:
        hi = lo + 1.0
    pixels = np.zeros(values.shape, np.uint8)
    pixels[finite] = np.round(np.clip((values[finite] - lo) / (hi - lo), 0, 1) * 255)
    info = png.PngInfo()
    info.add_text("vmin", repr(lo))
    info.add_text("vmax", repr(hi))
    f = spec["frequency"].values
    info.add_text("frequency", f"{float(f[0])!r},{float(f[-1])!r}")
    with atomic_path(path, suffix=".png") as tmp:
        pil.fromarray(pixels, mode="L").save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def _open(path):
    pil = require("PIL.Image", extra="plot", feature="Reading PNG images")
    path = existing_file(path)
    try:
        image = pil.open(path)
        image.load()
    except OSError as err:
        msg = f"not a readable image ({err})"
        raise FileFormatError(msg, path=path) from None
    return image


def read_spectrogram_png(path, *, vmin=None, vmax=None, frequency=None, time=None):
    """Read a grayscale spectrogram image (any size) as ``(frequency, time)``.

    Values are mapped back with ``vmin``/``vmax`` (from the file's text chunks when it was
    written by :func:`write_spectrogram_png`, else 0-255); ``frequency`` defaults to the
    stored range or the row index, ``time`` to the column index.

    Parameters
    ----------
    path : path-like
        The image.
    vmin, vmax : float, optional
        Values of grey levels 0 and 255.
    frequency, time : array-like, optional
        Coordinates to attach.

    Returns
    -------
    xarray.DataArray
        ``(frequency, time)`` spectrogram, low frequencies first.
    """
    image = _open(path)
    pixels = np.asarray(image.convert("L"), float)[::-1]
    text = getattr(image, "text", {}) or {}
    lo = float(text.get("vmin", 0.0)) if vmin is None else float(vmin)
    hi = float(text.get("vmax", 255.0)) if vmax is None else float(vmax)
    values = lo + pixels / 255.0 * (hi - lo)
    n_f, n_t = values.shape
    if frequency is None:
        if "frequency" in text:
            a, b = (float(v) for v in text["frequency"].split(","))
            frequency = np.linspace(a, b, n_f)
        else:
            frequency = np.arange(n_f, dtype=float)
    time = np.arange(n_t) if time is None else time
    if len(frequency) != n_f or len(time) != n_t:
        msg = f"image is {n_f}x{n_t} but {len(frequency)} frequencies and {len(time)} times given"
        raise FileFormatError(msg, path=path)
    return xr.DataArray(values, dims=("frequency", "time"),
                        coords={"frequency": np.asarray(frequency), "time": np.asarray(time)},
                        attrs={"source": str(path)})


def read_label_mask(path, *, shape=None, threshold=128):
    """Read a fringe label image as a boolean mask.

    Read a label image (any size, fringes bright) as a boolean ``(frequency, time)``
    array with low frequencies first; resized to ``shape`` (nearest neighbour) if given.

    Parameters
    ----------
    path : path-like
        The label image.
    shape : (int, int), optional
        ``(frequency, time)`` to resize to.
    threshold : int
        Grey level above which a pixel is a fringe.

    Returns
    -------
    numpy.ndarray of bool
        ``(frequency, time)``, low frequencies first.
    """
    image = _open(path)
    mask = np.asarray(image.convert("L"))[::-1] >= threshold
    if shape is not None and mask.shape != tuple(shape):
        from skimage.transform import resize

        mask = resize(mask, tuple(shape), order=0, preserve_range=True,
                      anti_aliasing=False).astype(bool)
    return mask
