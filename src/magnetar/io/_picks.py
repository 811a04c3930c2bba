"""Georeferenced EMAG2v3 tiles and published magnetic-anomaly (isochron) picks.

The EMAG2v3 tiles of ``grids/emag2v3_tiles`` were cut by the EMAG2-Completion scripts from
the 2 arc-minute EMAG2v3 grid (5400 x 10800 nodes) around the no-data regions listed in
``centers_all.txt`` (row, column, half side, region label): a square of
``max(2 * half, 512)`` nodes centred there, resized to 512 x 512. Those scripts flip the
north-first EMAG2v3 table so that row 0 is the southern edge (latitude -90), and paint the
tile from that array, so image row 0 is the tile's southern edge. This reading is the default
(``origin="south"``); ``origin="north"`` gives the other one, should a tile show otherwise.

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

__all__ = ["pick_agreement", "read_emag2v3_tile", "read_picks"]

NODES_PER_DEGREE = 30  # 2 arc-minutes


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


def read_emag2v3_tile(path, *, label=None, centres=None, origin="south"):
    """An EMAG2v3 PNG tile as a (latitude, longitude) grid in nT.

    Parameters
    ----------
    path : path-like
        ``example_<label>.png`` (white = no data, +-200 nT clip).
    label : int, optional
        Region label (default: the number in the file name).
    centres : path-like, optional
        ``centers_all.txt`` (default: the registered file).
    origin : {"south", "north"}
        Which edge the table's row 0 and the image's row 0 are.
    """
    path = Path(path)
    if label is None:
        try:
            label = int(path.stem.rsplit("_", 1)[-1])
        except ValueError:
            msg = "no region label in the file name; pass label="
            raise ValidationError(msg) from None
    if origin not in ("south", "north"):
        msg = f"origin must be 'south' or 'north', got {origin!r}"
        raise ValidationError(msg)
    if centres is None:
        from ..datasets import fetch

        centres = fetch("grids/emag2v3_tiles/centers_all.txt")
    table = _centres(centres)
    if label not in table.index:
        msg = f"region label {label} is not in {centres}"
        raise ValidationError(msg)
    row, col, half = table.loc[label, ["row", "col", "half"]]
    tile = read_png_tile(path)
    # read_png_tile puts image row 0 last (north up); with origin "south" image row 0 is the
    # southern edge, so it comes first
    values = tile.values[::-1] if origin == "south" else tile.values
    n = values.shape[0]
    side = max(2 * int(half), n) / NODES_PER_DEGREE  # degrees
    step = side / n
    if origin == "south":
        south = -90 + row / NODES_PER_DEGREE - side / 2
        lat = south + (np.arange(n) + 0.5) * step
    else:
        north = 90 - row / NODES_PER_DEGREE + side / 2
        lat = (north - (np.arange(n) + 0.5) * step)[::-1]
    west = -180 + col / NODES_PER_DEGREE - side / 2
    lon = west + (np.arange(values.shape[1]) + 0.5) * step
    return xr.DataArray(values, dims=("latitude", "longitude"),
                        coords={"latitude": lat, "longitude": lon}, name="anomaly",
                        attrs={**tile.attrs, "emag2v3_label": int(label), "origin": origin,
                               "node_spacing_deg": step})


def read_picks(path):
    """Magnetic-anomaly picks of a GMT/OGR ``.gmt`` file: DataFrame chron, lon, lat."""
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
    """Fraction of picks inside the mapped area that fall in cells predicted linear, against
    the fraction of the mapped area predicted linear (an enrichment above 1 means the picks,
    which mark lineations, favour cells the classifier calls linear)."""
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
