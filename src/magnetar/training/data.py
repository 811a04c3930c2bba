"""Tiles and corruption for denoising (NumPy; no torch needed).

A *tile stack* is a float array ``(N, H, W)`` in nT. Corruption is seeded and made on the
fly, so each epoch sees new noise and new masks of the same clean tiles.
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError

__all__ = [
    "MASK_KINDS",
    "corrupt",
    "cut_tiles",
    "denormalise",
    "normalise",
    "resample_grid",
    "split_columns",
]

MASK_KINDS = ("random", "tracks")


def resample_grid(values, *, spacing, new_spacing):
    """Resample a 2-D array from ``spacing`` to ``new_spacing`` (same units).

    Coarsening block-averages first (no aliasing), then interpolates linearly; NaN nodes
    stay NaN (a coarse node is NaN when any contributing node is).

    Parameters
    ----------
    values : numpy.ndarray
        2-D grid.
    spacing, new_spacing : float
        Old and new node spacing.

    Returns
    -------
    numpy.ndarray
        The resampled grid.
    """
    from scipy import ndimage

    values = np.asarray(values, float)
    if spacing <= 0 or new_spacing <= 0:
        msg = f"spacings must be positive, got {spacing} and {new_spacing}"
        raise ValidationError(msg)
    ratio = new_spacing / spacing
    if abs(ratio - 1) < 1e-9:
        return values.copy()
    nan = ~np.isfinite(values)
    filled = np.where(nan, 0.0, values)
    if ratio > 1:
        size = max(1, round(ratio))
        filled = ndimage.uniform_filter(filled, size, mode="nearest")
        nan = ndimage.maximum_filter(nan, size, mode="nearest")
    zoom = 1 / ratio
    out = ndimage.zoom(filled, zoom, order=1, mode="nearest", grid_mode=False)
    bad = ndimage.zoom(nan.astype(float), zoom, order=1, mode="nearest", grid_mode=False)
    return np.where(bad > 0, np.nan, out)


def split_columns(values, *, test_fraction=0.25, buffer=0, axis=1):
    """Split a grid into a training part and a spatially separate test part.

    ``axis=1``: western columns for training, eastern for testing; ``axis=0``: southern
    rows (first) for training, northern for testing. ``buffer`` columns (rows) between them
    are dropped, so tiles of that width cannot overlap both sides.

    Parameters
    ----------
    values : numpy.ndarray
        2-D grid.
    test_fraction : float
        Share of columns (rows) for testing.
    buffer : int
        Columns (rows) left out between the parts.
    axis : int
        1 columns, 0 rows.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The training and test parts.

    Returns
    -------
    (train, test) : arrays
    """
    values = np.asarray(values)
    if not 0 < test_fraction < 1:
        msg = f"test_fraction must be in (0, 1), got {test_fraction}"
        raise ValidationError(msg)
    if axis not in (0, 1):
        msg = f"axis must be 0 (rows) or 1 (columns), got {axis}"
        raise ValidationError(msg)
    cut = round(values.shape[axis] * (1 - test_fraction))
    if axis == 1:
        return values[:, : max(cut - buffer, 0)], values[:, cut:]
    return values[: max(cut - buffer, 0)], values[cut:]


def cut_tiles(values, *, size, n=None, stride=None, seed=0, max_nan=0.0,
              return_positions=False):
    """Cut square tiles from a grid.

    Parameters
    ----------
    values : 2-D array
    size : int
        Tile side in nodes.
    n : int, optional
        Number of random tile positions (seeded); or give ``stride`` for a regular cut.
    max_nan : float
        Largest fraction of NaN nodes a tile may hold (0: complete tiles only).
    return_positions : bool
        Also return the tiles' top-left (row, column) nodes.

    Returns
    -------
    numpy.ndarray
        ``(N, size, size)``; fewer than ``n`` when the grid has too few valid positions;
        with ``return_positions`` a tuple (tiles, (N, 2) int array).
    """
    values = np.asarray(values, float)
    ny, nx = values.shape
    empty = (np.empty((0, size, size)), np.empty((0, 2), dtype=int))
    if size > min(ny, nx):
        return empty if return_positions else empty[0]
    if (n is None) == (stride is None):
        msg = "give exactly one of n (random tiles) or stride (regular tiles)"
        raise ValidationError(msg)
    nan = ~np.isfinite(values)
    integral = np.pad(nan.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    if stride is not None:
        rr, cc = np.meshgrid(np.arange(0, ny - size + 1, stride),
                             np.arange(0, nx - size + 1, stride), indexing="ij")
        rows, cols = rr.ravel(), cc.ravel()
    else:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, ny - size + 1, size=4 * n)
        cols = rng.integers(0, nx - size + 1, size=4 * n)
    bad = (integral[rows + size, cols + size] - integral[rows, cols + size]
           - integral[rows + size, cols] + integral[rows, cols]) / size**2
    keep = bad <= max_nan
    rows, cols = rows[keep], cols[keep]
    if n is not None:
        rows, cols = rows[:n], cols[:n]
    if rows.size == 0:
        return empty if return_positions else empty[0]
    idx = np.arange(size)
    tiles = values[(rows[:, None] + idx)[:, :, None], (cols[:, None] + idx)[:, None, :]]
    return (tiles, np.column_stack([rows, cols])) if return_positions else tiles


def _track_mask(rng, shape, fraction):
    """Keep-mask made of straight random lines until ``1 - fraction`` of pixels is known."""
    h, w = shape
    known = np.zeros(shape, dtype=bool)
    target = 1 - fraction
    for _ in range(10 * (h + w)):
        if known.mean() >= target:
            break
        angle = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.arange(-h - w, h + w, 0.5)
        y = np.round(cy + t * np.sin(angle)).astype(int)
        x = np.round(cx + t * np.cos(angle)).astype(int)
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        known[y[ok], x[ok]] = True
    return known


def corrupt(tiles, *, mask_fraction=0.5, noise_nT=0.0, heavy_tail=0.0, mask_kind="random",
            seed=0):
    """Add noise and hide pixels of clean tiles.

    Parameters
    ----------
    tiles : array (N, H, W)
        Clean tiles in nT (NaN already unknown).
    mask_fraction : float or array (N,)
        Fraction of pixels hidden, in [0, 1) (one per tile when an array).
    noise_nT : float or array (N,)
        Standard deviation of the additive noise (one per tile when an array).
    heavy_tail : float
        Fraction of noisy samples drawn from a Student-t (3 degrees of freedom, same scale)
        instead of a Gaussian: the outliers of phone magnetometers.
    mask_kind : {"random", "tracks"}
        Random pixels, or straight lines (walks and drives).

    Returns
    -------
    (corrupted, known) : arrays (N, H, W)
        ``corrupted`` is NaN where ``known`` is False.
    """
    tiles = np.asarray(tiles, float)
    if tiles.ndim != 3:
        msg = f"tiles must be (N, H, W), got shape {tiles.shape}"
        raise ValidationError(msg)
    fractions = np.broadcast_to(np.asarray(mask_fraction, float), (tiles.shape[0],))
    if not ((fractions >= 0) & (fractions < 1)).all():
        msg = f"mask_fraction must be in [0, 1), got {mask_fraction}"
        raise ValidationError(msg)
    if mask_kind not in MASK_KINDS:
        msg = f"mask_kind must be one of {', '.join(MASK_KINDS)}; got {mask_kind!r}"
        raise ValidationError(msg)
    noise_nT = np.asarray(noise_nT, float)
    if noise_nT.ndim == 1 and noise_nT.shape[0] != tiles.shape[0]:
        msg = f"noise_nT has {noise_nT.shape[0]} values for {tiles.shape[0]} tiles"
        raise ValidationError(msg)
    noise_nT = noise_nT.reshape(-1, 1, 1) if noise_nT.ndim == 1 else noise_nT
    if (noise_nT < 0).any() or not 0 <= heavy_tail <= 1:
        msg = f"need noise_nT >= 0 and 0 <= heavy_tail <= 1; got {noise_nT}, {heavy_tail}"
        raise ValidationError(msg)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(tiles.shape)
    if heavy_tail:
        heavy = rng.random(tiles.shape) < heavy_tail
        noise[heavy] = rng.standard_t(3, size=int(heavy.sum())) / np.sqrt(3.0)  # unit variance
    noisy = tiles + noise_nT * noise
    if mask_kind == "random":
        known = rng.random(tiles.shape) >= fractions[:, None, None]
    else:
        known = np.stack([_track_mask(rng, tiles.shape[1:], f) for f in fractions])
    known &= np.isfinite(tiles)
    return np.where(known, noisy, np.nan), known


def normalise(corrupted, known):
    """Per-tile standardisation from the known pixels: ``(z, mean, scale)``.

    ``z`` is 0 where unknown; ``mean`` and ``scale`` are ``(N, 1, 1)`` arrays (scale >= 1e-6)
    for :func:`denormalise`.

    Parameters
    ----------
    corrupted : numpy.ndarray
        (N, H, W) tiles.
    known : numpy.ndarray of bool
        Known pixels.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``z``, ``mean`` and ``scale``.
    """
    c = np.where(known, corrupted, np.nan)
    count = known.sum(axis=(1, 2), keepdims=True)
    mean = np.where(count > 0, np.nansum(c, axis=(1, 2), keepdims=True) / np.maximum(count, 1),
                    0.0)
    var = np.nansum((c - mean) ** 2, axis=(1, 2), keepdims=True) / np.maximum(count, 1)
    scale = np.maximum(np.sqrt(var), 1e-6)
    z = np.where(known, (np.nan_to_num(c) - mean) / scale, 0.0)
    return z, mean, scale


def denormalise(z, mean, scale):
    """Inverse of :func:`normalise`.

    Parameters
    ----------
    z : numpy.ndarray
        Normalised tiles.
    mean, scale : numpy.ndarray
        From :func:`normalise`.

    Returns
    -------
    numpy.ndarray
        Tiles in the original units.
    """
    return np.asarray(z) * scale + mean
