"""Synchronisation check between stations by lagged cross-correlation.

Natural variations reach observatories a few hundred kilometres apart within well under a
second, so the cross-correlation of their first differences should peak at lag zero. A peak at
another lag reveals a timing error (a clock offset, a shifted file). The check runs on an
active interval, where natural signal dominates noise; it is chosen automatically as the
window with the largest summed variance of the first differences, or given.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ValidationError

__all__ = ["active_interval", "apply_shifts", "lagged_correlation", "sync_check"]


def lagged_correlation(a, b, *, max_lag):
    """Pearson correlation of ``a[t]`` with ``b[t + lag]`` for lag in [-max_lag, max_lag].

    A positive best lag means ``b`` is late: ``b(t) ~ a(t - lag)``. NaN samples are skipped.

    Parameters
    ----------
    a, b : numpy.ndarray
        Two series of the same length.
    max_lag : int
        Largest lag (samples).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The lags and their correlations.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.full(lags.size, np.nan)
    n = a.size
    for i, lag in enumerate(lags):
        if lag >= 0:
            x, y = a[: n - lag], b[lag:]
        else:
            x, y = a[-lag:], b[: n + lag]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3:
            continue
        xs, ys = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        den = np.sqrt(np.sum(xs * xs) * np.sum(ys * ys))
        if den > 0:
            corr[i] = np.sum(xs * ys) / den
    return lags, corr


def _all_pair_correlations(x, max_lag):
    """:func:`lagged_correlation` of every row pair ``i < j`` of a finite ``(n, t)`` array.

    One matrix product per lag (sums over the overlapping samples, means from cumulative
    sums) instead of a pass per pair and lag: the check's cost grows with the station
    pairs. Returns ``{(i, j): correlations}`` (NaN where a row is constant over the overlap).
    """
    n_s, n = x.shape
    lags = np.arange(-max_lag, max_lag + 1)
    csum = np.concatenate((np.zeros((n_s, 1)), np.cumsum(x, axis=1)), axis=1)
    csq = np.concatenate((np.zeros((n_s, 1)), np.cumsum(x * x, axis=1)), axis=1)
    corr = np.full((lags.size, n_s, n_s), np.nan)
    for k, lag in enumerate(lags):
        # a[t] with b[t + lag]: rows as "a" over [a0, a1), as "b" over [b0, b1)
        a0, a1 = (0, n - lag) if lag >= 0 else (-lag, n)
        b0, b1 = a0 + lag, a1 + lag
        m = a1 - a0
        if m < 3:
            continue
        sa, sb = csum[:, a1] - csum[:, a0], csum[:, b1] - csum[:, b0]
        va = csq[:, a1] - csq[:, a0] - sa * sa / m
        vb = csq[:, b1] - csq[:, b0] - sb * sb / m
        cross = x[:, a0:a1] @ x[:, b0:b1].T - np.outer(sa, sb) / m
        den = np.sqrt(np.outer(np.maximum(va, 0.0), np.maximum(vb, 0.0)))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr[k] = np.where(den > 0, cross / den, np.nan)
    return {(i, j): corr[:, i, j] for i, j in itertools.combinations(range(n_s), 2)}


def active_interval(da, *, window):
    """(start, stop) sample indices of the most active window of ``window`` samples.

    Parameters
    ----------
    da : xarray.DataArray
        (station, time) data.
    window : int
        Window length (samples).

    Returns
    -------
    (int, int)
        Start and stop sample of the window.
    """
    diff = np.abs(np.diff(da.transpose(..., "time").values, axis=-1))
    activity = np.nansum(diff.reshape(-1, diff.shape[-1]) ** 2, axis=0)
    if activity.size <= window:
        return 0, da.sizes["time"]
    csum = np.concatenate(([0.0], np.cumsum(activity)))
    totals = csum[window:] - csum[:-window]
    start = int(np.argmax(totals))
    return start, start + window + 1


