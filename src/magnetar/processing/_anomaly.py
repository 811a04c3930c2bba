"""From total-field measurements to crustal anomalies (CrowdMag and other point data).

anomaly = F - F_core(IGRF at each point's time and place) - dF_external(nearest observatory)
- device offset. The core field comes from ``ppigrf`` (IGRF-14 coefficients shipped with the
package, so it works offline). The external disturbance is the observatory's variation
projected on the main-field direction, dF ~ (B / |B|) . dB, which needs only variation data
(no absolute baselines). The device offset (smartphone magnetometers carry offsets of
thousands of nT) is a robust per-recording median.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._utils import require
from ..errors import ValidationError

__all__ = [
    "crustal_anomaly",
    "external_disturbance",
    "igrf_field",
    "nearest_observatory",
    "noise_level",
]

EARTH_RADIUS_KM = 6371.0


IGRF_VALID = (pd.Timestamp("1900-01-01"), pd.Timestamp("2030-01-01"))  # IGRF-14 span


def igrf_field(longitude, latitude, time, *, height_km=0.0):
    """IGRF-14 field (east, north, up in nT) at each point and time.

    Evaluated once per UTC day (the secular variation is below 0.2 nT/day).

    Parameters
    ----------
    longitude, latitude : array-like
        Geodetic degrees.
    time : array-like of datetime64
        Times of the points.
    height_km : float
        Height above the ellipsoid.

    Returns
    -------
    (east, north, up) : arrays of nT, the shape of ``longitude``.
    """
    ppigrf = require("ppigrf", extra="crowdmag", feature="The IGRF core-field model")
    lon = np.atleast_1d(np.asarray(longitude, float))
    lat = np.atleast_1d(np.asarray(latitude, float))
    days = pd.DatetimeIndex(np.atleast_1d(np.asarray(time, "datetime64[ns]"))).floor("D")
    if not (lon.shape == lat.shape == days.shape):
        msg = f"longitude, latitude and time must have one shape, got {lon.shape}, {lat.shape}"
        raise ValidationError(msg)
    if days.size and (days.min() < IGRF_VALID[0] or days.max() >= IGRF_VALID[1]):
        msg = (f"times from {days.min().date()} to {days.max().date()} lie outside IGRF-14's "
               f"validity ({IGRF_VALID[0].date()} to {IGRF_VALID[1].date()}): check the "
               "recording's dates")
        raise ValidationError(msg)
    out = np.empty((3, lon.size))
    for day in days.unique():
        sel = np.asarray(days == day)
        be, bn, bu = ppigrf.igrf(lon[sel], lat[sel], height_km, day.to_pydatetime())
        out[:, sel] = np.stack([be[0], bn[0], bu[0]])
    return out[0], out[1], out[2]


def _distance_km(lon1, lat1, lon2, lat2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    c = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return EARTH_RADIUS_KM * np.arccos(np.clip(c, -1, 1))


def nearest_observatory(longitude, latitude, observatories):
    """Return the observatory dataset nearest to a point, and its distance in km.

    ``observatories``: datasets with ``geodetic_longitude``/``geodetic_latitude`` attrs
    (as :func:`magnetar.io.read_iaga2002` gives).

    Parameters
    ----------
    longitude, latitude : float
        The point (degrees).
    observatories : sequence of xarray.Dataset
        Candidate observatories.

    Returns
    -------
    (xarray.Dataset, float)
        The nearest observatory and its distance (km).
    """
    if not observatories:
        msg = "no observatory given"
        raise ValidationError(msg)
    dist = [float(_distance_km(longitude, latitude, float(o.attrs["geodetic_longitude"]),
                               float(o.attrs["geodetic_latitude"]))) for o in observatories]
    best = int(np.argmin(dist))
    return observatories[best], dist[best]


def external_disturbance(observatory, time):
    """Total-field disturbance at ``time`` from an observatory's X, Y, Z variations.

    dF = (B0 . dB) / |B0| with B0 the IGRF field at the observatory and dB the variation
    from the observatory's median over the points' time span plus a day either side.
    Times outside the observatory record give NaN.

    Parameters
    ----------
    observatory : xarray.Dataset
        One observatory (X, Y, Z; header attrs with its position).
    time : array-like of datetime64
        Times of the points.

    Returns
    -------
    numpy.ndarray of nT.
    """
    missing = [c for c in ("X", "Y", "Z") if c not in observatory]
    if missing:
        msg = f"observatory data lacks {missing} (needs X, Y, Z variations)"
        raise ValidationError(msg)
    lon = float(observatory.attrs["geodetic_longitude"])
    lat = float(observatory.attrs["geodetic_latitude"])
    mid = observatory["time"].values[len(observatory["time"]) // 2]
    be, bn, bu = igrf_field([lon], [lat], [mid])
    b0 = np.array([bn[0], be[0], -bu[0]])  # X north, Y east, Z down
    b0 /= np.linalg.norm(b0)
    t = np.asarray(time, "datetime64[ns]")
    day = np.timedelta64(1, "D")
    obs = observatory.assign_coords(time=observatory["time"].values.astype("datetime64[ns]"))
    near = obs.sel(time=slice(t.min() - day, t.max() + day))
    if near.sizes["time"] < 2:
        return np.full(t.shape, np.nan)
    dxyz = [near[c] - near[c].median() for c in ("X", "Y", "Z")]
    df = sum(w * d for w, d in zip(b0, dxyz, strict=True))
    return df.interp(time=t, method="linear").values


def noise_level(values):
    """Estimate the white-noise level of a stationary record.

    Robust white-noise level (nT) of a stationary record: 1.4826 MAD of first
    differences divided by sqrt(2), insensitive to slow drifts and single jumps.

    Parameters
    ----------
    values : array-like
        The record (NaN ignored).

    Returns
    -------
    float
        Noise standard deviation (units of ``values``).
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 3:
        msg = f"need at least 3 finite values to estimate noise, got {v.size}"
        raise ValidationError(msg)
    d = np.diff(v)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def crustal_anomaly(points, *, observatories=(), offset=True, height_km=0.0,
                    max_distance_km=1000.0):
    """Crustal anomaly of total-field point data (e.g. :func:`magnetar.io.read_crowdmag`).

    Parameters
    ----------
    points : xarray.Dataset
        Dimension ``point``; ``total`` (nT) and coordinates ``time``, ``longitude``,
        ``latitude``.
    observatories : sequence of xarray.Dataset
        X, Y, Z variation records; the nearest one's disturbance is removed where it
        covers the point's time (elsewhere nothing is removed, recorded in attrs).
    max_distance_km : float
        An observatory farther than this is not used (its disturbance is not the point's).
    offset : bool
        Remove the recording's robust (median) device offset after the core field and the
        disturbance.

    Returns
    -------
    xarray.Dataset
        The input plus ``core_field``, ``external``, ``anomaly`` (nT); attrs
        ``device_offset_nT``, ``observatory``, ``observatory_distance_km``,
        ``external_coverage`` (fraction of points corrected).
    """
    for name in ("total", "time", "longitude", "latitude"):
        if name not in points.variables:
            msg = f"points lack '{name}' (read CrowdMag files with magnetar.io.read_crowdmag)"
            raise ValidationError(msg)
    lon, lat = points["longitude"].values, points["latitude"].values
    be, bn, bu = igrf_field(lon, lat, points["time"].values, height_km=height_km)
    core = np.sqrt(be**2 + bn**2 + bu**2)
    external = np.zeros(core.shape)
    attrs = {"observatory": "none", "observatory_distance_km": np.nan, "external_coverage": 0.0}
    if observatories:
        obs, dist = nearest_observatory(float(np.median(lon)), float(np.median(lat)),
                                        list(observatories))
        df = (external_disturbance(obs, points["time"].values) if dist <= max_distance_km
              else np.full(core.shape, np.nan))
        covered = np.isfinite(df)
        external = np.where(covered, df, 0.0)
        code = str(obs.attrs.get("iaga_code", "?"))
        attrs = {"observatory": code if covered.any() else "none",
                 "observatory_distance_km": dist,
                 "external_coverage": float(covered.mean()),
                 "external_std_nT": float(np.std(external[covered])) if covered.any() else 0.0}
        if not covered.any():  # say why the nearest one was not used
            why = (f"farther than {max_distance_km:g} km" if dist > max_distance_km
                   else "its data do not cover the recording")
            attrs["observatory_note"] = f"nearest {code} at {dist:.0f} km not used: {why}"
    residual = points["total"].values - core - external
    device_offset = float(np.nanmedian(residual)) if offset else 0.0
    out = points.assign(
        core_field=("point", core, {"units": "nT", "long_name": "IGRF-14 total field"}),
        external=("point", external, {"units": "nT",
                                      "long_name": "external disturbance (observatory)"}),
        anomaly=("point", residual - device_offset, {"units": "nT",
                                                     "long_name": "crustal anomaly"}),
    )
    out.attrs.update(
        attrs, device_offset_nT=device_offset,
        core_field_model=f"IGRF-14 (ppigrf {_version('ppigrf')}), evaluated once per UTC day",
        device_offset_method=("median over the recording of total - IGRF - external "
                              "(removes the device's bias and the mean crustal anomaly)"
                              if offset else "none"))
    return out


