"""``lma predict`` on grids larger than memory: windows per Dask chunk, identical maps.

The in-memory path (:func:`.run.predict_grid`) diffuses the grid, classifies every
``size x size`` window at ``stride``, calibrates the window lattice and spreads it over the
nodes. Here the same steps run chunk by chunk:

* the diffusion is Dask's ``map_overlap`` with the diffusion's own reach as halo
  (:func:`magnetar.grids.coherence_diffusion`, equal to the in-memory result);
* the lattice of window origins is cut into blocks of ``block`` x ``block`` windows; a task
  reads the grid rows and columns its windows cover (the block plus ``size - stride``
  nodes: the window's halo), normalises each window as the in-memory path does and runs the
  classifier (loaded once per worker);
* the lattice (``stride^2`` times smaller than the grid: 4 million windows for a grid of
  10^10 nodes at stride 50) is calibrated in memory, so the calibration's 25 x 25
  neighbourhood needs no halo;
* the node maps are built lazily from the lattice and written to netCDF chunk by chunk.
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from ..._dask import close_client, compute, open_client
from ...errors import ValidationError

__all__ = ["predict_grid_chunked"]

THRESHOLD = 0.5  # calibrated probability above which a node is linear (as region_map)


@functools.lru_cache(maxsize=2)
def _classifier(model_path):
    from .run import _model_and_config

    model, _ = _model_and_config(model_path)
    model.eval()
    return model


def _window_block(values, rows, cols, *, model_path, size, clip, batch_size, min_valid):
    """Probabilities of the windows with these origins (relative to ``values``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    from ...grids._windows import normalise_windows
    from ...training.classification import predict_proba

    values = np.asarray(values, dtype=np.float32)
    view = sliding_window_view(values, (size, size))
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    model = _classifier(model_path)
    device = next(model.parameters()).device
    prob = np.empty(r.size)
    for i in range(0, r.size, batch_size):
        w = normalise_windows(view[r[i:i + batch_size], c[i:i + batch_size]], clip=clip)
        prob[i:i + batch_size] = predict_proba(model, w, batch_size=batch_size, device=device)
    valid = np.isfinite(view[r, c]).mean(axis=(-2, -1))
    prob[valid < min_valid] = np.nan
    return prob.reshape(len(rows), len(cols))


def _expand(lattice, shape, chunks, *, offset, stride):
    """Nodes from the window lattice, lazily: node (y, x) takes its window's value."""
    import dask.array as da

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        iy = (np.arange(y0, y1) - offset) // stride
        ix = (np.arange(x0, x1) - offset) // stride
        oky = (np.arange(y0, y1) >= offset) & (iy < lattice.shape[0])
        okx = (np.arange(x0, x1) >= offset) & (ix < lattice.shape[1])
        out = np.full((y1 - y0, x1 - x0), np.nan)
        out[np.ix_(oky, okx)] = lattice[np.ix_(iy[oky], ix[okx])]
        return out

    return da.map_blocks(block, chunks=chunks, dtype=np.float64, meta=np.array((), float))


def _window_tasks(data, rows, cols, *, model_path, config, block, batch_size):
    """One delayed task per block of window origins, on the grid slice those windows cover."""
    import dask

    size = config.size
    tasks, places = [], []
    for i0 in range(0, rows.size, block):
        for j0 in range(0, cols.size, block):
            r, c = rows[i0:i0 + block], cols[j0:j0 + block]
            piece = data[r[0]:r[-1] + size, c[0]:c[-1] + size]
            tasks.append(dask.delayed(_window_block)(
                piece, r - r[0], c - c[0], model_path=str(model_path), size=size,
                clip=tuple(config.clip), batch_size=batch_size, min_valid=config.min_valid))
            places.append((i0, j0))
    return places, tasks


def _lattice_mask(mask, rows, cols, size):
    """Return a (possibly Dask-backed) node mask sampled at the window centres."""
    import dask.array as da

    if mask is None:
        return None
    m = mask.data if isinstance(mask, xr.DataArray) else mask
    centre = size // 2
    return np.asarray(da.asarray(m)[rows + centre][:, cols + centre], bool)


def predict_grid_chunked(grid, model_path, *, config, stride, chunks=2048, block=32,
                         batch_size=128, calibrate=True, calibration_mask=None, workers=1,
                         scheduler=None, client=None, progress=False):
    """Return the region map of :func:`.run.predict_grid`, computed chunk by chunk.

    See the module docstring for the steps and their halos.

    Parameters
    ----------
    grid : xarray.DataArray
        The grid, NumPy- or Dask-backed (``read_grid(path, chunks=...)`` reads it lazily).
    model_path : path-like
        Classifier checkpoint (each worker loads it once).
    config : LMAConfig
        Window size, clip, diffusion, calibration options (as the in-memory path).
    stride : int
        Prediction stride (nodes).
    chunks, block, batch_size : int
        Node chunk size (diffusion, output), windows per task along each axis and per
        forward pass.
    calibrate, calibration_mask :
        As :func:`magnetar.grids.region_map` (the mask may be Dask-backed).
    workers, scheduler, client :
        A local Dask cluster, an existing scheduler or a client (1 worker: this process).

    Returns
    -------
    xarray.Dataset
        ``probability``, ``probability_calibrated``, ``linear`` (Dask-backed) and
        ``attrs["linear_percentage"]``.
    """
    import dask.array as da

    from ...grids import calibrate_windows
    from ...grids._windows import _origins, region_dataset

    size = config.size
    ny, nx = grid.shape
    if min(ny, nx) < size:
        msg = f"the grid is {ny} x {nx} nodes, smaller than the {size} x {size} window"
        raise ValidationError(msg)
    if config.diffuse and "diffusion" not in grid.attrs:
        from ...grids import coherence_diffusion

        sigma, rho, t = config.diffusion
        grid = coherence_diffusion(grid, sigma=sigma, rho=rho, time=t, chunks=(chunks, chunks))
    data = grid.data if not isinstance(grid.data, np.ndarray) else da.from_array(
        grid.data, chunks=(chunks, chunks))
    rows, cols = _origins((ny, nx), size, stride)
    places, tasks = _window_tasks(data, rows, cols, model_path=model_path, config=config,
                                  block=block, batch_size=batch_size)
    own = client is None
    if own:
        client = open_client(workers=workers, scheduler=scheduler)
    try:
        blocks = compute(tasks, client, progress=progress, what="windows")
    finally:
        if own:
            close_client(client)
    prob = np.full((rows.size, cols.size), np.nan)
    for (i0, j0), values in zip(places, blocks, strict=True):
        prob[i0:i0 + values.shape[0], j0:j0 + values.shape[1]] = values
    lattice_mask = _lattice_mask(calibration_mask, rows, cols, size)
    calibrated = (calibrate_windows(prob, neighbourhood=config.neighbourhood, low=config.low,
                                    high=config.high, mask=lattice_mask)
                  if calibrate else prob)
    raw, cal, linear, pct = _node_maps(prob, calibrated, (ny, nx), chunks=chunks,
                                       offset=size // 2 - stride // 2, stride=stride)
    return region_dataset(grid, raw, cal, linear, attrs={
        "linear_percentage": pct, "window_size": size, "stride": stride,
        "calibrated": int(bool(calibrate)), "neighbourhood": config.neighbourhood,
        "low": config.low, "high": config.high, "threshold": THRESHOLD, "chunked": 1})


def _node_maps(prob, calibrated, shape, *, chunks, offset, stride):
    """Lazy node grids of the raw and calibrated lattice, the classes, the linear share."""
    import dask.array as da

    out_chunks = da.core.normalize_chunks((chunks, chunks), shape)
    raw = _expand(prob, shape, out_chunks, offset=offset, stride=stride)
    cal = _expand(calibrated, shape, out_chunks, offset=offset, stride=stride)
    linear = da.where(da.isfinite(cal), (cal > THRESHOLD).astype(np.int8), np.int8(-1))
    finite = np.isfinite(calibrated)  # each window cell covers stride^2 nodes: same share
    pct = float(100 * (calibrated[finite] > THRESHOLD).mean()) if finite.any() else float("nan")
    return raw, cal, linear, pct
