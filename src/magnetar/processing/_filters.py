"""Butterworth high-pass filtering of magnetometer series, batch and streaming.

The filter design and the recursion come from :mod:`scipy.signal` (``butter``, ``sosfiltfilt``,
``sosfilt``). What is added here is the gap policy geomagnetic records need:

* zero-phase (batch): gaps of at most ``max_gap`` samples are bridged by linear interpolation
  before filtering; longer gaps split the record into segments filtered separately, so NaN is
  never smeared across the record. Samples that were missing are NaN again in the output.
* causal (streaming): the filter state is carried from call to call; a missing sample feeds
  the last valid value to the recursion and yields NaN. The filter starts in steady state at
  the first valid value, so there is no start-up transient.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import signal

from ..errors import ValidationError

__all__ = ["CausalHighpass", "butter_highpass", "highpass", "highpass_array"]


def butter_highpass(*, cutoff, sampling_period, order=4):
    """Second-order sections of a Butterworth high-pass.

    Parameters
    ----------
    cutoff : float
        Cut-off frequency in Hz (default elsewhere: 1/600 Hz).
    sampling_period : float
        Seconds between samples.
    order : int
        Filter order (4 by default).

    Returns
    -------
    numpy.ndarray
        Second-order sections (``scipy.signal`` ``sos`` layout).
    """
    if sampling_period <= 0:
        msg = f"sampling_period must be positive, got {sampling_period}"
        raise ValidationError(msg)
    nyquist = 0.5 / sampling_period
    if not 0 < cutoff < nyquist:
        msg = (
            f"cutoff {cutoff:g} Hz must lie between 0 and the Nyquist frequency "
            f"{nyquist:g} Hz of a {sampling_period:g} s sampling period"
        )
        raise ValidationError(msg)
    if order < 1:
        msg = f"order must be >= 1, got {order}"
        raise ValidationError(msg)
    return signal.butter(order, cutoff, btype="highpass", output="sos", fs=1.0 / sampling_period)


def _segments(finite, max_gap):
    """Index ranges [a, b) of the record joined across gaps of at most ``max_gap`` samples."""
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    stops = np.concatenate((idx[breaks] + 1, [idx[-1] + 1]))
    return list(zip(starts, stops, strict=False))


def _zero_phase_1d(x, sos, max_gap, padlen):
    out = np.full_like(x, np.nan)
    finite = np.isfinite(x)
    for a, b in _segments(finite, max_gap):
        seg = x[a:b]
        ok = finite[a:b]
        if not ok.all():
            pos = np.arange(b - a)
            seg = np.interp(pos, pos[ok], seg[ok])
        if b - a < 2 * sos.shape[0] * 2 + 1:
            continue  # too short to filter: left NaN, no detection there
        pad = min(padlen, b - a - 1)
        out[a:b] = signal.sosfiltfilt(sos, seg, padtype="odd", padlen=pad)
    out[~finite] = np.nan
    return out


def highpass_array(x, *, sos, zero_phase=True, max_gap=10, padlen=0):
    """High-pass the last axis of ``x`` (any leading shape) with the gap policy above.

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis; NaN marks missing samples.
    sos : numpy.ndarray
        Second-order sections (:func:`butter_highpass`).
    zero_phase : bool
        Forward-backward (True) or causal (False).
    max_gap : int
        Longest gap, in samples, bridged by interpolation in zero-phase mode.
    padlen : int
        Odd-extension length at segment edges in zero-phase mode.

    Returns
    -------
    numpy.ndarray
        The high-passed series (float64, NaN where missing).
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    if zero_phase:
        clean = np.isfinite(flat).all(axis=1)
        n = flat.shape[1]
        if clean.any() and n > 4 * sos.shape[0] + 1:
            out[clean] = signal.sosfiltfilt(
                sos, flat[clean], axis=-1, padtype="odd", padlen=min(padlen, n - 1)
            )
        elif clean.any():
            out[clean] = np.nan
        for i in np.flatnonzero(~clean):
            out[i] = _zero_phase_1d(flat[i], sos, max_gap, padlen)
    else:
        filt = CausalHighpass(sos, n_series=flat.shape[0])
        out[:] = filt(flat)
    return out.reshape(x.shape)


