"""Anomaly grids and point data: netCDF (CF, GMT), xyz tables, PNG tiles, MGD77+, GeoTIFF.

A grid is an :class:`xarray.DataArray` with two dimensions, ``(latitude, longitude)`` for
geographic grids or ``(northing, easting)`` for projected ones, both coordinates increasing,
values in nT (``attrs['units']``) and NaN where there is no data. Point data (ship tracks,
surveys) is an :class:`xarray.Dataset` with dimension ``point``.

xarray and netCDF4 read the files; this module only maps the field's layouts (GMT's old
netCDF-3 grids, 8-bit PNG tiles with a stated value range, MGD77+ cruises) onto that one
shape and checks it, so that every later step can rely on it.
"""

from __future__ import annotations

import lzma
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._utils import atomic_path, existing_file, require
from ..errors import FileFormatError, ValidationError

__all__ = [
    "check_grid",
    "grid_from_table",
    "read_grid",
    "read_mgd77",
    "read_png_tile",
    "read_points",
    "write_grid",
    "write_png_tile",
]

GEOGRAPHIC = ("latitude", "longitude")
PROJECTED = ("northing", "easting")
_ALIASES = {
    "lat": "latitude", "latitude": "latitude", "y": "northing", "northing": "northing",
    "lon": "longitude", "long": "longitude", "longitude": "longitude", "x": "easting",
    "easting": "easting",
}


def check_grid(grid, *, name="grid"):
    """Check that ``grid`` is a usable 2-D anomaly grid; return it unchanged.

    Raises :class:`~magnetar.errors.ValidationError` naming what is wrong: not a DataArray,
    not 2-D, dimensions other than ``(latitude, longitude)``/``(northing, easting)``, missing
    or non-monotonic coordinates, fewer than 2 nodes along an axis, or no finite value.

    Parameters
    ----------
    grid : xarray.DataArray
        The grid to check.
    name : str
        What to call it in messages (e.g. the file it came from).

    Returns
    -------
    xarray.DataArray
        ``grid`` itself.
    """
    if not isinstance(grid, xr.DataArray):
        msg = f"{name} must be an xarray.DataArray, got {type(grid).__name__}"
        raise ValidationError(msg)
    if grid.ndim != 2:
        msg = f"{name} must be 2-D, got {grid.ndim} dimensions {grid.dims}"
        raise ValidationError(msg)
    if tuple(grid.dims) not in (GEOGRAPHIC, PROJECTED):
        msg = (f"{name} has dimensions {grid.dims}; expected {GEOGRAPHIC} or {PROJECTED} "
               "(see docs/conventions.md)")
        raise ValidationError(msg)
    for dim in grid.dims:
        if dim not in grid.coords:
            msg = f"{name} has no coordinate for dimension '{dim}'"
            raise ValidationError(msg)
        values = np.asarray(grid[dim].values, dtype=float)
        if values.size < 2:
            msg = f"{name} needs at least 2 nodes along '{dim}', got {values.size}"
            raise ValidationError(msg)
        if not np.all(np.diff(values) > 0):
            msg = f"{name} coordinate '{dim}' is not strictly increasing"
            raise ValidationError(msg)
    if not bool(np.isfinite(grid.data).any()):  # a Dask-backed grid: reduced chunk by chunk
        msg = f"{name} holds no finite value (all NaN)"
        raise ValidationError(msg)
    return grid


def spacing_of(grid):
    """Node spacing of a grid along its two dimensions (median step, coordinate units).

    Parameters
    ----------
    grid : xarray.DataArray
        A 2-D grid.

    Returns
    -------
    tuple of float
        Median node step along each dimension.
    """
    return tuple(float(np.median(np.diff(grid[d].values))) for d in grid.dims)


