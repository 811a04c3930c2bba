"""Put several stations on one time axis."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ValidationError

__all__ = ["align_stations", "split_stations"]


def _common_span(stations, step, min_overlap):
    """First and last time every station covers; refuses too little overlap, naming spans."""
    spans = {name: (ds["time"].values[0], ds["time"].values[-1])
             for name, ds in stations.items()}
    start = max(a for a, _ in spans.values())
    stop = min(b for _, b in spans.values())
    n_common = int((stop - start) // step) + 1 if stop >= start else 0
    if n_common < min_overlap:
        listed = "; ".join(f"{name} {np.datetime_as_string(a, unit='s')} to "
                           f"{np.datetime_as_string(b, unit='s')}"
                           for name, (a, b) in spans.items())
        msg = (f"the stations overlap by {max(n_common, 0)} samples, fewer than the "
               f"{min_overlap} needed: {listed}")
        raise ValidationError(msg)
    return start, stop


def align_stations(stations, *, components=None, min_overlap=60):
    """Align per-station datasets on their common span, one regular time axis.

    Parameters
    ----------
    stations : mapping of str to xarray.Dataset
        One dataset per station (dimension ``time``), all with the same sampling period.
    components : sequence of str, optional
        Components to keep; default: those every station has.
    min_overlap : int
        Fewest samples the stations must share (the cleaning compares stations sample by
        sample, so only the common span can be cleaned); less is refused, naming each
        station's span.

    Returns
    -------
    xarray.Dataset
        Dimensions (station, time) spanning the time every station covers (from the latest
        first sample to the earliest last one); gaps inside it are NaN.
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
        # an element no station recorded (e.g. F written as 88888) is not a component to align
        components = [v for v in first.data_vars if v in common and any(
            bool(np.isfinite(ds[v].values).any()) for ds in stations.values())]
        if not components:
            have = {name: list(ds.data_vars) for name, ds in stations.items()}
            msg = f"the stations share no component: {have}"
            raise ValidationError(msg)
    for name, ds in stations.items():
        missing = [c for c in components if c not in ds]
        if missing:
            msg = f"station {name} lacks component(s) {missing}; it has {list(ds.data_vars)}"
            raise ValidationError(msg)
    empty = [f"{name} {c}" for name, ds in stations.items() for c in components
             if not np.isfinite(ds[c].values).any()]
    if empty:
        msg = f"no valid values (all missing): {', '.join(empty)}; leave them out with components"
        raise ValidationError(msg)
    step = np.timedelta64(int(round(period * 1e9)), "ns")
    start, stop = _common_span(stations, step, min_overlap)
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
    """Inverse of :func:`align_stations`: ``{station: Dataset(time)}``.

    Parameters
    ----------
    data : xarray.Dataset
        Aligned stations (station, time).

    Returns
    -------
    dict of str to xarray.Dataset
        One dataset (time) per station.
    """
    return {str(s): data.sel(station=s, drop=True) for s in data["station"].values}
