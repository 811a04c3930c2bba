"""Georeferenced EMAG2v3 tiles and published magnetic-anomaly (isochron) picks.

The EMAG2v3 tiles of ``grids/emag2v3_tiles`` were cut by the EMAG2-Completion scripts
(``scripts/preprocess.py``, ``scripts/utils.py``) from the 2 arc-minute EMAG2v3 grid
(5400 x 10800 nodes) around the no-data regions listed in ``centers_all.txt`` (row, column,
half side, region label): a square of ``max(2 * half, 512)`` nodes centred there (moved inside
the grid near its edges), resized to 512 x 512 and painted with image row 0 at the
square's first grid row.

Geometry, proven against independent data (docs/lma.md): grid row ``r`` is latitude
``90 - r / 30`` (row 0 north, so image row 0 is the tile's northern edge) and column ``c`` is
longitude ``c / 30`` east of Greenwich (0-360). Each tile low-passed to 1 degree correlates
with the independent 1-degree EMAG2 v2 grid at that place (tiles 675, 1164, 1299: r = 0.23,
0.15, 0.28 against 0.07-0.09 at the 95th percentile of random places; 782: -0.03, a quiet
craton) and a blind search over every place and orientation finds 675 and 1164 there first;
read south-up from -180 degrees, as until session 14, none correlates anywhere (|r| < 0.1).

Picks: the GMT/OGR tables of the Global Seafloor Fabric and Magnetic Lineation project
(``gpts/*/*.gmt``): a ``# @D`` metadata line (chron first) before each ``lon lat`` line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import FileFormatError, ValidationError
from ._grids import read_png_tile

__all__ = ["grid_agreement", "pick_agreement", "read_emag2v3_tile", "read_picks"]

NODES_PER_DEGREE = 30  # 2 arc-minutes
GRID_ROWS, GRID_COLS = 5400, 10800  # the EMAG2v3 2 arc-minute grid


def _centres(path):
    path = Path(path)
    try:
        table = pd.read_csv(path, header=None, names=["row", "col", "half", "label"])
    except (OSError, ValueError) as err:
        msg = f"cannot read the tile-centre table ({err})"
        raise FileFormatError(msg, path=path) from None
    if table.isna().any().any():
        bad = int(np.flatnonzero(table.isna().any(axis=1).to_numpy())[0]) + 1
        msg = "expected four integers: row, column, half side, label"
        raise FileFormatError(msg, path=path, line=bad)
    return table.astype(int).set_index("label")


def _keep_mask(path, label):
    """Return the tile's keep mask (beside it in ``../gt_keep_masks`` or registered), or None."""
    beside = Path(path).parent.parent / "gt_keep_masks" / f"example_{label}.png"
    if beside.is_file():
        return beside
    from ..datasets import is_available, local_path

    name = f"grids/emag2v3_tiles/gt_keep_masks/example_{label}.png"
    try:
        return local_path(name) if is_available(name) else None
    except ValidationError:  # not a registered tile
        return None