def _standardise(da, *, path, nodata=None, units=None, lazy=False):
    rename = {}
    for dim in da.dims:
        key = str(dim).lower()
        if key not in _ALIASES:
            msg = f"cannot tell which axis dimension '{dim}' is (expected lat/lon or x/y)"
            raise FileFormatError(msg, path=path)
        rename[dim] = _ALIASES[key]
    da = da.rename(rename)
    ordered = GEOGRAPHIC if "latitude" in da.dims else PROJECTED
    if set(da.dims) != set(ordered):
        msg = f"dimensions {da.dims} mix geographic and projected axes"
        raise FileFormatError(msg, path=path)
    da = da.transpose(*ordered)
    for dim in ordered:
        if dim not in da.coords:
            msg = f"no coordinate variable for dimension '{dim}'"
            raise FileFormatError(msg, path=path)
        values = np.asarray(da[dim].values, dtype=float)
        if values.size > 1 and np.all(np.diff(values) < 0):
            da = da.isel({dim: slice(None, None, -1)})
        elif values.size > 1 and not np.all(np.diff(values) > 0):
            msg = f"coordinate '{dim}' is not monotonic"
            raise FileFormatError(msg, path=path)
    data = da.data.astype(np.float64) if lazy else np.asarray(da.values, dtype=np.float64)
    if nodata is not None:
        # Resampled grids (EMAG2 v2 at 1 degree was made with grdsample) also hold nodes
        # interpolated between the sentinel and data, e.g. -99722: anything within half the
        # sentinel's magnitude is no data too (no real anomaly comes near 50,000 nT).
        data = np.where(np.abs(data) >= 0.5 * abs(nodata), np.nan, data)  # Dask: lazily
    out = xr.DataArray(data, coords={d: np.asarray(da[d].values, float) for d in ordered},
                       dims=ordered, name=da.name or "anomaly",
                       attrs={k: v for k, v in da.attrs.items()
                              if k not in ("_FillValue", "missing_value", "scale_factor",
                                           "add_offset", "actual_range")})
    out.attrs.setdefault("units", units or "nT")
    out.attrs["source_file"] = str(path)
    try:
        check_grid(out, name=str(path))
    except ValidationError as err:
        raise FileFormatError(str(err), path=path) from None
    return out


def _read_gmt_legacy(ds, path, nodata):
    """GMT's old netCDF-3 layout: 1-D ``z`` with ``x_range``, ``y_range``, ``dimension``."""
    nx, ny = (int(v) for v in ds["dimension"].values)
    z = np.asarray(ds["z"].values, dtype=np.float64)
    if z.size != nx * ny:
        msg = f"z holds {z.size} values but dimension says {nx} x {ny} = {nx * ny}"
        raise FileFormatError(msg, path=path)
    x0, x1 = (float(v) for v in ds["x_range"].values)
    y0, y1 = (float(v) for v in ds["y_range"].values)
    pixel = int(ds["z"].attrs.get("node_offset", 0)) == 1
    if pixel:
        dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
        x = x0 + (np.arange(nx) + 0.5) * dx
        y = y0 + (np.arange(ny) + 0.5) * dy
    else:
        x, y = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    # rows run from the north (y_max) down
    data = z.reshape(ny, nx)[::-1]
    units = str(ds["x_range"].attrs.get("units", ""))
    dims = ("lat", "lon") if "degree" in units or "longitude" in units else ("y", "x")
    da = xr.DataArray(data, coords={dims[0]: y, dims[1]: x}, dims=dims, name="anomaly",
                      attrs={"title": ds.attrs.get("title", ""),
                             "history": ds.attrs.get("source", "")})
    return _standardise(da, path=path, nodata=nodata)


