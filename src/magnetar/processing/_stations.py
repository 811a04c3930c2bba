"""Put several stations on one time axis."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ValidationError

__all__ = ["align_stations", "split_stations"]


def align_stations(stations, *, components=None):
    """Align per-station datasets on one regular time axis.

    Parameters
    ----------
    stations : mapping of str to xarray.Dataset
        One dataset per station (dimension ``time``), all with the same sampling period.
    components : sequence of str, optional
        Components to keep; default: those every station has.

    Returns
    -------
    xarray.Dataset
        Dimensions (station, time) spanning the union of the records; gaps and samples outside
        a station's record are NaN.
    """
    if not stations:
        msg = "no stations given"
        raise ValidationError(msg)
    periods = {name: float(ds.attrs.get("sampling_period_s", np.nan)) for name, ds in stations.items()}
    distinct = {round(p, 9) for p in periods.values()}
    if len(distinct) != 1 or not np.isfinite(next(iter(distinct))):
        msg = f"stations have different or unknown sampling periods: {periods}"
        raise ValidationError(msg)
    period = distinct.pop()
    if components is None:
        common = set.intersection(*(set(ds.data_vars) for ds in stations.values()))
        first = next(iter(stations.values()))
        components = [v for v in first.data_vars if v in common]
        if not components:
            have = {name: list(ds.data_vars) for name, ds in stations.items()}
            msg = f"the stations share no component: {have}"
            raise ValidationError(msg)
    for name, ds in stations.items():
        missing = [c for c in components if c not in ds]
        if missing:
            msg = f"station {name} lacks component(s) {missing}; it has {list(ds.data_vars)}"
            raise ValidationError(msg)
    step = np.timedelta64(int(round(period * 1e9)), "ns")
    start = min(ds["time"].values[0] for ds in stations.values())
    stop = max(ds["time"].values[-1] for ds in stations.values())
    axis = np.arange(start, stop + step, step).astype("datetime64[ns]")
    parts = [ds[list(components)].reindex(time=axis) for ds in stations.values()]
    out = xr.concat(parts, dim="station", coords="minimal", compat="override", join="override")
    out = out.assign_coords(station=list(stations))
    out.attrs = {"sampling_period_s": period}
    for comp in components:
        out[comp].attrs = dict(next(iter(stations.values()))[comp].attrs)
    out["station"].attrs["long_name"] = "IAGA station code"
    return out


def split_stations(data):
    """Inverse of :func:`align_stations`: ``{station: Dataset(time)}``."""
    return {str(s): data.sel(station=s, drop=True) for s in data["station"].values}