def _version(package):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def screen_points(anomalies, *, max_abs_nT=5000.0, k=6.0):
    """Remove impossible and outlying measurements of a recording before gridding.

    Two robust rules, in order: the physical range (an anomaly - the total field less the
    IGRF core field, the observatory's disturbance and the recording's median device offset
    - beyond ``max_abs_nT`` is a phone next to steel, a car or a charger: crustal anomalies
    at the ground rarely exceed a few thousand nT), then ``k`` times the MAD sigma of the
    anomaly about its median. The device offset is removed first because a phone's own
    bias reaches thousands of nT (a stationary night in Boulder: about half its samples
    sit more than 5,000 nT from IGRF, all of them at one offset).

    Parameters
    ----------
    anomalies : xarray.Dataset
        Output of :func:`crustal_anomaly` (``total``, ``core_field``, ``anomaly``).
    max_abs_nT : float
        Largest accepted ``|anomaly|``.
    k : float
        MAD-sigma multiple beyond which an anomaly is an outlier.

    Returns
    -------
    xarray.Dataset
        The kept points; attrs ``screened_range``, ``screened_mad`` (counts removed) and
        ``screening`` (the rule).
    """
    a = anomalies["anomaly"].values
    in_range = np.abs(a) <= max_abs_nT
    kept = a[in_range]
    med = np.median(kept) if kept.size else 0.0
    sigma = 1.482602218505602 * np.median(np.abs(kept - med)) if kept.size else 0.0
    typical = np.abs(a - med) <= k * sigma if sigma > 0 else np.ones(a.shape, bool)
    keep = in_range & typical
    out = anomalies.isel(point=np.flatnonzero(keep))
    if out.sizes["point"]:  # the offset is re-centred on the kept points
        shift = float(np.median(out["anomaly"].values))
        out["anomaly"] = out["anomaly"] - shift
        out.attrs["device_offset_nT"] = float(anomalies.attrs.get("device_offset_nT", 0)) + shift
    out.attrs.update(screened_range=int((~in_range).sum()),
                     screened_mad=int((in_range & ~typical).sum()),
                     screening=f"|total - IGRF - external - device offset| <= "
                               f"{max_abs_nT:g} nT, then |anomaly - median| <= {k:g} x "
                               "1.4826 MAD")
    return out