def sync_check(data, *, component=None, max_lag=5, interval=None, window=None):
    """Lag and correlation for every pair of stations.

    Parameters
    ----------
    data : xarray.Dataset
        Aligned stations: dimensions (station, time), one variable per component.
    component : str, optional
        Component to use; default the first one.
    max_lag : int
        Largest shift tested, in samples.
    interval : tuple of str or datetime64, optional
        (start, stop) times of the interval to use; chosen automatically if omitted.
    window : int, optional
        Length of the automatic interval in samples (default: a quarter of the record, at
        least 10 * max_lag).

    Returns
    -------
    pandas.DataFrame
        Columns station_a, station_b, lag (samples; positive = b late), lag_seconds,
        correlation (at the best lag), correlation_zero (at lag 0), significant (a non-zero
        lag with correlation >= 0.5, clearly above the zero-lag value), start, stop.
    """
    if "station" not in data.dims:
        msg = "sync_check needs aligned stations (a 'station' dimension); use align_stations"
        raise ValidationError(msg)
    names = list(data.data_vars)
    component = component or names[0]
    if component not in data:
        msg = f"component {component!r} not in data; available: {', '.join(names)}"
        raise ValidationError(msg)
    da = data[component].transpose("station", "time")
    if interval is not None:
        da = da.sel(time=slice(*interval))
        start, stop = 0, da.sizes["time"]
    else:
        n = da.sizes["time"]
        win = window or max(n // 4, 10 * max_lag)
        start, stop = active_interval(da, window=min(win, n - 1))
    seg = da.isel(time=slice(start, stop))
    diffs = np.diff(seg.values, axis=-1)
    # spikes must not decide the lag: clip first differences at 5 robust deviations
    med = np.nanmedian(diffs, axis=-1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(diffs - med), axis=-1, keepdims=True)
    diffs = np.clip(diffs, med - 5 * mad, med + 5 * mad)
    period = float(data.attrs.get("sampling_period_s", 1.0))
    rows = []
    stations = [str(s) for s in da["station"].values]
    complete = np.flatnonzero(np.isfinite(diffs).all(axis=-1))
    found = {(complete[i], complete[j]): c for (i, j), c in
             _all_pair_correlations(diffs[complete], max_lag).items()}
    lags = np.arange(-max_lag, max_lag + 1)
    for i, j in itertools.combinations(range(len(stations)), 2):
        if (i, j) in found:
            corr = found[i, j]
        else:  # a station with missing samples: pair by pair
            _, corr = lagged_correlation(diffs[i], diffs[j], max_lag=max_lag)
        if np.all(np.isnan(corr)):
            best, value = 0, np.nan
        else:
            best_i = int(np.nanargmax(corr))
            best, value = int(lags[best_i]), float(corr[best_i])
        rows.append(
            {
                "station_a": stations[i],
                "station_b": stations[j],
                "lag": best,
                "lag_seconds": best * period,
                "correlation": value,
                "correlation_zero": float(corr[max_lag]),
                "significant": bool(
                    best != 0 and value >= 0.5 and value - float(corr[max_lag]) > 0.05
                ),
                "start": seg["time"].values[0],
                "stop": seg["time"].values[-1],
            }
        )
    return pd.DataFrame(rows)


def apply_shifts(data, lags, *, reference=None):
    """Shift stations so that the lags found by :func:`sync_check` become zero.

    Parameters
    ----------
    data : xarray.Dataset
        Aligned stations (station, time).
    lags : pandas.DataFrame
        Output of :func:`sync_check`.
    reference : str, optional
        Station kept as it is (default: the first). Others are shifted by their lag relative
        to it; shifted-in samples are NaN.

    Returns
    -------
    xarray.Dataset
        The shifted stations.
    """
    stations = [str(s) for s in data["station"].values]
    reference = reference or stations[0]
    shifts = {reference: 0}
    for row in lags.itertuples():
        if row.station_a == reference:
            shifts[row.station_b] = int(row.lag)
        elif row.station_b == reference:
            shifts[row.station_a] = -int(row.lag)
    parts = [
        data.sel(station=name).shift(time=-shifts.get(name, 0)) for name in stations
    ]
    out = xr.concat(parts, dim="station")
    out.attrs = dict(data.attrs)
    out.attrs["sync_shifts_samples"] = ",".join(f"{k}:{v}" for k, v in shifts.items())
    return out
