"""Robust noise level of high-passed magnetometer series.

The published estimator: the standard deviation in a sliding window of 200 samples, then the
median of the values left after discarding the lowest 30 % and the highest 30 %. Windows that
contain a disturbance have large deviations and fall in the discarded upper part, so the
estimate reflects the instrument and background level, not the events to be detected.

.. note::
   Trimming equal fractions from both ends leaves the median unchanged; the trim matters when
   ``statistic="mean"`` is chosen (a trimmed mean). Both are offered; the published median is
   the default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ValidationError

__all__ = ["noise_sigma", "noise_sigma_array", "noise_sigma_daily", "rolling_std"]

MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a Gaussian -> its sigma
TUKEY_C = 4.685  # biweight tuning constant: 95 % efficiency at the Gaussian


def rolling_std(x, window):
    """Return standard deviation over a trailing window of ``window`` samples along the last axis.

    Windows containing NaN give NaN. Computed with cumulative sums (O(n)), in float64.

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis.
    window : int
        Window length (samples).

    Returns
    -------
    numpy.ndarray
        Shape of ``x``; NaN for the first ``window - 1`` samples.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    out = np.full(x.shape, np.nan)
    if n < window:
        return out
    finite = np.isfinite(x)
    z = np.where(finite, x, 0.0)
    # centre each series to keep the cumulative sums well conditioned
    with np.errstate(invalid="ignore"):
        centre = np.nanmedian(np.where(finite, x, np.nan), axis=-1, keepdims=True)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    z = np.where(finite, z - centre, 0.0)
    zeros = np.zeros(x.shape[:-1] + (1,))
    c1 = np.concatenate((zeros, np.cumsum(z, axis=-1)), axis=-1)
    c2 = np.concatenate((zeros, np.cumsum(z * z, axis=-1)), axis=-1)
    cn = np.concatenate((zeros, np.cumsum(~finite, axis=-1)), axis=-1)
    s1 = c1[..., window:] - c1[..., :-window]
    s2 = c2[..., window:] - c2[..., :-window]
    bad = (cn[..., window:] - cn[..., :-window]) > 0
    var = np.maximum(s2 / window - (s1 / window) ** 2, 0.0)
    std = np.sqrt(var)
    std[bad] = np.nan
    out[..., window - 1 :] = std
    return out


def _trimmed_stat(values, trim, statistic):
    values = np.sort(values[np.isfinite(values)])
    if values.size == 0:
        return np.nan
    lo = int(np.floor(trim * values.size))
    hi = values.size - lo
    kept = values[lo:hi] if hi > lo else values
    return float(np.median(kept) if statistic == "median" else np.mean(kept))


def noise_sigma_array(x, *, window=200, trim=0.3, statistic="median"):
    """Noise sigma of each series along the last axis (see module docstring).

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis (NaN allowed).
    window : int
        Sliding-std window (samples).
    trim : float
        Fraction of the sorted window stds discarded at each end.
    statistic : {"median", "mean"}
        Statistic of the kept stds.

    Returns
    -------
    numpy.ndarray
        One sigma per series (the leading shape of ``x``).
    """
    if window < 2:
        msg = f"window must be at least 2 samples, got {window}"
        raise ValidationError(msg)
    if not 0 <= trim < 0.5:
        msg = f"trim must be in [0, 0.5), got {trim}"
        raise ValidationError(msg)
    if statistic not in ("median", "mean"):
        msg = f"statistic must be 'median' or 'mean', got {statistic!r}"
        raise ValidationError(msg)
    x = np.asarray(x, dtype=np.float64)
    stds = rolling_std(x, window)
    flat = stds.reshape(-1, stds.shape[-1])
    out = np.array([_trimmed_stat(row, trim, statistic) for row in flat])
    return out.reshape(x.shape[:-1])


def noise_sigma(hp, *, window=200, trim=0.3, statistic="median"):
    """Robust noise sigma of high-passed data, one value per series.

    Parameters
    ----------
    hp : xarray.DataArray or xarray.Dataset
        High-passed data with a ``time`` dimension.
    window : int
        Sliding-window length in samples (200).
    trim : float
        Fraction discarded at each end of the sorted window deviations (0.3).
    statistic : {"median", "mean"}
        Statistic of the retained deviations.

    Returns
    -------
    Same type as ``hp`` without the ``time`` dimension, in the input's units.
    """

    def _one(da):
        moved = da.transpose(..., "time")
        values = noise_sigma_array(moved.values, window=window, trim=trim, statistic=statistic)
        dims = [d for d in moved.dims if d != "time"]
        coords = {k: v for k, v in moved.coords.items() if "time" not in v.dims}
        return xr.DataArray(values, dims=dims, coords=coords, attrs=dict(da.attrs))

    if isinstance(hp, xr.Dataset):
        return xr.Dataset({k: _one(v) for k, v in hp.data_vars.items()}, attrs=dict(hp.attrs))
    return _one(hp)


def noise_sigma_daily(hp, *, window=200, trim=0.3, statistic="median"):
    """Noise sigma per UTC day: a time series that shows a drifting or failing instrument.

    Returns the input's type with ``time`` replaced by ``day`` (the day's first instant).

    Parameters
    ----------
    hp : xarray.Dataset or xarray.DataArray
        High-passed data with a ``time`` axis.
    window, trim, statistic :
        As :func:`noise_sigma_array`.
    """
    days = pd.DatetimeIndex(hp["time"].values).floor("D")
    parts = []
    labels = []
    for day in days.unique():
        sel = hp.isel(time=np.flatnonzero(days == day))
        parts.append(noise_sigma(sel, window=window, trim=trim, statistic=statistic))
        labels.append(day.to_datetime64())
    out = xr.concat(parts, dim="day")
    return out.assign_coords(day=np.array(labels, dtype="datetime64[ns]"))
