"""Real aeromagnetic surveys as grids at a chosen spacing and observation height.

The registered continental surveys (Great Britain, Rio de Janeiro; verde/harmonica sample
data) are the real non-oceanic texture the linear-anomaly and CrowdMag workflows train on.
Gridded with :func:`magnetar.grids.regrid` in a local equirectangular projection (km), and,
to match a grid observed higher up (EMAG2v3: 4 km above the geoid), upward-continued with
harmonica's FFT operator (:func:`harmonica.upward_continuation`) from the survey's flight
height (Britain: about 150 m, Rio: 100 m: Harmonica and Verde sample-data notes).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from ..errors import MissingDependencyError, ValidationError

__all__ = ["SURVEYS", "survey_grid"]

KM_PER_DEGREE = 111.195
SURVEYS = {"britain": ("surveys/britain-magnetic.csv.xz", 0.15),
           "rio": ("surveys/rio-magnetic.csv.xz", 0.1)}


def local_km(lon, lat, lon0, lat0):
    """Kilometres east and north of (lon0, lat0), local equirectangular projection.

    Parameters
    ----------
    lon, lat : array-like
        Degrees.
    lon0, lat0 : float
        The projection's origin (degrees).

    Returns
    -------
    tuple of numpy.ndarray
        Easting and northing in km.
    """
    return ((np.asarray(lon) - lon0) * KM_PER_DEGREE * math.cos(math.radians(lat0)),
            (np.asarray(lat) - lat0) * KM_PER_DEGREE)


def _upward(grid, height_km):
    try:
        import harmonica as hm
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = "upward continuation needs harmonica: pip install 'magnetar[grids]'"
        raise MissingDependencyError(msg) from err
    finite = np.isfinite(grid.values)
    filled = grid.fillna(float(np.nanmean(grid.values)))
    # harmonica's FFT operators want coordinates in metres on a regular grid
    metres = filled.assign_coords(easting=filled.easting * 1e3, northing=filled.northing * 1e3)
    with warnings.catch_warnings():  # xrft's own deprecation notices, not ours to act on
        warnings.simplefilter("ignore", FutureWarning)
        up = hm.upward_continuation(metres, height_displacement=height_km * 1e3)
    return grid.copy(data=np.where(finite, up.values, np.nan))


def survey_grid(name, *, spacing_km, height_km=None):
    """Grid a registered aeromagnetic survey.

    Parameters
    ----------
    name : {"britain", "rio"}
        The survey.
    spacing_km : float
        Node spacing (km).
    height_km : float, optional
        Observation height to continue the grid to (km above the ground); default: the
        survey's own flight height (no continuation).

    Returns
    -------
    xarray.DataArray
        ``(northing, easting)`` in km of the local projection, nT; NaN outside the survey;
        attrs name the survey and the height.
    """
    from .. import datasets
    from ..io import read_points
    from ._preprocess import regrid

    if name not in SURVEYS:
        msg = f"unknown survey {name!r}; choose from {', '.join(SURVEYS)}"
        raise ValidationError(msg)
    path, flight_km = SURVEYS[name]
    pts = read_points(datasets.fetch(path))
    lon, lat = pts["longitude"].values, pts["latitude"].values
    x, y = local_km(lon, lat, float(np.mean(lon)), float(np.mean(lat)))
    from .._utils import check_allocation

    nodes = (np.ptp(x) / spacing_km + 1) * (np.ptp(y) / spacing_km + 1)
    check_allocation(nodes * 8 * 6, option="spacing_km (--spacing-km, --tile-km)",
                     what=f"the {name} survey gridded at {spacing_km:g} km")
    proj = xr.Dataset({"anomaly": ("point", pts["anomaly"].values)},
                      coords={"easting": ("point", x), "northing": ("point", y)})
    grid = regrid(proj, spacing=spacing_km, method="linear")
    if height_km is not None and height_km > flight_km:
        grid = _upward(grid, height_km - flight_km)
    grid.attrs.update({"survey": name, "height_km": float(height_km or flight_km),
                       "spacing_km": float(spacing_km)})
    return grid
