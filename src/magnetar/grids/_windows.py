"""Sliding windows over anomaly grids, their labels and splits.

Sliding windows over anomaly grids, their labels, train/validation/test splits, and
region maps from window predictions with neighbourhood calibration.

Why written here: the windowing is a thin layer over ``numpy.lib.stride_tricks`` and the
splits over scikit-learn, but two parts of the marine study have no library: the spatially
blocked split (overlapping windows at stride 50 share most of their nodes, so a random
split leaks training nodes into the test set and inflates accuracy), and the published
calibration of uncertain windows from their neighbours (Section "prediction" of the study:
probabilities between 0.3 and 0.7 are replaced by the maximum of the N x N neighbouring
windows when at least half of them exceed 0.5, by the minimum when at least half are below).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from .._utils import atomic_path
from ..errors import FileFormatError, ValidationError
from ..io._grids import check_grid

__all__ = [
    "attach_labels",
    "calibrate_windows",
    "iter_window_batches",
    "normalise_windows",
    "read_window_labels",
    "region_map",
    "sliding_windows",
    "split_windows",
    "write_window_labels",
]

SPLITS = ("train", "val", "test")


def _check_size(shape, size, stride):
    if size < 2 or stride < 1:
        msg = (f"window size (--size) must be >= 2 and stride (--stride) >= 1, got "
               f"size={size}, stride={stride}")
        raise ValidationError(msg)
    if size > min(shape):
        msg = (f"window size (--size) {size} exceeds the grid: {shape[0]} x {shape[1]} "
               "nodes")
        raise ValidationError(msg)


def normalise_windows(windows, *, clip=(1.0, 99.0)):
    """Per-window normalisation to [0, 1] (float32).

    ``clip=(lo, hi)`` maps the window's ``lo``-th and ``hi``-th percentiles to 0 and 1 and
    clips beyond (robust: one gridding overshoot or seamount peak of thousands of nT would
    otherwise squeeze the spreading fabric of the whole window into a few grey levels);
    ``clip=None`` (or ``(0, 100)``) is the study's plain min-max. NaN nodes take the window's mean (also when
    the percentiles are taken, which pulls them slightly inwards for gappy windows); a
    constant window becomes 0.5.

    Parameters
    ----------
    windows : numpy.ndarray
        (..., H, W) windows.
    clip : (float, float) or None
        Percentiles mapped to 0 and 1.

    Returns
    -------
    numpy.ndarray
        float32 windows in [0, 1].
    """
    w = np.asarray(windows, dtype=np.float32)
    flat = w.reshape(len(w), -1)
    finite = np.isfinite(flat)
    counts = finite.sum(axis=1)
    mean = np.where(finite, flat, 0).sum(axis=1) / np.maximum(counts, 1)
    if not finite.all():
        flat = np.where(finite, flat, mean[:, None])
    if clip is None:
        lo, hi = flat.min(axis=1), flat.max(axis=1)
    else:
        q_lo, q_hi = clip
        if not 0 <= q_lo < q_hi <= 100:
            msg = f"clip must be percentiles 0 <= lo < hi <= 100, got {clip!r}"
            raise ValidationError(msg)
        lo, hi = np.percentile(flat, [q_lo, q_hi], axis=1)
    span = hi - lo
    ok = (counts > 0) & np.isfinite(span) & (span > 0)
    scaled = (flat - np.where(ok, lo, 0)[:, None]) / np.where(ok, span, 1)[:, None]
    scaled = np.clip(scaled, 0.0, 1.0)
    scaled[~ok] = 0.5
    return scaled.reshape(w.shape).astype(np.float32)


def _origins(shape, size, stride):
    rows = np.arange(0, shape[0] - size + 1, stride)
    cols = np.arange(0, shape[1] - size + 1, stride)
    return rows, cols


def sliding_windows(grid, *, size=250, stride=50, min_valid=0.5, normalise=True,
                    clip=(1.0, 99.0)):
    """Cut a grid into square windows.

    Parameters
    ----------
    grid : xarray.DataArray
        2-D anomaly grid (NaN = no data).
    size, stride : int
        Window side and step in nodes (the study: 250 and 50 for training, 10 for maps).
    min_valid : float
        Windows with a smaller fraction of finite nodes are dropped.
    normalise : bool
        Per-window scaling to [0, 1] (:func:`normalise_windows`).
    clip : (float, float) or None
        Percentiles mapped to 0 and 1 (None: plain min-max).

    Returns
    -------
    windows : ndarray (N, size, size) float32
    table : pandas.DataFrame
        ``row``, ``col`` (top-left node), ``centre_<dim>`` for both grid dimensions (the
        coordinate of the window's centre) and ``valid_fraction``.
    """
    check_grid(grid)
    values = np.asarray(grid.values, dtype=np.float32)
    _check_size(values.shape, size, stride)
    rows, cols = _origins(values.shape, size, stride)
    view = sliding_window_view(values, (size, size))[::stride, ::stride]
    finite = sliding_window_view(np.isfinite(values), (size, size))[::stride, ::stride]
    valid = finite.mean(axis=(-2, -1)).ravel()
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    keep = valid >= min_valid
    windows = view.reshape(-1, size, size)[keep]
    windows = normalise_windows(windows, clip=clip) if normalise else np.array(windows)
    table = _centres(grid, r[keep], c[keep], size)
    table["valid_fraction"] = valid[keep]
    return windows, table.reset_index(drop=True)


def _centres(grid, rows, cols, size):
    ydim, xdim = grid.dims
    y = np.asarray(grid[ydim].values, float)
    x = np.asarray(grid[xdim].values, float)
    half = (size - 1) / 2
    return pd.DataFrame({
        "row": rows, "col": cols,
        f"centre_{ydim}": np.interp(rows + half, np.arange(y.size), y),
        f"centre_{xdim}": np.interp(cols + half, np.arange(x.size), x),
    })


def iter_window_batches(values, *, size, stride, batch_size=256, clip=(1.0, 99.0)):
    """Yield batches of normalised windows without holding them all.

    Yield ``(rows, cols, normalised windows)`` batches over a 2-D array without holding
    every window in memory (a strided view is cut batch by batch); ``clip`` as in
    :func:`normalise_windows`.

    Parameters
    ----------
    values : numpy.ndarray
        2-D grid values.
    size, stride : int
        Window side and step (nodes).
    batch_size : int
        Windows per batch.
    clip : (float, float) or None
        Percentile clipping of :func:`normalise_windows`.

    Yields
    ------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Lattice rows and columns of the batch and its (batch, size, size) windows.
    """
    values = np.asarray(values, dtype=np.float32)
    _check_size(values.shape, size, stride)
    rows, cols = _origins(values.shape, size, stride)
    view = sliding_window_view(values, (size, size))[::stride, ::stride]
    r, c = (a.ravel() for a in np.meshgrid(np.arange(rows.size), np.arange(cols.size),
                                          indexing="ij"))
    for i in range(0, r.size, batch_size):
        rr, cc = r[i:i + batch_size], c[i:i + batch_size]
        yield rr, cc, normalise_windows(view[rr, cc], clip=clip)


# ---------------------------------------------------------------------------------- labels

def write_window_labels(table, path):
    """Write window centres and labels as CSV, atomically.

    Write window centres and labels as CSV (``centre_*`` columns, ``label``: 1 linear,
    0 non-linear, -1 ambiguous), atomically.

    Parameters
    ----------
    table : pandas.DataFrame
        Two ``centre_*`` columns and ``label``.
    path : path-like
        Output CSV.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    centre = [c for c in table.columns if c.startswith("centre_")]
    if len(centre) != 2 or "label" not in table:
        msg = "a label table needs two centre_* columns and a label column"
        raise ValidationError(msg)
    with atomic_path(path, suffix=".csv") as tmp:
        table[[*centre, "label"]].to_csv(tmp, index=False)
    return Path(path)


def read_window_labels(path):
    """Read a label CSV written by :func:`write_window_labels` or by hand.

    Labels may be 1/0/-1 or ``linear``/``nonlinear``/``ambiguous`` (or empty = ambiguous).
    Malformed rows raise :class:`~magnetar.errors.FileFormatError` with the line number.

    Parameters
    ----------
    path : path-like
        The CSV file.

    Returns
    -------
    pandas.DataFrame
        ``centre_*`` columns and ``label``.
    """
    path = Path(path)
    words = {"1": 1, "linear": 1, "0": 0, "nonlinear": 0, "non-linear": 0, "-1": -1,
             "ambiguous": -1, "": -1}
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as err:
        msg = f"cannot open label file ({err.strerror})"
        raise FileFormatError(msg, path=path) from None
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            msg = "empty label file"
            raise FileFormatError(msg, path=path, line=1)
        header = [h.strip() for h in header]
        centre = [h for h in header if h.startswith("centre_")]
        if len(centre) != 2 or "label" not in header:
            msg = f"header must have two centre_* columns and 'label'; found {header}"
            raise FileFormatError(msg, path=path, line=1)
        idx = [header.index(h) for h in (*centre, "label")]
        rows = []
        for number, parts in enumerate(reader, start=2):
            if not parts or not "".join(parts).strip():
                continue
            if len(parts) != len(header):
                msg = f"expected {len(header)} fields, found {len(parts)}"
                raise FileFormatError(msg, path=path, line=number)
            try:
                y, x = float(parts[idx[0]]), float(parts[idx[1]])
            except ValueError:
                msg = f"non-numeric centre coordinate {parts[idx[0]]!r}, {parts[idx[1]]!r}"
                raise FileFormatError(msg, path=path, line=number) from None
            label = parts[idx[2]].strip().lower()
            if label not in words:
                msg = f"label must be 1, 0, -1 (or linear/nonlinear/ambiguous), got {label!r}"
                raise FileFormatError(msg, path=path, line=number)
            rows.append((y, x, words[label]))
    if not rows:
        msg = "no labelled windows"
        raise FileFormatError(msg, path=path)
    return pd.DataFrame(rows, columns=[*centre, "label"])


def attach_labels(table, labels, *, tolerance):
    """Label windows from the nearest labelled centre.

    Give each window of ``table`` the label of the labelled centre within ``tolerance``
    (coordinate units) of its centre; -1 where none is.

    Parameters
    ----------
    table : pandas.DataFrame
        Windows with ``centre_*`` columns (:func:`sliding_windows`).
    labels : pandas.DataFrame
        Labelled centres (:func:`read_window_labels`).
    tolerance : float
        Largest centre distance (coordinate units).

    Returns
    -------
    pandas.DataFrame
        ``table`` with a ``label`` column.
    """
    centre = [c for c in table.columns if c.startswith("centre_")]
    if [c for c in labels.columns if c.startswith("centre_")] != centre:
        msg = f"label centres {list(labels.columns)} do not match the windows' {centre}"
        raise ValidationError(msg)
    from scipy.spatial import cKDTree

    tree = cKDTree(labels[centre].to_numpy())
    dist, idx = tree.query(table[centre].to_numpy())
    out = np.where(dist <= tolerance, labels["label"].to_numpy()[idx], -1)
    return table.assign(label=out.astype(int))


# ---------------------------------------------------------------------------------- splits

def split_windows(table, *, method="blocked", fractions=(0.6, 0.2, 0.2), size=None,
                  block=None, seed=0):
    """Assign windows to train/val/test.

    Parameters
    ----------
    table : DataFrame
        ``row``, ``col``, ``label`` (ambiguous -1 are never assigned) and optionally
        ``group`` (windows of different groups, e.g. separate grids, never share nodes).
    method : {"blocked", "random"}
        "random": stratified by label (scikit-learn), the study's split, which leaks
        overlapping windows. "blocked" (default): square blocks of ``block`` nodes
        (default ``3 * size``) per group are dealt to the splits in the given proportions,
        stratified by their share of linear windows; a window whose footprint reaches a
        block of another split is dropped, so no node is in two splits.
    size : int
        Window size in nodes (needed by "blocked").

    Returns
    -------
    ndarray of str
        "train", "val", "test", or "" (ambiguous, or dropped at a block boundary).
    """
    fractions = np.asarray(fractions, float)
    if fractions.shape != (3,) or np.any(fractions < 0) or not math.isclose(fractions.sum(), 1):
        msg = f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        raise ValidationError(msg)
    label = table["label"].to_numpy()
    out = np.full(len(table), "", dtype=object)
    usable = np.flatnonzero(label >= 0)
    if usable.size < 3:
        msg = f"need at least 3 labelled windows to split, got {usable.size}"
        raise ValidationError(msg)
    if method == "random":
        from sklearn.model_selection import train_test_split

        strat = label[usable] if np.bincount(label[usable]).min() >= 3 else None
        rest_frac = fractions[1] + fractions[2]
        train, rest = train_test_split(usable, test_size=rest_frac, random_state=seed,
                                       stratify=strat)
        strat_rest = label[rest] if strat is not None and np.bincount(label[rest]).min() >= 2 \
            else None
        val, test = train_test_split(rest, test_size=fractions[2] / rest_frac,
                                     random_state=seed + 1, stratify=strat_rest)
        out[train], out[val], out[test] = "train", "val", "test"
        return out.astype(str)
    if method != "blocked":
        msg = f"method must be 'blocked' or 'random', got {method!r}"
        raise ValidationError(msg)
    if size is None:
        msg = "the blocked split needs the window size (size=)"
        raise ValidationError(msg)
    block = int(block or 3 * size)
    group = table["group"].to_numpy() if "group" in table else np.zeros(len(table), int)
    rows, cols = table["row"].to_numpy(), table["col"].to_numpy()
    half = size // 2
    key = pd.MultiIndex.from_arrays([group, (rows + half) // block, (cols + half) // block])
    blocks = pd.DataFrame({"key": key, "linear": label == 1, "usable": label >= 0})
    stats = blocks[blocks.usable].groupby("key").linear.mean()
    rng = np.random.default_rng(seed)
    order = stats.index[np.lexsort((rng.random(len(stats)), stats.to_numpy()))]
    # deal consecutive runs of similar blocks in the proportions (stratification)
    pattern = np.repeat(np.arange(3), np.round(fractions * 10).astype(int))
    assign = {}
    for start in range(0, len(order), len(pattern)):
        chunk = order[start:start + len(pattern)]
        deal = rng.permutation(pattern)[:len(chunk)]
        assign.update(zip(chunk, deal, strict=True))
    for i in usable:
        g = group[i]
        touched = {assign.get((g, br, bc), -1)
                   for br in range(rows[i] // block, (rows[i] + size - 1) // block + 1)
                   for bc in range(cols[i] // block, (cols[i] + size - 1) // block + 1)}
        touched.discard(-1)
        own = assign[key[i]]
        if touched == {own}:
            out[i] = SPLITS[own]
    return out.astype(str)


# ----------------------------------------------------------------------- maps, calibration

def calibrate_windows(prob, *, neighbourhood=25, low=0.3, high=0.7, mask=None):
    """Return the study's calibration of uncertain window probabilities from their neighbours.

    Parameters
    ----------
    prob : ndarray (rows, cols)
        Window probabilities on their stride lattice (NaN = no window).
    neighbourhood : int
        N of the N x N neighbouring windows (odd; the study: 25).
    low, high : float
        Predictions in [low, high] are uncertain; the others are kept.
    mask : bool ndarray, optional
        True where calibration is switched off (e.g. across trenches).

    Returns
    -------
    ndarray
        For an uncertain window: the neighbourhood maximum when at least half of its
        neighbours exceed 0.5, else the minimum when at least half are below 0.5, else
        unchanged.
    """
    p = np.asarray(prob, dtype=float)
    if neighbourhood < 1 or neighbourhood % 2 == 0:
        msg = f"neighbourhood must be a positive odd number, got {neighbourhood}"
        raise ValidationError(msg)
    if not 0 <= low <= high <= 1:
        msg = f"need 0 <= low <= high <= 1, got low={low}, high={high}"
        raise ValidationError(msg)
    finite = np.isfinite(p)
    n = ndimage.uniform_filter(finite.astype(float), neighbourhood, mode="constant")
    above = ndimage.uniform_filter((finite & (p > 0.5)).astype(float), neighbourhood,
                                   mode="constant")
    below = ndimage.uniform_filter((finite & (p < 0.5)).astype(float), neighbourhood,
                                   mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_above, frac_below = above / n, below / n
    hi = ndimage.maximum_filter(np.where(finite, p, -np.inf), neighbourhood, mode="constant",
                                cval=-np.inf)
    lo = ndimage.minimum_filter(np.where(finite, p, np.inf), neighbourhood, mode="constant",
                                cval=np.inf)
    uncertain = finite & (p >= low) & (p <= high)
    if mask is not None:
        uncertain &= ~np.asarray(mask, bool)
    out = p.copy()
    up = uncertain & (frac_above >= 0.5 - 1e-12)
    down = uncertain & ~up & (frac_below >= 0.5 - 1e-12)
    out[up] = hi[up]
    out[down] = lo[down]
    return out


def region_map(grid, window_prob, *, size, stride, calibrate=True, neighbourhood=25,
               low=0.3, high=0.7, calibration_mask=None, threshold=0.5):
    """Turn window probabilities on the stride lattice into node grids.

    Each window's prediction is given to its central ``stride x stride`` cell (the study's
    rule); nodes no central cell covers (a border of about ``size / 2``) are NaN.

    Parameters
    ----------
    grid : DataArray
        The predicted grid (for coordinates and shape).
    window_prob : ndarray (rows, cols)
        Probabilities of the windows at ``rows = arange(0, ny - size + 1, stride)`` etc.
    calibration_mask : bool DataArray/ndarray of the grid's shape, optional
        True where calibration is off; sampled at window centres.

    Returns
    -------
    xarray.Dataset
        ``probability`` (raw), ``probability_calibrated``, ``linear`` (1/0, -1 = no
        prediction) with the grid's coordinates; ``attrs['linear_percentage']`` is the share
        of predicted nodes classed linear.
    """
    check_grid(grid)
    ny, nx = grid.shape
    rows, cols = _origins((ny, nx), size, stride)
    prob = np.asarray(window_prob, float)
    if prob.shape != (rows.size, cols.size):
        msg = (f"window probabilities have shape {prob.shape}, expected "
               f"{(rows.size, cols.size)} for size {size} and stride {stride}")
        raise ValidationError(msg)
    lattice_mask = None
    if calibration_mask is not None:
        m = np.asarray(calibration_mask, bool)
        if m.shape != (ny, nx):
            msg = f"calibration mask shape {m.shape} differs from the grid's {(ny, nx)}"
            raise ValidationError(msg)
        lattice_mask = m[np.ix_(rows + size // 2, cols + size // 2)]
    calibrated = (calibrate_windows(prob, neighbourhood=neighbourhood, low=low, high=high,
                                    mask=lattice_mask) if calibrate else prob)
    off = size // 2 - stride // 2
    raw_nodes = np.full((ny, nx), np.nan)
    cal_nodes = np.full((ny, nx), np.nan)
    block = np.ones((stride, stride))
    raw_nodes[off:off + rows.size * stride, off:off + cols.size * stride] = np.kron(prob, block)
    cal_nodes[off:off + rows.size * stride, off:off + cols.size * stride] = np.kron(calibrated,
                                                                                   block)
    linear = np.where(np.isfinite(cal_nodes), (cal_nodes > threshold).astype(np.int8), -1)
    predicted = linear >= 0
    pct = float(100 * (linear[predicted] == 1).mean()) if predicted.any() else float("nan")
    return region_dataset(grid, raw_nodes, cal_nodes, linear, attrs={
        "linear_percentage": pct, "window_size": size, "stride": stride,
        "calibrated": int(bool(calibrate)), "neighbourhood": neighbourhood, "low": low,
        "high": high, "threshold": threshold})


def pad_edges(grid, *, size, stride):
    """Reflect a grid across its edges so that window maps cover every node.

    A window's prediction goes to its central ``stride x stride`` cell, so without padding
    a border of about ``size / 2`` nodes gets none (42 % of a 512-node tile at 250-node
    windows). Reflecting ``size // 2`` nodes before and ``size // 2 + stride`` after each
    axis puts a window centre over every original node; edge windows then see mirrored
    data (the usual boundary condition of image filters).

    Parameters
    ----------
    grid : xarray.DataArray
        2-D grid with regularly spaced coordinates (NumPy or Dask backed).
    size, stride : int
        Window size and stride (nodes).

    Returns
    -------
    padded : xarray.DataArray
        The reflected grid, its coordinates extended at the same spacing, attrs kept.
    crop : dict
        ``{dim: slice}`` giving the original nodes back (``padded.isel(crop)``).
    """
    check_grid(grid)
    lo, hi = size // 2, size // 2 + stride
    padded = grid.pad({d: (lo, hi) for d in grid.dims}, mode="reflect")
    coords = {}
    for dim in grid.dims:
        c = np.asarray(grid[dim].values, dtype=float)
        step = c[1] - c[0] if c.size > 1 else 1.0
        coords[dim] = np.concatenate([c[0] - step * np.arange(lo, 0, -1), c,
                                      c[-1] + step * np.arange(1, hi + 1)])
    padded = padded.assign_coords(coords)
    padded.attrs = dict(grid.attrs)
    return padded, {d: slice(lo, lo + n) for d, n in zip(grid.dims, grid.shape, strict=True)}


def crop_map(result, crop):
    """Cut a region map made on a :func:`pad_edges` grid back to the original nodes.

    Parameters
    ----------
    result : xarray.Dataset
        The map of the padded grid (:func:`region_map`).
    crop : dict
        The ``crop`` of :func:`pad_edges`.

    Returns
    -------
    xarray.Dataset
        The map on the original nodes; ``linear_percentage`` recomputed there and
        ``attrs['edges'] = "reflect"``.
    """
    out = result.isel(crop)
    linear = out["linear"].values
    predicted = linear >= 0
    out.attrs["linear_percentage"] = (float(100 * (linear[predicted] == 1).mean())
                                      if predicted.any() else float("nan"))
    out.attrs["edges"] = "reflect"
    return out


def region_dataset(grid, raw, calibrated, linear, *, attrs):
    """Return the node maps of a region map as a Dataset on the grid's coordinates.

    Parameters
    ----------
    grid : xarray.DataArray
        The grid the maps belong to (coordinates).
    raw, calibrated, linear : array-like
        Node maps (NumPy, or Dask on the chunked path).
    attrs : dict
        Attributes of the map (linear percentage, window size, ...).

    Returns
    -------
    xarray.Dataset
        ``probability``, ``probability_calibrated`` and ``linear``.
    """
    dims = grid.dims
    return xr.Dataset(
        {"probability": (dims, raw, {"long_name": "window probability of linear"}),
         "probability_calibrated": (dims, calibrated,
                                    {"long_name": "calibrated probability of linear"}),
         "linear": (dims, linear, {"long_name": "linear (1), non-linear (0), none (-1)"})},
        coords={d: grid[d] for d in dims}, attrs=attrs)