def read_grid(path, *, variable=None, nodata=99999.0, units=None, chunks=None):
    """Read an anomaly grid (netCDF CF/GMT, GMT legacy netCDF-3, GeoTIFF).

    Parameters
    ----------
    path : str or path-like
        ``.nc``/``.grd`` (netCDF, any convention xarray reads plus GMT's legacy layout with
        ``x_range``/``dimension``/1-D ``z``) or ``.tif``/``.tiff`` (needs ``rioxarray``).
    variable : str, optional
        Data variable to read; default: the only 2-D variable, or ``anomaly``.
    nodata : float or None
        No-data sentinel (EMAG2 uses +-99999): values of at least half its magnitude become
        NaN, which also catches nodes a resampling mixed with the sentinel.
    units : str, optional
        Units to record when the file does not say (default nT).
    chunks : int or tuple, optional
        Read a CF netCDF grid lazily in Dask chunks of this many nodes (grids larger than
        memory); the values are read when computed.

    Returns
    -------
    xarray.DataArray
        ``(latitude, longitude)`` or ``(northing, easting)``, increasing coordinates.
    """
    path = existing_file(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        rxr = require("rioxarray", extra="grids", feature="Reading GeoTIFF grids")
        da = rxr.open_rasterio(path).squeeze("band", drop=True)
        fill = da.attrs.get("_FillValue")
        da = da.where(da != fill) if fill is not None else da
        crs = da.rio.crs
        if crs is not None and crs.is_geographic:  # x/y are longitude/latitude in degrees
            da = da.rename(x="longitude", y="latitude")
        da = da.drop_vars([c for c in da.coords if c not in da.dims])  # spatial_ref
        return _standardise(da, path=path, nodata=nodata, units=units)
    try:
        ds = xr.open_dataset(path, decode_times=False, mask_and_scale=True,
                             chunks=None if chunks is None else "auto")
    except (OSError, ValueError, RuntimeError) as err:
        msg = f"not a readable netCDF grid ({err})"
        raise FileFormatError(msg, path=path) from None
    try:
        return _netcdf_grid(ds, path=path, variable=variable, nodata=nodata, units=units,
                            chunks=chunks)
    except RuntimeError as err:  # the netCDF library meets corrupted bytes while loading
        msg = f"corrupted netCDF data ({err})"
        raise FileFormatError(msg, path=path) from None


def _netcdf_grid(ds, *, path, variable, nodata, units, chunks=None):
    with ds if chunks is None else nullcontext(ds):  # a lazy grid keeps its file open
        if {"x_range", "y_range", "dimension", "z"} <= set(ds.variables):
            return _read_gmt_legacy(ds.load(), path, nodata)
        candidates = [v for v in ds.data_vars if ds[v].ndim == 2]
        if variable is not None:
            if variable not in ds.data_vars:
                msg = f"no variable '{variable}'; the file has {', '.join(ds.data_vars)}"
                raise FileFormatError(msg, path=path)
            da = ds[variable]
        elif len(candidates) == 1:
            da = ds[candidates[0]]
        elif "anomaly" in candidates:  # magnetar's own multi-variable files
            da = ds["anomaly"]
        else:
            msg = (f"expected one 2-D variable, found {len(candidates)} "
                   f"({', '.join(candidates) or 'none'}); name one with variable=")
            raise FileFormatError(msg, path=path)
        if chunks is None:
            return _standardise(da.load(), path=path, nodata=nodata, units=units)
        sizes = (chunks, chunks) if np.isscalar(chunks) else tuple(chunks)
        return _standardise(da.chunk(dict(zip(da.dims, sizes, strict=True))), path=path,
                            nodata=nodata, units=units, lazy=True)


def write_grid(grid, path, *, title=None):
    """Write a grid as CF-1.8 netCDF (atomically; GMT and xarray read it back).

    NaN marks no data (``_FillValue``); coordinates carry ``standard_name``/``units``.

    Parameters
    ----------
    grid : xarray.DataArray
        A grid accepted by :func:`check_grid`.
    path : path-like
        Output ``.nc`` file.
    title : str, optional
        Global ``title`` attribute.

    Returns
    -------
    path-like
        ``path``, written.
    """
    check_grid(grid)
    da = grid.copy()
    for dim in da.dims:
        if dim == "latitude":
            da[dim].attrs.update(standard_name="latitude", units="degrees_north", axis="Y")
        elif dim == "longitude":
            da[dim].attrs.update(standard_name="longitude", units="degrees_east", axis="X")
        elif dim == "northing":
            da[dim].attrs.update(standard_name="projection_y_coordinate", units="m", axis="Y")
        else:
            da[dim].attrs.update(standard_name="projection_x_coordinate", units="m", axis="X")
    da.attrs.pop("source_file", None)
    ds = da.to_dataset(name=da.name or "anomaly")
    ds.attrs.update(Conventions="CF-1.8", title=title or da.attrs.get("title", "anomaly grid"))
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, encoding={ds_var: {"_FillValue": np.nan, "zlib": True}
                                    for ds_var in ds.data_vars})
    return path


