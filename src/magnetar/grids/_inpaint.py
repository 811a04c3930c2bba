"""Classical gap filling of tiles: the baselines a learned reconstruction must beat."""

from __future__ import annotations

import numpy as np
from scipy import interpolate, ndimage
from scipy.spatial import QhullError

from .._utils import require
from ..errors import ValidationError
from ._thin_plate import thin_plate_fill

__all__ = ["INPAINT_METHODS", "inpaint"]

INPAINT_METHODS = ("nearest", "linear", "gaussian", "spline", "thin_plate")


def _one(values, known, method, sigma, damping):
    h, w = values.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    pts = np.column_stack([yy[known], xx[known]])
    v = values[known]
    if method == "nearest" or len(v) < 4:
        return interpolate.griddata(pts, v, (yy, xx), method="nearest")
    if method == "spline":
        vd = require("verde", extra="grids", feature="Spline gap filling")
        spline = vd.Spline(damping=damping).fit((xx[known], yy[known]), v)
        return spline.predict((xx, yy))
    near = interpolate.griddata(pts, v, (yy, xx), method="nearest")
    try:
        lin = interpolate.griddata(pts, v, (yy, xx), method="linear")
    except QhullError:  # known pixels on one line (a straight walk): no triangles
        lin = near
    lin = np.where(np.isfinite(lin), lin, near)  # outside the hull
    if method == "gaussian":
        return ndimage.gaussian_filter(lin, sigma, mode="nearest")
    return lin


def inpaint(corrupted, known, *, method="linear", sigma=1.0, damping=1e-6, smoothing=0.02):
    """Fill the unknown pixels of a tile or a stack of tiles.

    Parameters
    ----------
    corrupted : array (H, W) or (N, H, W)
    known : bool array of the same shape
    method : {"nearest", "linear", "gaussian", "spline", "thin_plate"}
        Nearest neighbour; linear (Delaunay) interpolation with nearest outside the convex
        hull; ``gaussian``: the linear result smoothed by a Gaussian of ``sigma`` pixels;
        ``spline``: verde's biharmonic spline with ``damping``; ``thin_plate``: the gridded
        thin-plate smoothing spline with ``smoothing`` (:func:`thin_plate_fill`, all
        tiles at once).

    Returns
    -------
    numpy.ndarray of the input's shape (every pixel filled; known pixels are kept except by
    ``gaussian``, ``thin_plate`` and a damped ``spline``, which smooth them too).
    """
    if method not in INPAINT_METHODS:
        msg = f"method must be one of {', '.join(INPAINT_METHODS)}; got {method!r}"
        raise ValidationError(msg)
    c = np.asarray(corrupted, float)
    k = np.asarray(known, bool) & np.isfinite(c)
    if c.shape != k.shape or c.ndim not in (2, 3):
        msg = f"corrupted and known must be one (H, W) or (N, H, W) shape; got {c.shape}, {k.shape}"
        raise ValidationError(msg)
    stack = c[None] if c.ndim == 2 else c
    kstack = k[None] if k.ndim == 2 else k
    if method == "thin_plate":
        empty = np.flatnonzero(~kstack.any(axis=(1, 2)))
        if empty.size:
            msg = f"tile {empty[0]} has no known pixel"
            raise ValidationError(msg)
        out = thin_plate_fill(stack, kstack, smoothing=smoothing)
        return out[0] if c.ndim == 2 else out
    out = np.empty(stack.shape)
    for i, (tile, keep) in enumerate(zip(stack, kstack, strict=True)):
        if not keep.any():
            msg = f"tile {i} has no known pixel"
            raise ValidationError(msg)
        out[i] = _one(tile, keep, method, sigma, damping)
    return out[0] if c.ndim == 2 else out
