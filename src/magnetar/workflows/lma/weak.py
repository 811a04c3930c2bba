"""Weak-label evaluation of linear-anomaly classifiers on the real EMAG2v3 tiles.

No hand-labelled real windows exist, so labels are built in code from independent registered
data: the EarthByte ocean-crust age grid (``grids/age.3.20.nc``, 20 arc-minutes) decides,
node by node, whether a tile's node is oceanic crust and how old it is.

- linear (1): at least ``min_fraction`` of the window's nodes are oceanic crust whose age
  lies in a time of frequent reversals, so seafloor spreading must have written
  lineations there: younger than the Cretaceous Normal Superchron (C34n, the longest
  normal interval of the time scale: 83.6-125.9 Ma in GTS2012) or between its old end and
  157 Ma (M-series to M29; older crust is the Jurassic Quiet Zone, Tivey et al. 2006);
- non-linear (0): at least ``min_fraction`` of its nodes are continental (no age);
- ambiguous (-1, never scored): everything else, including superchron crust.

Caveats, stated with every result: the age grid is coarse (20'), so margins are blurred;
oceanic crust is not lineated everywhere (fracture zones, seamounts, low-latitude N-S
stripes with little amplitude, gaps in the ship tracks under EMAG2v3); the only tile with
oceanic windows at 250 nodes is 1299 (South Pacific), so the 250-node score is largely
"tile 1299 against the continental tiles". The tiles are a test set only: no model is
trained or tuned on them.

Intervals: windows overlap, so the ROC-AUC's interval is a block bootstrap over squares of
``size`` nodes per tile (a window belongs to the square of its centre).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..._utils import progress_bar, write_text_atomic
from ...errors import ValidationError

__all__ = ["lineated_ages", "real_tile", "run_weak_eval", "weak_labels", "weak_set"]

JURASSIC_QUIET_ZONE_MA = 157.0  # M29; Tivey et al. (2006)
EMAG2V3_TILES = (675, 782, 1164, 1299)


def lineated_ages(*, timescale="GTS2012"):
    """Age ranges (Myr) of oceanic crust that carries reversal lineations.

    Parameters
    ----------
    timescale : str
        A :func:`magnetar.synthetic.read_gpts` scale; its longest normal interval is taken as
        the Cretaceous Normal Superchron.

    Returns
    -------
    list of (float, float)
        ``[(0, superchron young end), (superchron old end, 157)]``.
    """
    from ...synthetic import read_gpts

    chrons = read_gpts(scale=timescale)
    longest = chrons.loc[(chrons["old"] - chrons["young"]).idxmax()]
    return [(0.0, float(longest["young"])), (float(longest["old"]), JURASSIC_QUIET_ZONE_MA)]


def _age_on(grid, age):
    """Return the age grid's value (nearest node) at each node of a geographic grid."""
    lon = ((grid["longitude"] + 180) % 360) - 180
    return age.interp(lat=grid["latitude"], lon=lon, method="nearest").values