class CausalHighpass:
    """Causal Butterworth high-pass whose state carries over between calls.

    Calling it on consecutive chunks gives the same output as calling it once on the whole
    record. NaN input yields NaN output; the recursion is fed the last valid value instead.

    Parameters
    ----------
    sos : numpy.ndarray
        Second-order sections.
    n_series : int
        Number of independent series (rows of each chunk).
    """

    def __init__(self, sos, *, n_series):
        self.sos = np.asarray(sos, dtype=np.float64)
        self.n_series = int(n_series)
        self.zi_ = np.zeros((self.n_series, self.sos.shape[0], 2))
        self.last_ = np.full(self.n_series, np.nan)
        self._started = np.zeros(self.n_series, dtype=bool)  # first valid sample seen
        self._zi_unit = signal.sosfilt_zi(self.sos)

    def __call__(self, chunk):
        """Filter a chunk of shape (n_series, n) and return the high-passed chunk."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] != self.n_series:
            msg = f"chunk must have shape ({self.n_series}, n), got {chunk.shape}"
            raise ValidationError(msg)
        out = np.empty_like(chunk)
        for i in range(self.n_series):
            row = chunk[i]
            finite = np.isfinite(row)
            if not self._started[i]:
                first = np.flatnonzero(finite)
                if first.size == 0:
                    out[i] = np.nan
                    continue
                self.zi_[i] = self._zi_unit * row[first[0]]
                self._started[i] = True
                self.last_[i] = row[first[0]]
            if finite.all():
                fed = row
            else:
                fed = _hold_last(row, finite, self.last_[i])
            out[i], self.zi_[i] = signal.sosfilt(self.sos, fed, zi=self.zi_[i])
            out[i][~finite] = np.nan
            self.last_[i] = fed[-1] if fed.size else self.last_[i]
        return out

    def state_dict(self):
        """State as plain arrays (for saving)."""
        return {"zi": self.zi_.copy(), "last": self.last_.copy(),
                "started": self._started.copy()}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.zi_ = np.array(state["zi"], dtype=np.float64)
        self.last_ = np.array(state["last"], dtype=np.float64)
        self._started = np.array(state["started"], dtype=bool)


def _hold_last(row, finite, last):
    """Replace NaN by the last valid value (``last`` before the first)."""
    idx = np.where(finite, np.arange(row.size), -1)
    np.maximum.accumulate(idx, out=idx)
    fed = np.where(idx >= 0, row[np.clip(idx, 0, None)], last)
    return fed


def sampling_period_of(obj):
    """Return sampling period in seconds from ``attrs['sampling_period_s']`` or the time axis.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Data with a ``time`` axis.

    Returns
    -------
    float
        Seconds between samples.
    """
    period = obj.attrs.get("sampling_period_s")
    if period:
        return float(period)
    times = obj["time"].values
    if times.size < 2:
        msg = "cannot infer the sampling period from fewer than two samples"
        raise ValidationError(msg)
    return float(np.median(np.diff(times)).astype("timedelta64[ns]").astype(np.int64)) / 1e9


def highpass(data, *, cutoff=1.0 / 600.0, order=4, zero_phase=True, max_gap=10):
    """High-pass filter a DataArray or Dataset along ``time``.

    Parameters
    ----------
    data : xarray.DataArray or xarray.Dataset
        Must have a ``time`` dimension with a regular sampling period.
    cutoff : float
        Cut-off frequency in Hz (1/600 Hz by default, whatever the cadence).
    order : int
        Butterworth order (4).
    zero_phase : bool
        Forward-backward filtering (batch) or causal filtering (as in streaming).
    max_gap : int
        Gaps up to this many samples are bridged before zero-phase filtering.

    Returns
    -------
    Same type as ``data``, coordinates and attributes kept; missing samples stay NaN.
    """
    if "time" not in data.dims:
        msg = f"input has no 'time' dimension (dims: {tuple(data.dims)})"
        raise ValidationError(msg)
    period = sampling_period_of(data)
    sos = butter_highpass(cutoff=cutoff, sampling_period=period, order=order)
    padlen = int(round(1.0 / (cutoff * period)))

    def _apply(da):
        moved = da.transpose(..., "time")
        values = highpass_array(
            moved.values, sos=sos, zero_phase=zero_phase, max_gap=max_gap, padlen=padlen
        )
        return moved.copy(data=values).transpose(*da.dims)

    if isinstance(data, xr.Dataset):
        return data.map(_apply, keep_attrs=True)
    return _apply(data)
