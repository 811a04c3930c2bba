"""The marine grid preprocessing workflow as named steps: outliers, regrid, SVD, diffusion.

Any subset runs, in the published order; every intermediate can be written, and the removed
parts (outliers, SVD residual) are kept so nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from ..._utils import atomic_path, check_number, existing_file, output_file, output_folder
from ...config import save_config
from ...errors import FileFormatError, ValidationError
from ...grids import coherence_diffusion, fill_gaps, iqr_outliers, regrid, svd_denoise
from ...io import read_grid, read_mgd77, read_points, write_grid
from .._pipeline import Pipeline

__all__ = ["PreprocessConfig", "build_preprocess_pipeline", "read_any", "run_preprocess",
           "run_synth_seafloor"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessConfig:
    """Which steps run and with what options (None/False: the step is skipped).

    Attributes
    ----------
    outliers : float or None
        Tukey factor c (1.5 in the published workflow).
    outlier_window : int
        Quartiles local to blocks of this many nodes (:func:`magnetar.grids.iqr_outliers`);
        0: one global fence, as published (which on a global grid removes real continental
        and ridge anomalies).
    regrid_spacing : float or None
        Spacing for gridding points or re-gridding/gap-filling a grid (coordinate units).
    regrid_method : str
        See :func:`magnetar.grids.regrid`.
    svd_energy : float or None
        Energy fraction kept by SVD denoising (0.98 published).
    svd_rank : int or None
        Keep exactly this many singular values instead.
    diffuse : bool
        Run coherence-enhancing diffusion with the parameters below.
    sigma, rho, time, time_step, alpha, c : float
        Diffusion parameters (:class:`magnetar.grids.DiffusionConfig`).
    backend : str
        ``numpy`` or ``torch`` (GPU when available).
    chunks : int or None
        Chunk size in nodes for Dask diffusion of grids larger than memory.
    """

    outliers: float | None = None
    outlier_window: int = 101
    regrid_spacing: float | None = None
    regrid_method: str = "spline"
    svd_energy: float | None = None
    svd_rank: int | None = None
    diffuse: bool = False
    sigma: float = 1.0
    rho: float = 6.0
    time: float = 5.0
    time_step: float = 0.15
    alpha: float = 0.001
    c: float = 1e-10
    backend: str = "numpy"
    chunks: int | None = None

    def __post_init__(self):
        for name in ("outliers", "regrid_spacing", "sigma", "rho", "time", "time_step"):
            value = getattr(self, name)
            if value is not None:
                check_number(value, option=name, minimum=0, inclusive=False)
        check_number(self.outlier_window, option="outlier_window (--outlier-window)", minimum=0,
                     integer=True)
        if 0 < self.outlier_window < 3:
            msg = ("outlier_window (--outlier-window) must be 0 (global) or at least 3 nodes, "
                   f"got {self.outlier_window}")
            raise ValidationError(msg)
        if self.svd_energy is not None:
            check_number(self.svd_energy, option="svd_energy", minimum=0, maximum=1,
                         inclusive=False)
        if self.svd_rank is not None:
            check_number(self.svd_rank, option="svd_rank", minimum=1, integer=True)
        if self.chunks is not None:
            check_number(self.chunks, option="chunks (nodes per Dask chunk)", minimum=16,
                         integer=True)
        if self.backend not in ("numpy", "torch"):
            msg = f"backend must be numpy or torch, got {self.backend!r}"
            raise ValidationError(msg)


MAX_GRID_NODES = 50_000_000  # 400 MB of float64 per grid; the pipeline holds a few


def _check_regrid_size(data, spacing, path):
    """Refuse a spacing that would make a grid too large for memory, with the estimate."""
    dims = [d for d in ("northing", "easting", "latitude", "longitude") if d in data.coords]
    extents = [float(data[d].max() - data[d].min()) for d in dims[:2]]
    nodes = int(np.prod([e / spacing + 1 for e in extents])) if len(extents) == 2 else 0
    if nodes > MAX_GRID_NODES:
        msg = (f"--regrid {spacing:g} would grid {path} onto {nodes:,} nodes "
               f"(~{8 * nodes / 1e9:,.1f} GB per grid; at most {MAX_GRID_NODES:,}): "
               "give a larger spacing (same units as the coordinates)")
        raise ValidationError(msg)


def _read_png(path):
    """Read a PNG tile; an EMAG2v3 tile (``example_<label>.png``) keeps its coordinates."""
    import re

    from ...errors import DataNotFoundError
    from ...io import read_emag2v3_tile, read_png_tile

    match = re.fullmatch(r"example_(\d+)", path.stem)
    if match:
        try:
            return read_emag2v3_tile(path, label=int(match.group(1)))
        except (DataNotFoundError, ValidationError) as err:
            LOGGER.warning("%s: read without geographic coordinates (%s)", path, err)
    return read_png_tile(path)


def read_any(path):
    """Return a grid or points from a file: netCDF grid, MGD77+ cruise, PNG tile or point table."""
    path = existing_file(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".png":
        return _read_png(path)
    if path.suffix.lower() in (".nc", ".grd", ".tif", ".tiff"):
        try:
            with xr.open_dataset(path, decode_times=False) as ds:
                is_cruise = ("time" in ds.dims and "lat" in ds.variables
                             and "mag" in ds.variables)
        except (OSError, ValueError, RuntimeError) as err:
            msg = f"not a readable netCDF file ({err})"
            raise FileFormatError(msg, path=path) from None
        return read_mgd77(path) if is_cruise else read_grid(path)
    if suffix.endswith((".csv", ".txt", ".xyz", ".csv.xz", ".xz", ".dat")):
        return read_points(path)
    msg = f"{path}: unknown file type (expected .nc/.grd/.tif grid, .png tile or a point table)"
    raise ValidationError(msg)


def _step_outliers(ctx, *, c, window):
    data = ctx["grid"]
    if isinstance(data, xr.Dataset):  # points: the same fences, outlying points dropped
        name = next(iter(data.data_vars))
        values = data[name].values
        q1, q3 = np.nanpercentile(values, [25, 75])
        keep = (values >= q1 - c * (q3 - q1)) & (values <= q3 + c * (q3 - q1))
        LOGGER.info("outliers: %d of %d points removed", int((~keep).sum()), keep.size)
        return {"grid": data.isel(point=keep), "outlier_points": data.isel(point=~keep)}
    cleaned, mask = iqr_outliers(data, c=c, window=window)
    LOGGER.info("outliers: %d nodes outside %s", int(mask.sum()), cleaned.attrs["outlier_bounds"])
    return {"grid": cleaned, "outliers": ctx["grid"].where(mask), "outliers_removed": cleaned}


def _step_regrid(ctx, *, spacing, method):
    data = ctx["grid"]
    if isinstance(data, xr.Dataset):
        out = regrid(data, spacing=spacing, method=method)
    else:
        ydim, xdim = data.dims
        points = data.stack(point=(ydim, xdim)).reset_index("point").to_dataset(name="anomaly")
        points = points.where(np.isfinite(points["anomaly"]), drop=True)
        out = regrid(points, spacing=spacing, method=method,
                     region=(float(data[xdim].min()), float(data[xdim].max()),
                             float(data[ydim].min()), float(data[ydim].max())))
    # fill small interior holes left by the gridder (no extrapolation beyond the data)
    if np.isnan(out.values).any() and np.isfinite(out.values).any():
        out = fill_gaps(out, method="cubic" if method == "spline" else method)
    return {"grid": out, "regridded": out}


def _step_svd(ctx, *, energy, rank):
    grid = ctx["grid"]
    out = svd_denoise(grid, energy=energy or 0.98, rank=rank)
    LOGGER.info("SVD: kept k=%d singular values (%.3f of the energy)", out.attrs["svd_rank"],
                out.attrs["svd_energy"])
    return {"grid": out, "svd": out, "svd_removed": grid - out}


def _step_diffuse(ctx, *, config):
    out = coherence_diffusion(
        ctx["grid"], sigma=config.sigma, rho=config.rho, time=config.time,
        time_step=config.time_step, alpha=config.alpha, c=config.c, backend=config.backend,
        chunks=None if config.chunks is None else (config.chunks, config.chunks),
        progress=True)
    return {"grid": out, "diffused": out}


def build_preprocess_pipeline(config):
    """Return the selected steps as a :class:`Pipeline` over a context holding ``grid``."""
    steps = []
    if config.outliers is not None:
        steps.append(("outliers", partial(_step_outliers, c=config.outliers,
                                          window=config.outlier_window or None)))
    if config.regrid_spacing is not None:
        steps.append(("regrid", partial(_step_regrid, spacing=config.regrid_spacing,
                                        method=config.regrid_method)))
    if config.svd_energy is not None or config.svd_rank is not None:
        steps.append(("svd", partial(_step_svd, energy=config.svd_energy,
                                     rank=config.svd_rank)))
    if config.diffuse:
        steps.append(("diffuse", partial(_step_diffuse, config=config)))
    if not steps:
        msg = "no step selected: give --outliers, --regrid, --svd and/or --diffuse"
        raise ValidationError(msg)
    return Pipeline(steps)


def run_preprocess(path, out, config, *, intermediates=False, figure=True):
    """Read ``path``, run the selected steps, write ``out`` (netCDF) and what was asked.

    Returns a dict of written paths. Point input needs ``regrid_spacing`` (first gridded).

    Parameters
    ----------
    path : path-like
        Grid, MGD77+ cruise, PNG tile or point table.
    out : path-like
        Output netCDF.
    config : PreprocessConfig
        The steps and their options.
    intermediates : bool
        Also write every stage.
    figure : bool
        Write the stages figure.

    Returns
    -------
    dict
        Name -> written path.
    """
    out = output_file(out, inputs=[path], suffixes=(".nc",))
    data = read_any(path)
    if isinstance(data, xr.Dataset) and config.regrid_spacing is None:
        msg = f"{path} holds points, not a grid: give --regrid SPACING"
        raise ValidationError(msg)
    if config.regrid_spacing is not None:
        _check_regrid_size(data, config.regrid_spacing, path)
    ctx = build_preprocess_pipeline(config).run({"grid": data, "original": data})
    out = Path(out)
    written = {"grid": write_grid(ctx["grid"], out)}
    if intermediates:
        for key in ("outliers", "outliers_removed", "regridded", "svd", "svd_removed", "diffused"):
            if key in ctx:
                written[key] = write_grid(ctx[key].rename("anomaly"),
                                          out.with_name(f"{out.stem}.{key}.nc"))
    written["config"] = save_config(config, out.with_name(f"{out.stem}.config.toml"))
    if figure:
        from ...plot import plot_grid_stages, save_figure

        stages = [("original", ctx["original"] if isinstance(ctx["original"], xr.DataArray)
                   else None)]
        for key, title in (("outliers_removed", "outliers removed"), ("regridded", "regridded"),
                           ("svd", f"SVD k={ctx['svd'].attrs['svd_rank']}" if "svd" in ctx else ""),
                           ("svd_removed", "removed by SVD"), ("diffused", "diffused")):
            if key in ctx:
                stages.append((title, ctx[key]))
        fig = plot_grid_stages([s for s in stages if s[1] is not None])
        written["figure"] = save_figure(fig, out.with_name(f"{out.stem}.stages.png"))
    return written


def run_synth_seafloor(out_dir, *, n=4, seed=0, config=None, timescale_path=None):
    """Write ``n`` labelled synthetic seafloor grids (netCDF) and a preview figure.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    n : int
        Grids.
    seed : int
        First seed.
    config : SeafloorConfig, optional
        Generator options.
    timescale_path : path-like, optional
        Polarity time scale file (default: the registered one).

    Returns
    -------
    dict
        Name -> written path.
    """
    from ...synthetic import SeafloorConfig, synthetic_seafloor

    config = config or SeafloorConfig()
    check_number(n, option="-n (grids)", minimum=1, integer=True)
    out_dir = output_folder(out_dir)
    written = {}
    grids = []
    for i in range(n):
        ds = synthetic_seafloor(config, seed=seed + i, timescale_path=timescale_path)
        grids.append(ds)
        path = out_dir / f"seafloor_{seed + i:05d}.nc"
        with atomic_path(path, suffix=".nc") as tmp:
            ds.assign(linear=ds["linear"].astype(np.int8)).to_netcdf(tmp)
        written[f"grid_{i}"] = path
    written["config"] = save_config(config, out_dir / "seafloor.config.toml")
    from ...plot import can_plot, plot_seafloor, save_figure

    if not can_plot():  # figures are optional: results are written
        return written
    written["figure"] = save_figure(plot_seafloor(grids[:4]), out_dir / "seafloor_preview.png")
    return written
