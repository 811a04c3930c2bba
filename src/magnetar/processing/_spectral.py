"""Band-pass filtering and Welch spectrograms of high-rate magnetometer data.

The IAR workflow (Beggan 2014; Hodnett et al. 2024): a zero-phase Butterworth band-pass
(0.5-10 Hz), then one Welch periodogram per consecutive segment (100 s, Hann window,
4096-point FFT, 50 % overlap inside the segment) stacked into a spectrogram of log10 power:
864 columns per day. Filtering and windows are scipy.signal's, the FFTs scipy.fft's; what is
written here is the handling of gaps (each finite run is filtered on its own; a segment with
more than ``max_missing`` of its samples missing becomes a NaN column, fewer are zero-filled
and rescaled), the physical axes (frequency in Hz, time at the segment centre, units), and
the Welch average itself: all segments' windows framed with strides and transformed in one
batched rfft, the same numbers as ``scipy.signal.welch`` (tested) in half its time, so the
whole chain runs faster than plain scipy (band-pass + welch) in the same run (issue 24).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from ..errors import ValidationError

__all__ = ["bandpass", "crop_band", "select_night", "split_nights", "welch_spectrogram"]

PARTIAL_BELOW = 0.99  # a night with data for less of its length than this is partial


def _rate(series, sampling_rate):
    rate = series.attrs.get("sampling_rate") if sampling_rate is None else sampling_rate
    if rate is None or not np.isfinite(rate) or rate <= 0:
        msg = ("the series has no attrs['sampling_rate']; read it with "
               "magnetar.io.read_timeseries or pass sampling_rate=")
        raise ValidationError(msg)
    return float(rate)


def _runs(finite):
    """(start, stop) index pairs of the True runs of a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], finite.view(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def bandpass(series, *, low=0.5, high=10.0, order=4, sampling_rate=None):
    """Zero-phase Butterworth band-pass of every channel, gaps handled.

    Parameters
    ----------
    series : xarray.DataArray
        ``(time,)`` or ``(time, channel)`` with ``attrs["sampling_rate"]``.
    low, high : float
        Pass band in Hz (``high`` below Nyquist).
    order : int
        Butterworth order of each pass (applied forwards and backwards: the magnitude
        response is squared and the phase is zero).

    Returns
    -------
    xarray.DataArray
        Same shape and coordinates; runs of finite samples too short to filter (shorter
        than the filter's padding) are NaN, as are the gaps.
    """
    fs = _rate(series, sampling_rate)
    if not 0 < low < high < fs / 2:
        msg = f"need 0 < low < high < Nyquist ({fs / 2:g} Hz); got low={low}, high={high}"
        raise ValidationError(msg)
    if order < 1:
        msg = f"order must be >= 1, got {order}"
        raise ValidationError(msg)
    sos = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    values = np.asarray(series.values, dtype=float)
    flat = values.reshape(values.shape[0], -1)
    padlen = 3 * (2 * len(sos) + 1)
    if flat.shape[0] > padlen and np.isfinite(flat).all():
        # no gaps: every channel in one call (sosfiltfilt starts from the steady state of
        # the first sample, so the band-pass ignores the mean without subtracting it)
        out = signal.sosfiltfilt(sos, flat, axis=0)
    else:
        out = np.full_like(flat, np.nan)
        for j in range(flat.shape[1]):
            for a, b in _runs(np.isfinite(flat[:, j])):
                if b - a > padlen:
                    x = flat[a:b, j]
                    out[a:b, j] = signal.sosfiltfilt(sos, x - x.mean())
    result = series.copy(data=out.reshape(values.shape))
    result.attrs.update({"bandpass_hz": [low, high], "bandpass_order": order})
    return result


def _check_welch_size(channels, n_seg, seg, nperseg, nfft, overlap):
    """Refuse Welch spectra too large for memory (the FFT length is a user option)."""
    from .._utils import check_allocation

    n_sub = max(1, (seg - nperseg) // max(nperseg - int(overlap * nperseg), 1) + 1)
    check_allocation(channels * n_seg * n_sub * (max(nfft, nperseg) // 2 + 1) * 16 * 2,
                     option="nfft (--nfft)", what=f"Welch spectra of {n_seg} segments with "
                     f"FFTs of {max(nfft, nperseg)} points")


def welch_spectrogram(series, *, segment_s=100.0, nfft=4096, overlap=0.5, window="hann",
                      max_missing=0.1, combine="sum", sampling_rate=None):
    """Spectrogram of consecutive Welch periodograms, in log10 power.

    Parameters
    ----------
    series : xarray.DataArray
        ``(time,)`` or ``(time, channel)`` with ``attrs["sampling_rate"]``.
    segment_s : float
        Length of each spectrogram column in seconds (default 100 s: 864 per day).
    nfft : int
        FFT length of each Welch window (the window is ``min(nfft, segment)`` samples).
    overlap : float
        Overlap of the Welch windows inside a segment, as a fraction in [0, 1).
    window : str
        scipy.signal window name.
    max_missing : float
        Segments missing more than this fraction of samples are NaN columns; others are
        zero-filled and their power divided by the fraction present.
    combine : {"sum", "none"}
        With several channels: sum their power (total, e.g. of both horizontal components)
        or keep a ``channel`` dimension.
    sampling_rate : float, optional
        Hz, when the series does not carry it.

    Returns
    -------
    xarray.DataArray
        ``(frequency, time)`` (or ``(channel, frequency, time)``) of log10 power spectral
        density, units ``log10(<units>^2/Hz)``; ``time`` is each segment's centre.
    """
    fs = _rate(series, sampling_rate)
    if not 0 <= overlap < 1:
        msg = f"overlap must be in [0, 1), got {overlap}"
        raise ValidationError(msg)
    if combine not in ("sum", "none"):
        msg = f"combine must be 'sum' or 'none', got {combine!r}"
        raise ValidationError(msg)
    seg = int(round(segment_s * fs))
    values = np.asarray(series.values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    n_seg = values.shape[0] // seg
    if seg < 8 or n_seg < 1:
        msg = (f"a {segment_s} s segment is {seg} samples at {fs:g} Hz and the series has "
               f"{values.shape[0]}: need at least one segment of 8 samples")
        raise ValidationError(msg)
    nperseg = min(nfft, seg)
    _check_welch_size(values.shape[1], n_seg, seg, nperseg, nfft, overlap)
    blocks = values[:n_seg * seg].reshape(n_seg, seg, -1).transpose(2, 0, 1)  # (ch, seg, n)
    finite = None if np.isfinite(values[:n_seg * seg]).all() else np.isfinite(blocks)
    if finite is None:  # no gaps
        present = np.ones(blocks.shape[:2])
        means = blocks.mean(-1)
    else:
        present = finite.mean(axis=-1)
        blocks = np.where(finite, blocks, 0.0)
        means = blocks.sum(-1) / np.maximum(finite.sum(-1), 1)
    freq, psd = _welch(blocks, means, finite, fs=fs, window=window, nperseg=nperseg,
                       step=nperseg - int(overlap * nperseg), nfft=max(nfft, nperseg))
    psd = psd / np.maximum(present, 1e-12)[..., None]
    psd[present < 1 - max_missing] = np.nan
    if combine == "sum":
        psd = psd.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore"):
        logp = np.log10(psd).transpose(0, 2, 1)  # (ch, freq, time)
    times = series["time"].values
    start = pd.Timestamp(times[0])
    centres = start + pd.to_timedelta((np.arange(n_seg) + 0.5) * seg / fs, unit="s")
    units = series.attrs.get("units") or "unit"
    attrs = {"units": f"log10({units}^2/Hz)", "long_name": "power spectral density",
             "segment_s": float(segment_s), "nfft": int(nfft), "overlap": float(overlap),
             "window": window, "sampling_rate": fs,
             "welch_windows_per_segment": int((seg - nperseg) // (nperseg - int(overlap * nperseg))
                                              + 1)}
    coords = {"frequency": ("frequency", freq, {"units": "Hz"}), "time": centres.values}
    if combine == "sum":
        return xr.DataArray(logp[0], dims=("frequency", "time"), coords=coords, attrs=attrs)
    chan = series["channel"].values if "channel" in series.dims else ["ch0"]
    return xr.DataArray(logp, dims=("channel", "frequency", "time"),
                        coords={**coords, "channel": chan}, attrs=attrs)


def _welch(blocks, means, finite, *, fs, window, nperseg, step, nfft):
    """Return the Welch PSD of every segment, framed with strides in one batched rfft.

    ``scipy.signal.welch(detrend=False)`` of the de-meaned segments (gaps zero-filled).
    The same numbers as scipy's (tested) in half its time on one core: scipy's general
    helper copies and detrends each window and keeps the complex cross-spectrum.
    """
    from numpy.lib.stride_tricks import as_strided
    from scipy import fft

    win = signal.get_window(window, nperseg)
    n_win = (blocks.shape[-1] - nperseg) // step + 1
    st = blocks.strides
    frames = as_strided(blocks, shape=(*blocks.shape[:2], n_win, nperseg),
                        strides=(*st[:2], step * st[2], st[2]), writeable=False)
    windowed = frames * win
    windowed -= means[..., None, None] * win  # the segment mean, window by window
    if finite is not None:  # zero-filled gaps hold zeros, not the mean
        missing = as_strided(~finite, shape=frames.shape, strides=(
            *finite.strides[:2], step * finite.strides[2], finite.strides[2]), writeable=False)
        windowed[missing] = 0.0
    spectra = fft.rfft(windowed, n=nfft, axis=-1, overwrite_x=True)
    freq = np.fft.rfftfreq(nfft, 1 / fs)
    one_sided = np.full(freq.size, 2.0)  # negative frequencies folded onto positive ones
    one_sided[0] = 1.0
    if nfft % 2 == 0:
        one_sided[-1] = 1.0  # the Nyquist bin has no negative twin
    power = spectra.real ** 2
    power += spectra.imag ** 2
    return freq, power.mean(axis=-2) * (one_sided / (fs * np.sum(win * win)))


def crop_band(spec, *, fmin=0.5, fmax=10.0):
    """Return the rows of a spectrogram with ``fmin <= frequency <= fmax`` (Hz).

    Parameters
    ----------
    spec : xarray.DataArray
        Spectrogram with a ``frequency`` coordinate.
    fmin, fmax : float
        Band kept (Hz).

    Returns
    -------
    xarray.DataArray
        The rows in the band.
    """
    if fmin >= fmax:
        msg = f"need fmin < fmax, got {fmin}, {fmax}"
        raise ValidationError(msg)
    out = spec.sel(frequency=slice(fmin, fmax))
    if out.sizes["frequency"] == 0:
        msg = (f"no frequencies in [{fmin}, {fmax}] Hz (spectrogram covers "
               f"{float(spec.frequency[0]):g}-{float(spec.frequency[-1]):g} Hz)")
        raise ValidationError(msg)
    return out


def night_length(start, end):
    """Return the length of a night from ``start`` to ``end`` (UT clock times HH:MM).

    Parameters
    ----------
    start, end : str
        Clock times; a night ending at or before its start ends the next day, and equal
        times mean a whole day.

    Returns
    -------
    pandas.Timedelta
        The night's length.
    """
    length = (_clock(end, "end") - _clock(start, "start")) % pd.Timedelta(days=1)
    return length or pd.Timedelta(days=1)


def _clock(text, name):
    try:
        return pd.to_timedelta(text + ":00" if text.count(":") == 1 else text)
    except ValueError as err:
        msg = f"{name} must be a time of day like '18:00', got {text!r}"
        raise ValidationError(msg) from err


def select_night(spec, night, *, start="18:00", end="06:00"):
    """Return the columns of one night.

    The columns of the night that begins on date ``night`` at ``start`` (UT) and ends
    at ``end`` (the next day when ``end <= start``).

    Parameters
    ----------
    spec : xarray.DataArray
        Spectrogram with a ``time`` coordinate.
    night : date-like
        The date the night begins.
    start, end : str
        UT clock times HH:MM.

    Returns
    -------
    xarray.DataArray
        The night's columns (possibly none).
    """
    day = pd.Timestamp(night).normalize()
    t0, t1 = day + _clock(start, "start"), day + _clock(end, "end")
    if t1 <= t0:
        t1 += pd.Timedelta(days=1)
    return spec.sel(time=slice(t0, t1))


def night_coverage(spec, *, start, end, step_s):
    """Return the share of a night's length covered by columns with data.

    Parameters
    ----------
    spec : xarray.DataArray
        The night's spectrogram (frequency, time).
    start, end : str
        UT clock times HH:MM of the night.
    step_s : float
        Column length (s).

    Returns
    -------
    float
        Columns with any finite value times ``step_s``, over the night's length (not
        capped at 1).
    """
    finite = int(np.isfinite(spec).any("frequency").sum()) if spec.sizes["time"] else 0
    return finite * step_s / night_length(start, end).total_seconds()


def split_nights(spec, *, start="18:00", end="06:00", min_fraction=0.5):
    """Split a spectrogram into nights.

    ``{date: night spectrogram}`` for every night the spectrogram covers at least
    ``min_fraction`` of (finite columns counted).

    Parameters
    ----------
    spec : xarray.DataArray
        Spectrogram with a ``time`` coordinate.
    start, end : str
        UT clock times HH:MM of each night.
    min_fraction : float
        Nights with less data are left out.

    Returns
    -------
    dict of str to xarray.DataArray
        ISO date -> the night's spectrogram, with ``attrs["night_coverage"]`` (share of the
        night with data) and ``attrs["partial_night"]`` (1 below 99 %).
    """
    times = pd.DatetimeIndex(spec["time"].values)
    if len(times) == 0:
        return {}
    step_s = float(spec.attrs.get("segment_s", 100.0))
    nights = {}
    first = (times[0] - pd.Timedelta(days=1)).normalize()
    for day in pd.date_range(first, times[-1].normalize(), freq="D"):
        part = select_night(spec, day, start=start, end=end)
        coverage = night_coverage(part, start=start, end=end, step_s=step_s)
        if coverage > 0 and coverage >= min_fraction:
            coverage = min(coverage, 1.0)
            part = part.copy()
            part.attrs.update({"night_coverage": coverage,
                               "partial_night": int(coverage < PARTIAL_BELOW)})
            nights[day.date().isoformat()] = part
    return nights