def _table_line(path, row, has_header):
    """File line number of data row ``row`` (0-based), skipping blank and comment lines."""
    with (lzma.open(path, "rt") if path.suffix == ".xz" else open(path)) as fh:
        seen = -1 if has_header else 0
        for number, line in enumerate(fh, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if seen == row:
                return number
            seen += 1
    return None


def read_points(path, *, columns=None, value="anomaly"):
    """Read a point table (CSV/whitespace, optionally ``.xz``) into a point Dataset.

    Parameters
    ----------
    path : str or path-like
        Table with a header naming the columns, or three headerless columns
        ``longitude latitude value``.
    columns : dict, optional
        Map from the file's column names to ``longitude``/``latitude``/``easting``/
        ``northing``/``height``/``value``; by default common names are recognised.
    value : str
        Name given to the value column in the result.

    Returns
    -------
    xarray.Dataset
        Dimension ``point``; coordinates ``longitude``/``latitude`` (or ``easting``/
        ``northing``) and ``height`` when present; variable ``value`` in nT.
    """
    path = existing_file(path)
    try:
        with (lzma.open(path, "rt") if path.suffix == ".xz" else open(path)) as fh:
            first = fh.readline()
    except (UnicodeDecodeError, lzma.LZMAError, EOFError) as err:
        msg = f"not a text point table ({type(err).__name__}: {err})"
        raise FileFormatError(msg, path=path) from None
    sep = "," if "," in first else r"\s+"
    has_header = any(c.isalpha() for c in first.replace("e+", "").replace("e-", ""))
    try:
        table = pd.read_csv(path, sep=sep, header=0 if has_header else None,
                            comment="#", skipinitialspace=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        msg = f"not a readable point table ({err})"
        raise FileFormatError(msg, path=path) from None
    incomplete = np.flatnonzero(table.isna().to_numpy().any(axis=1))
    if incomplete.size:
        row = int(incomplete[0])
        msg = (f"row {row + 1} of the table has missing or extra fields (expected "
               f"{table.shape[1]} values per row)")
        raise FileFormatError(msg, path=path, line=_table_line(path, row, has_header))
    if not has_header:
        if table.shape[1] < 3:
            msg = f"expected 3 columns (longitude latitude value), found {table.shape[1]}"
            raise FileFormatError(msg, path=path, line=1)
        table = table.iloc[:, :3]
        table.columns = ["longitude", "latitude", value]
    else:
        known = {"longitude": "longitude", "lon": "longitude", "long": "longitude",
                 "latitude": "latitude", "lat": "latitude", "easting": "easting",
                 "northing": "northing", "x": "easting", "y": "northing",
                 "height": "height", "height_orthometric_m": "height", "altitude_m": "height",
                 "total_field_anomaly_nt": value, "anomaly": value, "mag": value,
                 "total_field_anomaly": value, "value": value}
        known.update(columns or {})
        table = table.rename(columns={c: known[c.lower() if c.lower() in known else c]
                                      for c in table.columns
                                      if c in known or c.lower() in known})
    if value not in table:
        msg = (f"no value column found among {list(table.columns)}; pass "
               f"columns={{'<name>': '{value}'}}")
        raise FileFormatError(msg, path=path)
    geo = {"longitude", "latitude"} <= set(table.columns)
    xy = ("longitude", "latitude") if geo else ("easting", "northing")
    if not set(xy) <= set(table.columns):
        msg = f"no coordinate columns (longitude/latitude or easting/northing) in {list(table.columns)}"
        raise FileFormatError(msg, path=path)
    numeric = table[[*xy, value]].apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().any(axis=1) & table[[*xy, value]].notna().all(axis=1)
    if bad.any():
        line = int(np.flatnonzero(bad.values)[0]) + 1 + int(has_header)
        msg = "non-numeric value"
        raise FileFormatError(msg, path=path, line=line)
    coords = {c: ("point", numeric[c].to_numpy(float)) for c in xy}
    if "height" in table:
        coords["height"] = ("point", pd.to_numeric(table["height"]).to_numpy(float))
    ds = xr.Dataset({value: ("point", numeric[value].to_numpy(float), {"units": "nT"})},
                    coords=coords, attrs={"source_file": str(path)})
    return ds


def grid_from_table(points, *, value="anomaly", tolerance=1e-6):
    """Turn a point Dataset lying on a complete or partial regular lattice into a grid.

    Raises :class:`~magnetar.errors.ValidationError` when the points are not on a lattice
    (use :func:`magnetar.grids.regrid` for scattered points).

    Parameters
    ----------
    points : xarray.Dataset
        Points with ``longitude``/``latitude`` (or ``easting``/``northing``) and ``value``.
    value : str
        The variable to grid.
    tolerance : float
        Coordinates are rounded to multiples of this (their units) to find the lattice.

    Returns
    -------
    xarray.DataArray
        The grid (NaN where the lattice has no point).
    """
    dims = ("latitude", "longitude") if "latitude" in points.coords else ("northing", "easting")
    ys, xs = (np.asarray(points[d].values, float) for d in dims)
    uy, ux = np.unique(np.round(ys / tolerance) * tolerance), np.unique(
        np.round(xs / tolerance) * tolerance)
    for name, u in ((dims[0], uy), (dims[1], ux)):
        steps = np.diff(u)
        if u.size < 2 or not np.allclose(steps, steps[0], rtol=1e-3, atol=tolerance * 10):
            msg = f"points are not on a regular lattice along {name}; regrid them instead"
            raise ValidationError(msg)
    iy = np.clip(np.searchsorted(uy, ys - tolerance), 0, uy.size - 1)
    ix = np.clip(np.searchsorted(ux, xs - tolerance), 0, ux.size - 1)
    data = np.full((uy.size, ux.size), np.nan)
    data[iy, ix] = points[value].values
    # snap to the exact lattice (files often store single-precision coordinates)
    uy, ux = np.linspace(uy[0], uy[-1], uy.size), np.linspace(ux[0], ux[-1], ux.size)
    return xr.DataArray(data, coords={dims[0]: uy, dims[1]: ux}, dims=dims, name=value,
                        attrs={"units": points[value].attrs.get("units", "nT"),
                               **{k: v for k, v in points.attrs.items()}})


def read_png_tile(path, *, vmin=-200.0, vmax=200.0, keep_mask=None, nodata_white=True,
                  region=None):
    """Read an 8-bit PNG anomaly tile with a stated value range.

    Pixel ``p`` maps to ``vmin + p / 255 * (vmax - vmin)`` (the EMAG2v3 tiles were made by
    clipping to +-200 nT, scaling to 0-1 and rounding ``x * 255``). No data is where the
    keep-mask PNG is black (when given) and, with ``nodata_white``, where the tile is white
    (255), which is also how the tiles mark missing EMAG2 values.

    Parameters
    ----------
    region : (west, east, south, north), optional
        Geographic extent of the pixel centres; default: pixel indices as ``easting``/
        ``northing`` (row 0 at the top, i.e. the largest northing).

    path : path-like
        The PNG tile.
    vmin, vmax : float
        Values of grey levels 0 and 255 (nT).
    keep_mask : path-like, optional
        PNG whose black pixels are no data.
    nodata_white : bool
        White (255) pixels are no data.

    Returns
    -------
    xarray.DataArray
        The tile in nT, NaN where no data.
    """
    pil = require("PIL.Image", extra="grids", feature="Reading PNG tiles")
    path = Path(path)
    try:
        img = np.asarray(pil.open(path).convert("L"), dtype=np.float64)
    except (OSError, ValueError) as err:
        msg = f"not a readable PNG image ({err})"
        raise FileFormatError(msg, path=path) from None
    if vmax <= vmin:
        msg = f"vmax ({vmax}) must exceed vmin ({vmin})"
        raise ValidationError(msg)
    if min(img.shape) < 2:
        msg = f"a {img.shape[0]} x {img.shape[1]} pixel image is too small for an anomaly tile"
        raise FileFormatError(msg, path=path)
    data = vmin + img / 255.0 * (vmax - vmin)
    white = img >= 255
    clipped = 0
    if keep_mask is not None:
        # the keep mask says where data are; white inside it is the +vmax clip, kept as data
        invalid = np.asarray(pil.open(keep_mask).convert("L")) < 128
        if invalid.shape != img.shape:
            msg = f"keep mask {keep_mask} is {invalid.shape}, tile is {img.shape}"
            raise ValidationError(msg)
        clipped = int((white & ~invalid).sum())
    else:
        invalid = white if nodata_white else np.zeros(img.shape, bool)
    if invalid.all():
        msg = "every pixel is white (no data) in this tile"
        raise FileFormatError(msg, path=path)
    data[invalid] = np.nan
    data = data[::-1]  # row 0 of an image is the north edge
    ny, nx = data.shape
    if region is None:
        coords = {"northing": np.arange(ny, dtype=float), "easting": np.arange(nx, dtype=float)}
        dims = PROJECTED
    else:
        west, east, south, north = region
        coords = {"latitude": np.linspace(south, north, ny),
                  "longitude": np.linspace(west, east, nx)}
        dims = GEOGRAPHIC
    return xr.DataArray(data, coords=coords, dims=dims, name="anomaly",
                        attrs={"units": "nT", "source_file": str(path), "valid_min": vmin,
                               "valid_max": vmax, "clipped_pixels": clipped})


def write_png_tile(grid, path, *, vmin=-200.0, vmax=200.0):
    """Write a grid as an 8-bit grayscale PNG (values clipped to the range, NaN white).

    Valid values map to 0-254 so that white (255) stays free for no data; reading back with
    :func:`read_png_tile` recovers values to within half a grey level.

    Parameters
    ----------
    grid : xarray.DataArray
        A 2-D grid (row 0 written at the top).
    path : path-like
        Output PNG.
    vmin, vmax : float
        Values of grey levels 0 and 254 (nT).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    pil = require("PIL.Image", extra="grids", feature="Writing PNG tiles")
    check_grid(grid)
    values = np.asarray(grid.values, float)[::-1]
    scaled = np.clip((values - vmin) / (vmax - vmin), 0, 1) * 255.0
    finite = np.isfinite(values)
    pixels = np.full(values.shape, 255, dtype=np.uint8)
    pixels[finite] = np.minimum(np.round(scaled[finite]), 254).astype(np.uint8)
    with atomic_path(path, suffix=".png") as tmp:
        pil.fromarray(pixels, mode="L").save(tmp, format="PNG")
    return Path(path)


def read_mgd77(path, *, value="mag"):
    """Read an MGD77+ netCDF cruise into a point Dataset (time, longitude, latitude, value).

    ``value`` picks the anomaly column (``mag`` residual field by default; MGD77+ files may
    also carry recomputed ones such as ``anom_recomp``). Records without position or value
    are dropped; ``attrs['dropped']`` says how many.

    Parameters
    ----------
    path : path-like
        MGD77+ netCDF file.
    value : str
        Anomaly variable to read.

    Returns
    -------
    xarray.Dataset
        Dimension ``point`` with ``time``, ``longitude``, ``latitude`` and ``anomaly`` (nT).
    """
    path = Path(path)
    try:
        ds = xr.open_dataset(path, decode_times=False)
    except (OSError, ValueError) as err:
        msg = f"not a readable MGD77+ netCDF file ({err})"
        raise FileFormatError(msg, path=path) from None
    with ds:
        missing = [v for v in ("time", "lat", "lon", value) if v not in ds.variables]
        if missing:
            msg = f"not an MGD77+ cruise: no variable(s) {', '.join(missing)}"
            raise FileFormatError(msg, path=path)
        lon = ds["lon"].values.astype(float)
        lat = ds["lat"].values.astype(float)
        val = ds[value].values.astype(float)
        seconds = ds["time"].values.astype(float)
        good = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(val) & np.isfinite(seconds)
        time = pd.to_datetime(seconds[good], unit="s", origin="unix")
        out = xr.Dataset(
            {"anomaly": ("point", val[good], {"units": "nT",
                                              "long_name": str(ds[value].attrs.get("long_name", value))})},
            coords={"longitude": ("point", lon[good]), "latitude": ("point", lat[good]),
                    "time": ("point", time.values)},
            attrs={"title": ds.attrs.get("title", ""), "source_file": str(path),
                   "dropped": int((~good).sum())})
    return out