def read_emag2v3_tile(path, *, label=None, centres=None):
    """Return an EMAG2v3 PNG tile as a (latitude, longitude) grid in nT.

    The tile's geometry is explained in the module docstring.

    Parameters
    ----------
    path : path-like
        ``example_<label>.png`` (white = no data, +-200 nT clip).
    label : int, optional
        Region label (default: the number in the file name).
    centres : path-like, optional
        ``centers_all.txt`` (default: the registered file).

    Returns
    -------
    xarray.DataArray
        (latitude, longitude) ascending, longitude in [-180, 180) (a tile across the
        antimeridian keeps increasing values past 180); attrs name the label and spacing.
        With the tile's keep mask (found beside it), no data is where the mask is black and
        white pixels inside the kept area are the +200 nT clip, kept as data
        (``attrs["clipped_pixels"]``); without it every white pixel is no data.
    """
    path = Path(path)
    if label is None:
        try:
            label = int(path.stem.rsplit("_", 1)[-1])
        except ValueError:
            msg = "no region label in the file name; pass label="
            raise ValidationError(msg) from None
    if centres is None:
        from ..datasets import fetch

        centres = fetch("grids/emag2v3_tiles/centers_all.txt")
    table = _centres(centres)
    if label not in table.index:
        msg = f"region label {label} is not in {centres}"
        raise ValidationError(msg)
    row, col, half = (int(v) for v in table.loc[label, ["row", "col", "half"]])
    tile = read_png_tile(path, keep_mask=_keep_mask(path, label))
    values = tile.values[::-1]  # read_png_tile puts image row 0 last: back to row 0 first
    n = values.shape[0]
    side = max(2 * half, n)  # grid nodes the tile covers
    # the cutting script moves a square that would leave the grid back inside it
    row = min(max(row, side // 2), GRID_ROWS - side // 2)
    col = min(max(col, side // 2), GRID_COLS - side // 2)
    step = side / n / NODES_PER_DEGREE  # degrees per tile pixel
    first_row, first_col = row - side // 2, col - side // 2
    lat = 90 - first_row / NODES_PER_DEGREE - (np.arange(n) + 0.5) * step  # north first
    lon = first_col / NODES_PER_DEGREE + (np.arange(values.shape[1]) + 0.5) * step
    lon = lon - 360 * np.floor((lon[0] + 180) / 360)  # start in [-180, 180)
    return xr.DataArray(values[::-1], dims=("latitude", "longitude"),
                        coords={"latitude": lat[::-1], "longitude": lon}, name="anomaly",
                        attrs={**tile.attrs, "emag2v3_label": int(label),
                               "node_spacing_deg": step})


def grid_agreement(tile, reference, *, clip=199.0, min_nodes=20):
    """Correlation of a geographic tile with a coarser reference grid, cell by cell.

    The tile is averaged over the reference's 1-degree cells (values at or beyond ``clip``,
    the saturated pixels, left out; cells with fewer than ``min_nodes`` nodes skipped) and
    correlated with the reference's value there. Independent evidence of where a tile lies:
    the EMAG2v3 tiles against the 1-degree EMAG2 v2 grid.

    Parameters
    ----------
    tile : xarray.DataArray
        (latitude, longitude) in degrees.
    reference : xarray.DataArray
        (latitude, longitude) on whole degrees, longitude in [-180, 180].
    clip : float
        Values with ``|v| >= clip`` are left out.
    min_nodes : int
        Fewest tile nodes a cell needs.

    Returns
    -------
    float
        Pearson correlation (NaN when fewer than 6 cells have both values).
    """
    values = np.where(np.abs(tile.values) < clip, tile.values, np.nan)
    lat = np.floor(tile["latitude"].values).astype(int)
    lon = np.floor(((tile["longitude"].values + 180) % 360) - 180).astype(int)
    frame = pd.DataFrame({"lat": np.repeat(lat, lon.size), "lon": np.tile(lon, lat.size),
                          "v": values.ravel()}).dropna()
    cells = frame.groupby(["lat", "lon"])["v"].agg(["mean", "size"])
    cells = cells[cells["size"] > min_nodes]
    ref = np.array([float(reference.sel(latitude=(a + 90.5) % 180 - 90, longitude=b + 0.5,
                                        method="nearest")) for a, b in cells.index])
    good = np.isfinite(ref)
    if good.sum() < 6:
        return float("nan")
    return float(np.corrcoef(cells["mean"].to_numpy()[good], ref[good])[0, 1])


def read_picks(path):
    """Magnetic-anomaly picks of a GMT/OGR ``.gmt`` file: DataFrame chron, lon, lat.

    Parameters
    ----------
    path : path-like
        The ``.gmt`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``chron``, ``lon``, ``lat``.
    """
    path = Path(path)
    rows, chron = [], None
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError as err:
        msg = f"cannot open picks file ({err.strerror})"
        raise FileFormatError(msg, path=path) from None
    with fh:
        for number, line in enumerate(fh, start=1):
            if line.startswith("# @D"):
                chron = line[4:].split("|", 1)[0].strip()
                continue
            if line.startswith(("#", ">")) or not line.strip():
                continue
            parts = line.split()
            try:
                lon, lat = float(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                msg = f"expected 'lon lat', got {line.strip()!r}"
                raise FileFormatError(msg, path=path, line=number) from None
            if not (-180 <= lon <= 360 and -90 <= lat <= 90):
                msg = f"coordinates out of range: {lon}, {lat}"
                raise FileFormatError(msg, path=path, line=number)
            rows.append((chron, ((lon + 180) % 360) - 180, lat))
    if not rows:
        msg = "no picks found"
        raise FileFormatError(msg, path=path)
    return pd.DataFrame(rows, columns=["chron", "lon", "lat"])


def pick_agreement(result, picks):
    """Compare published picks with a linear/non-linear map.

    Fraction of picks inside the mapped area that fall in cells predicted linear, against
    the fraction of the mapped area predicted linear (an enrichment above 1 means the picks,
    which mark lineations, favour cells the classifier calls linear).

    Parameters
    ----------
    result : xarray.Dataset
        A region map with ``linear`` on (latitude, longitude).
    picks : pandas.DataFrame
        Picks with ``lon`` and ``lat`` (:func:`read_picks`).

    Returns
    -------
    dict
        Picks inside the map, the fraction of them in linear cells, the linear fraction of the
        area and their ratio (the enrichment).
    """
    linear = result["linear"]
    lat = picks["lat"].to_numpy()
    lon = picks["lon"].to_numpy()
    la, lo = linear["latitude"].values, linear["longitude"].values
    inside = (lat >= la.min()) & (lat <= la.max()) & (lon >= lo.min()) & (lon <= lo.max())
    if not inside.any():
        return {"picks_in_area": 0}
    at = linear.sel(latitude=xr.DataArray(lat[inside], dims="p"),
                    longitude=xr.DataArray(lon[inside], dims="p"), method="nearest").values
    mapped = at >= 0
    values = linear.values
    area = float((values[values >= 0] == 1).mean()) if (values >= 0).any() else float("nan")
    frac = float((at[mapped] == 1).mean()) if mapped.any() else float("nan")
    return {"picks_in_area": int(inside.sum()), "picks_mapped": int(mapped.sum()),
            "fraction_picks_linear": frac, "fraction_area_linear": area,
            "enrichment": frac / area if area else float("nan")}
