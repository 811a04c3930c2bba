"""Outliers (Tukey's rule), regridding and gap filling (verde), SVD low-rank denoising.

Each function takes a grid (or points) and returns a new grid with the input's coordinates
and attrs; what a step removes can always be recovered as ``input - output``.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import xarray as xr

from .._utils import require
from ..errors import ValidationError
from ..io._grids import GEOGRAPHIC, PROJECTED, check_grid

__all__ = ["fill_gaps", "iqr_outliers", "regrid", "suggest_spacing", "svd_denoise"]

LOGGER = logging.getLogger(__name__)
EARTH_RADIUS_M = 6_371_000.0
REGRID_METHODS = ("spline", "cubic", "linear", "nearest", "surface")


def _local_quartiles(values, window):
    """Return Q1 and Q3 per block of ``window`` nodes.

    Each block's quartiles are measured over the block and half a window around it, so a
    block at the edge of a regional anomaly sees both sides.
    """
    ny, nx = values.shape
    q1, q3 = np.empty((ny, nx)), np.empty((ny, nx))
    overall = np.nanpercentile(values, [25, 75])
    half = window // 2
    with warnings.catch_warnings():  # an all-NaN block has no quartiles: the global ones
        warnings.simplefilter("ignore", RuntimeWarning)
        for y0 in range(0, ny, window):
            for x0 in range(0, nx, window):
                context = values[max(y0 - half, 0):y0 + window + half,
                                 max(x0 - half, 0):x0 + window + half]
                q = np.nanpercentile(context, [25, 75])
                q = overall if np.isnan(q).any() else q
                q1[y0:y0 + window, x0:x0 + window] = q[0]
                q3[y0:y0 + window, x0:x0 + window] = q[1]
    return q1, q3


def iqr_outliers(grid, *, c=1.5, window=None):
    """Tukey's rule: values outside ``[Q1 - c IQR, Q3 + c IQR]`` become NaN.

    With ``window`` the quartiles are local: each block of ``window`` x ``window`` nodes
    takes those of the block and half a window around it, so a strong regional anomaly
    (a continent's, a ridge's) is measured against its neighbourhood, not the whole grid (a
    global fence on a global grid removes real anomalies: issue 25).

    Parameters
    ----------
    grid : xarray.DataArray
        The grid.
    c : float
        Fence multiple of the interquartile range (1.5: Tukey).
    window : int, optional
        Side of the blocks for local quartiles (nodes); default: one global fence.

    Returns
    -------
    cleaned : xarray.DataArray
        The grid with outliers set to NaN (``attrs['outlier_bounds']`` holds the fences:
        global values, or the range of the local ones).
    mask : xarray.DataArray of bool
        True where a value was removed.
    """
    check_grid(grid)
    if not c > 0:
        msg = f"c must be positive, got {c}"
        raise ValidationError(msg)
    if window is not None and not (isinstance(window, (int, np.integer)) and window >= 3):
        msg = f"window (--outlier-window) must be an integer of at least 3 nodes, got {window}"
        raise ValidationError(msg)
    values = np.asarray(grid.values, dtype=float)
    if window is None:
        q1, q3 = np.nanpercentile(values, [25, 75])
    else:
        q1, q3 = _local_quartiles(values, int(window))
    low, high = q1 - c * (q3 - q1), q3 + c * (q3 - q1)
    with np.errstate(invalid="ignore"):
        mask = (values < low) | (values > high)
    bounds = (float(np.min(low)), float(np.max(high)))
    cleaned = grid.where(~mask).assign_attrs(outlier_bounds=bounds,
                                             outlier_window=0 if window is None else int(window))
    return cleaned, xr.DataArray(mask, coords=grid.coords, dims=grid.dims, name="outlier")


def suggest_spacing(*, narrowest_width, window_nodes=None, anomalies_per_window=None,
                    typical_width=None):
    """Grid spacing that resolves the narrowest anomaly and fills windows with anomalies.

    Parameters
    ----------
    narrowest_width : float
        Width of the narrowest anomaly to keep (coordinate units, e.g. km or degrees). By
        Nyquist the spacing must not exceed half of it.
    window_nodes : int, optional
        Window size in nodes used downstream (e.g. 250).
    anomalies_per_window : float, optional
        How many anomalies of ``typical_width`` a window should span; this sets the smallest
        spacing (a window of ``window_nodes`` nodes covers ``window_nodes * spacing``).
    typical_width : float, optional
        Typical anomaly width (default: ``narrowest_width``).

    Returns
    -------
    float
        The largest spacing satisfying Nyquist, or the spacing that makes the window hold the
        wanted number of anomalies when that is smaller; a :class:`ValidationError` says when
        the two conditions cannot both hold.
    """
    if not narrowest_width > 0:
        msg = f"narrowest_width must be positive, got {narrowest_width}"
        raise ValidationError(msg)
    nyquist = narrowest_width / 2.0
    if window_nodes is None or anomalies_per_window is None:
        return nyquist
    typical = typical_width or narrowest_width
    needed = anomalies_per_window * typical / window_nodes
    if needed > nyquist:
        msg = (f"a {window_nodes}-node window holds {anomalies_per_window} anomalies of width "
               f"{typical} only at spacing >= {needed:g}, but resolving width "
               f"{narrowest_width} needs spacing <= {nyquist:g}; use larger windows")
        raise ValidationError(msg)
    return needed if needed > 0 else nyquist


def _planar(lon, lat, lat0):
    """Local equirectangular projection (metres) for gridding geographic data."""
    x = np.radians(lon) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = np.radians(lat) * EARTH_RADIUS_M
    return x, y


def regrid(points, *, spacing, region=None, method="spline", damping=None, mindist=None,
           max_points=6000, tension=0.25, value=None, maxdist=None):
    """Grid scattered points (ship tracks, surveys) at a chosen spacing.

    Parameters
    ----------
    points : xarray.Dataset
        Dimension ``point``; coordinates ``longitude``/``latitude`` (degrees) or
        ``easting``/``northing``; one data variable (or name it with ``value``).
    spacing : float
        Node spacing in coordinate units (degrees for geographic points).
    region : (west, east, south, north), optional
        Default: the points' extent.
    method : {"spline", "cubic", "linear", "nearest", "surface"}
        ``spline``: verde's biharmonic Green's-function spline on block medians (the
        published choice); ``cubic``/``linear``: verde's triangulation interpolators;
        ``nearest``: k-nearest neighbours; ``surface``: GMT surface with ``tension``
        (needs PyGMT).
    damping, mindist : float, optional
        verde ``Spline`` regularisation.
    max_points : int
        The spline solves a dense system: more block medians than this raise a clear error
        (choose a larger spacing or method ``cubic``).
    maxdist : float, optional
        Nodes farther than this from any point are NaN (no extrapolation into empty areas);
        default two spacings. Same units as the coordinates.

    Returns
    -------
    xarray.DataArray
        ``(latitude, longitude)`` or ``(northing, easting)``.
    """
    if method not in REGRID_METHODS:
        msg = f"method must be one of {', '.join(REGRID_METHODS)}; got {method!r}"
        raise ValidationError(msg)
    if not spacing > 0:
        msg = f"spacing must be positive, got {spacing}"
        raise ValidationError(msg)
    if not isinstance(points, xr.Dataset) or "point" not in points.dims:
        msg = "points must be an xarray.Dataset with dimension 'point' (see magnetar.io.read_points)"
        raise ValidationError(msg)
    value = value or next(iter(points.data_vars))
    geographic = "longitude" in points.coords
    xname, yname = ("longitude", "latitude") if geographic else ("easting", "northing")
    x = np.asarray(points[xname].values, float)
    y = np.asarray(points[yname].values, float)
    v = np.asarray(points[value].values, float)
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(v)
    if good.sum() < 3:
        msg = f"need at least 3 finite points to grid, got {int(good.sum())}"
        raise ValidationError(msg)
    x, y, v = x[good], y[good], v[good]
    if region is None:
        region = (x.min(), x.max(), y.min(), y.max())
    west, east, south, north = region
    gx = np.arange(west, east + spacing / 2, spacing)
    gy = np.arange(south, north + spacing / 2, spacing)
    if gx.size < 2 or gy.size < 2:
        msg = f"spacing {spacing} leaves fewer than 2 nodes in region {region}"
        raise ValidationError(msg)
    dims = GEOGRAPHIC if geographic else PROJECTED
    if method == "surface":
        data = _surface(x, y, v, region=(gx[0], gx[-1], gy[0], gy[-1]), spacing=spacing,
                        tension=tension)
    else:
        data = _verde_grid(x, y, v, gx, gy, spacing=spacing, method=method, damping=damping,
                           mindist=mindist, max_points=max_points, geographic=geographic)
    # mask nodes far from data
    vd = require("verde", extra="grids", feature="Regridding")
    mx, my = np.meshgrid(gx, gy)
    maxdist = 2 * spacing if maxdist is None else maxdist
    far = vd.distance_mask((x, y), maxdist=maxdist, coordinates=(mx, my))
    data = np.where(far, data, np.nan)
    attrs = {"units": points[value].attrs.get("units", "nT"), "regrid_method": method,
             "regrid_spacing": float(spacing)}
    return xr.DataArray(data, coords={dims[0]: gy, dims[1]: gx}, dims=dims, name=value,
                        attrs=attrs)


def _verde_grid(x, y, v, gx, gy, *, spacing, method, damping, mindist, max_points, geographic):
    mx, my = np.meshgrid(gx, gy)
    return _fit_predict(x, y, v, mx, my, spacing=spacing, method=method, damping=damping,
                        mindist=mindist, max_points=max_points, geographic=geographic,
                        too_many="raise")


def _fit_predict(x, y, v, qx, qy, *, spacing, method, damping, mindist, max_points, geographic,
                 too_many):
    """Block-reduce (x, y, v), fit a verde gridder and predict at (qx, qy).

    Geographic coordinates are projected (local equirectangular) first. When the spline would
    get more than ``max_points`` block medians, ``too_many="raise"`` raises a clear error and
    ``"coarsen"`` block-reduces more coarsely instead.
    """
    vd = require("verde", extra="grids", feature="Gridding")
    lat0 = float(np.mean(y)) if geographic else 0.0
    px, py = _planar(x, y, lat0) if geographic else (x, y)
    step = spacing * (math.radians(1) * EARTH_RADIUS_M if geographic else 1.0)
    (bx, by), bv = vd.BlockReduce(np.median, spacing=step).filter((px, py), v)
    if method == "spline" and bv.size > max_points:
        if too_many == "raise":
            msg = (f"spline gridding of {bv.size} block medians exceeds max_points={max_points} "
                   f"(a dense {bv.size}x{bv.size} system); use a larger spacing, raise "
                   "max_points, or method='cubic'")
            raise ValidationError(msg)
        factor = math.sqrt(bv.size / max_points)
        (bx, by), bv = vd.BlockReduce(np.median, spacing=step * factor * 1.01).filter(
            (px, py), v)
    if method == "spline":
        gridder = vd.Spline(damping=damping, mindist=mindist)
    elif method == "cubic":
        gridder = vd.Cubic()
    elif method == "linear":
        gridder = vd.Linear()
    else:
        gridder = vd.KNeighbors(k=1)
    gridder.fit((bx, by), bv)
    return gridder.predict(_planar(qx, qy, lat0) if geographic else (qx, qy))


def _surface(x, y, v, *, region, spacing, tension):
    pygmt = require("pygmt", extra="gmt", feature="GMT surface gridding")
    import pandas as pd

    table = pd.DataFrame({"x": x, "y": y, "z": v})
    blocked = pygmt.blockmedian(data=table, region=region, spacing=spacing)
    grid = pygmt.surface(data=blocked, region=region, spacing=spacing, tension=tension)
    return np.asarray(grid.values, float)


def fill_gaps(grid, *, method="spline", max_points=6000, damping=None):
    """Fill NaN holes of a grid by gridding its valid nodes; valid nodes are kept as they are.

    Returns the filled grid; ``attrs['filled_nodes']`` counts the nodes filled.

    Parameters
    ----------
    grid : xarray.DataArray
        Grid with NaN holes.
    method : {"spline", "cubic", "linear", "nearest"}
        How the valid nodes are gridded (:func:`magnetar.grids.regrid`).
    max_points : int
        Valid nodes used at most (evenly decimated beyond).
    damping : float, optional
        Spline damping.

    Returns
    -------
    xarray.DataArray
        The filled grid.
    """
    check_grid(grid)
    holes = ~np.isfinite(grid.values)
    if not holes.any():
        return grid.copy()
    if method not in ("spline", "cubic", "linear", "nearest"):
        msg = f"method must be one of spline, cubic, linear, nearest; got {method!r}"
        raise ValidationError(msg)
    ydim, xdim = grid.dims
    yy, xx = np.meshgrid(grid[ydim].values, grid[xdim].values, indexing="ij")
    ok = ~holes
    filled = grid.values.copy()
    filled[holes] = _fit_predict(
        xx[ok], yy[ok], grid.values[ok], xx[holes], yy[holes],
        spacing=float(np.median(np.diff(grid[xdim].values))), method=method, damping=damping,
        mindist=None, max_points=max_points, geographic=ydim == "latitude", too_many="coarsen")
    return grid.copy(data=filled).assign_attrs(filled_nodes=int(holes.sum()),
                                               fill_method=method)


def svd_denoise(grid, *, energy=0.98, rank=None, randomized=None, seed=0, impute_iter=10):
    """Low-rank denoising: keep the largest singular values of the grid matrix.

    Parameters
    ----------
    energy : float
        Keep the smallest k whose singular values hold this fraction of the energy
        (sum of squared singular values); ignored when ``rank`` is given.
    rank : int, optional
        Keep exactly this many.
    randomized : bool, optional
        Randomized SVD (scikit-learn), doubling k until the energy is reached (the full SVD
        once k would pass a quarter of the smaller dimension); default: for grids with more
        than 1,000 nodes along both axes.
    impute_iter : int
        NaN holes are filled by iterating the low-rank reconstruction this many times; they
        stay NaN in the result.

    Returns
    -------
    xarray.DataArray
        The denoised grid with ``attrs['svd_rank']`` (k) and ``attrs['svd_energy']`` (the
        fraction kept). The removed part is ``grid - result``.
    """
    check_grid(grid)
    if rank is None and not 0 < energy <= 1:
        msg = f"energy must lie in (0, 1], got {energy}"
        raise ValidationError(msg)
    values = np.asarray(grid.values, float)
    if rank is not None and not 1 <= rank <= min(values.shape):
        msg = f"rank must lie in [1, {min(values.shape)}], got {rank}"
        raise ValidationError(msg)
    holes = ~np.isfinite(values)
    work = np.where(holes, np.nanmean(values), values)
    if randomized is None:
        randomized = min(values.shape) > 1000
    iterations = impute_iter if holes.any() else 1
    for _ in range(iterations):
        low, k, kept = _low_rank(work, energy=energy, rank=rank, randomized=randomized,
                                 seed=seed)
        if not holes.any():
            break
        work = np.where(holes, low, values)
    low[holes] = np.nan
    return grid.copy(data=low).assign_attrs(svd_rank=int(k), svd_energy=float(kept))


def _low_rank(a, *, energy, rank, randomized, seed):
    total = float(np.sum(a * a))
    if not randomized:
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        k = rank or int(np.searchsorted(np.cumsum(s**2) / total, energy - 1e-12) + 1)
        k = min(k, s.size)
        return (u[:, :k] * s[:k]) @ vt[:k], k, float(np.sum(s[:k] ** 2) / total)
    extmath = require("sklearn.utils.extmath", extra="grids", feature="Randomized SVD")
    k = rank or 32
    while True:
        u, s, vt = extmath.randomized_svd(a, k, n_oversamples=10, n_iter=4, random_state=seed)
        captured = np.cumsum(s**2) / total
        if rank is not None:
            break
        if captured[-1] >= energy:
            k = int(min(np.searchsorted(captured, energy - 1e-12) + 1, s.size))
            break
        if 2 * k > min(a.shape) // 4:
            # a high rank (noise-dominated grid): the full SVD is cheaper than growing k
            return _low_rank(a, energy=energy, rank=None, randomized=False, seed=seed)
        k = 2 * k
    return (u[:, :k] * s[:k]) @ vt[:k], k, float(np.sum(s[:k] ** 2) / total)