def weak_labels(grid, age, *, size, stride, min_fraction=0.9, min_valid=0.5, ranges=None):
    """Weak label of every window of a geographic grid from the ocean-crust age grid.

    Parameters
    ----------
    grid : xarray.DataArray
        (latitude, longitude) anomaly grid (NaN = no data).
    age : xarray.DataArray
        Age grid (``lat``, ``lon``; NaN on continents), Myr.
    size, stride : int
        Windows, in nodes.
    min_fraction : float
        Share of a window's nodes that must agree for a label.
    min_valid : float
        Windows with less data are skipped (label -1).
    ranges : list of (float, float), optional
        Lineated ages (default :func:`lineated_ages`).

    Returns
    -------
    pandas.DataFrame
        ``row``, ``col`` (top-left node), ``label`` (1, 0, -1), ``lineated``, ``continental``
        and ``valid`` fractions.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    if size > min(grid.shape):
        msg = f"window size {size} exceeds the grid {grid.shape}"
        raise ValidationError(msg)
    ranges = lineated_ages() if ranges is None else ranges
    node_age = _age_on(grid, age)
    lineated = np.zeros(node_age.shape, dtype=float)
    for lo, hi in ranges:
        lineated += (node_age >= lo) & (node_age < hi)
    maps = {"lineated": lineated, "continental": np.isnan(node_age).astype(float),
            "valid": np.isfinite(grid.values).astype(float)}
    means = {k: sliding_window_view(v, (size, size))[::stride, ::stride].mean(axis=(-2, -1))
             for k, v in maps.items()}
    r, c = np.meshgrid(np.arange(means["valid"].shape[0]) * stride,
                       np.arange(means["valid"].shape[1]) * stride, indexing="ij")
    label = np.where(means["lineated"] >= min_fraction, 1,
                     np.where(means["continental"] >= min_fraction, 0, -1))
    label = np.where(means["valid"] >= min_valid, label, -1)
    return pd.DataFrame({"row": r.ravel(), "col": c.ravel(), "label": label.ravel(),
                         **{k: v.ravel() for k, v in means.items()}})


def real_tile(label):
    """Return a registered EMAG2v3 tile on the 2 arc-minute lattice (EMAG2v3's own spacing).

    Parameters
    ----------
    label : int
        Tile label (675, 782, 1164, 1299).

    Returns
    -------
    xarray.DataArray
        (latitude, longitude) in nT, linearly resampled to 1/30 degree.
    """
    from ... import datasets
    from ...io import read_emag2v3_tile

    tile = read_emag2v3_tile(datasets.fetch(f"grids/emag2v3_tiles/gts/example_{label}.png"))
    step = 1 / 30
    lat = np.arange(tile.latitude[0], tile.latitude[-1] + step / 2, step)
    lon = np.arange(tile.longitude[0], tile.longitude[-1] + step / 2, step)
    return tile.interp(latitude=lat, longitude=lon)


def weak_set(*, size, stride, tiles=EMAG2V3_TILES, clip=(1.0, 99.0), min_fraction=0.9,
             diffusion=None):
    """Normalised windows and weak labels of the EMAG2v3 tiles.

    Parameters
    ----------
    size, stride : int
        Windows, in nodes of the 2 arc-minute lattice.
    tiles : sequence of int
        Tile labels.
    clip : (float, float)
        Percentile scaling of each window (:func:`magnetar.grids.normalise_windows`).
    min_fraction : float
        See :func:`weak_labels`.
    diffusion : (float, float, float), optional
        Coherence-diffuse each tile first (sigma, rho, time), for models trained so.

    Returns
    -------
    windows : numpy.ndarray
        (N, size, size) float32, labelled windows only.
    table : pandas.DataFrame
        ``tile``, ``row``, ``col``, ``label`` and the fractions of :func:`weak_labels`.
    """
    from ... import datasets
    from ...grids import sliding_windows

    age = xr.open_dataset(datasets.fetch("grids/age.3.20.nc"))["z"].load()
    out_w, out_t = [], []
    for label in tiles:
        grid = real_tile(label)
        if size > min(grid.shape):
            continue
        labels = weak_labels(grid, age, size=size, stride=stride, min_fraction=min_fraction)
        if diffusion is not None:
            from ...grids import coherence_diffusion

            sigma, rho, t = diffusion
            grid = coherence_diffusion(grid, sigma=sigma, rho=rho, time=t)
        windows, table = sliding_windows(grid, size=size, stride=stride, min_valid=0.0,
                                         clip=clip)
        table = table.merge(labels, on=["row", "col"], how="left")
        keep = table["label"].to_numpy() >= 0
        out_w.append(windows[keep])
        out_t.append(table[keep].assign(tile=label))
    if not out_w:
        msg = f"no tile is as large as the {size}-node window"
        raise ValidationError(msg)
    return np.concatenate(out_w), pd.concat(out_t, ignore_index=True)


def _auc(y, p):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")


def block_bootstrap_auc(table, probs, *, size, n_boot=1000, seed=0):
    """ROC-AUC per model with a block-bootstrap interval, and paired differences.

    Parameters
    ----------
    table : pandas.DataFrame
        ``tile``, ``row``, ``col``, ``label`` per window.
    probs : dict of str to numpy.ndarray
        Each model's probability per window.
    size : int
        Block side (nodes); a window belongs to the block of its centre.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Random seed.

    Returns
    -------
    dict
        Per model ``auc`` and ``ci95``; per pair ``"a - b"`` the paired difference's interval.
    """
    rng = np.random.default_rng(seed)
    y = table["label"].to_numpy()
    block = (table["tile"].astype(str) + ":" + ((table["row"] + size // 2) // size).astype(str)
             + ":" + ((table["col"] + size // 2) // size).astype(str)).to_numpy()
    ids, inverse = np.unique(block, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(ids.size)]
    boots = {k: [] for k in probs}
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, ids.size, ids.size)])
        for k, p in probs.items():
            boots[k].append(_auc(y[idx], p[idx]))
    out = {k: {"auc": _auc(y, p), "ci95": np.nanpercentile(boots[k], [2.5, 97.5]).tolist()}
           for k, p in probs.items()}
    names = list(probs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            diff = np.asarray(boots[a]) - np.asarray(boots[b])
            out[f"{a} - {b}"] = {"auc_difference": out[a]["auc"] - out[b]["auc"],
                                 "ci95": np.nanpercentile(diff, [2.5, 97.5]).tolist()}
    return out | {"blocks": int(ids.size)}


def _probabilities(model_paths, *, size, stride):
    """Each model's probabilities on the weak set, windows cut as the model was trained."""
    from ...training.classification import predict_proba
    from .run import _model_and_config

    cache, probs, table = {}, {}, None
    for name, path in model_paths.items():
        model, config = _model_and_config(path, device="cpu")
        key = (tuple(config.clip), tuple(config.diffusion) if config.diffuse else None)
        if key not in cache:
            cache[key] = weak_set(size=size, stride=stride, clip=key[0], diffusion=key[1])
        windows, t = cache[key]
        table = t if table is None else table
        probs[name] = predict_proba(model, windows, batch_size=64, device="cpu")
    return probs, table


def run_weak_eval(model_paths, out, *, sizes=(64, 128, 250), stride=None, n_boot=1000,
                  progress=False):
    """Score classifiers on the weak-labelled real EMAG2v3 windows (a test set only).

    Parameters
    ----------
    model_paths : dict of str to path-like
        Name -> classifier checkpoint.
    out : path-like
        Output folder (``weak_eval.json``).
    sizes : sequence of int
        Window sizes (nodes of the 2 arc-minute lattice).
    stride : int, optional
        Window stride (default a tenth of the size).
    n_boot : int
        Block-bootstrap replicates.
    progress : bool
        Progress bar.

    Returns
    -------
    dict
        Per size: window counts per class and tile, and per model the ROC-AUC with its
        interval, the accuracy at 0.5 and the share of windows called linear per tile.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"labels": "age-grid weak labels (see magnetar.workflows.lma.weak)",
              "lineated_ages_myr": lineated_ages()}
    for size in progress_bar(sizes, enabled=progress, desc="window sizes", unit="size"):
        st = stride or max(1, size // 10)
        probs, table = _probabilities(model_paths, size=size, stride=st)
        entry = {"stride": st, "windows": int(len(table)),
                 "per_tile": table.groupby("tile")["label"].agg(["size", "sum"])
                 .rename(columns={"size": "windows", "sum": "linear_labels"})
                 .to_dict(orient="index"),
                 "scores": block_bootstrap_auc(table, probs, size=size, n_boot=n_boot)}
        for name, p in probs.items():
            y = table["label"].to_numpy()
            entry["scores"][name]["accuracy"] = float(np.mean((p >= 0.5) == (y == 1)))
            entry["scores"][name]["linear_share_per_tile"] = {
                int(t): float(np.mean(p[(table["tile"] == t).to_numpy()] >= 0.5))
                for t in table["tile"].unique()}
        report[str(size)] = entry
        write_text_atomic(out / "weak_eval.json", json.dumps(report, indent=2, default=int))
    return report
