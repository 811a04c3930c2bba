"""High-rate magnetometer time series: miniSEED, IAGA-2002 and plain numeric arrays.

Every reader returns one :class:`xarray.DataArray` with dimensions ``(time, channel)``,
float64, NaN where samples are missing, and ``attrs["sampling_rate"]`` in Hz: the input of
:func:`magnetar.processing.bandpass` and :func:`magnetar.processing.welch_spectrogram`.
miniSEED is decoded by ObsPy (the seismology standard; Steim compression, gaps and
overlaps); traces of one channel are merged with gaps as NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._utils import require
from ..errors import FileFormatError, ValidationError

__all__ = ["read_timeseries", "timeseries_from_array", "write_mseed"]

_TEXT = (".txt", ".csv", ".dat", ".asc")


def timeseries_from_array(values, *, sampling_rate, start="1970-01-01", channels=None,
                          units="nT"):
    """Wrap samples ``(time,)`` or ``(time, channel)`` as a time series DataArray.

    Parameters
    ----------
    values : array-like
    sampling_rate : float
        Samples per second (Hz).
    start : str or datetime-like
        Time of the first sample (UTC).
    channels : sequence of str, optional
        Channel names (default ``ch0``, ``ch1``, ...).

    units : str
        Units of the values.

    Returns
    -------
    xarray.DataArray
        ``(time, channel)`` with ``attrs["sampling_rate"]`` and ``units``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] < 2:
        msg = f"need samples shaped (time,) or (time, channel), got {values.shape}"
        raise ValidationError(msg)
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        msg = f"sampling_rate must be a positive number of Hz, got {sampling_rate!r}"
        raise ValidationError(msg)
    channels = [f"ch{i}" for i in range(values.shape[1])] if channels is None else list(channels)
    if len(channels) != values.shape[1]:
        msg = f"{len(channels)} channel names for {values.shape[1]} channels"
        raise ValidationError(msg)
    offsets = np.round(np.arange(values.shape[0]) * (1e9 / sampling_rate)).astype(np.int64)
    time = np.datetime64(pd.Timestamp(start).tz_localize(None), "ns") + offsets.astype(
        "timedelta64[ns]")
    return xr.DataArray(values, dims=("time", "channel"),
                        coords={"time": time, "channel": channels},
                        attrs={"sampling_rate": float(sampling_rate), "units": units})


def read_timeseries(path, *, sampling_rate=None, start="1970-01-01", channels=None,
                    units="nT"):
    """Read a high-rate time series.

    Parameters
    ----------
    path : str or path-like
        ``.mseed``/``.miniseed``/``.msd`` (ObsPy), IAGA-2002 (``.min``, ``.sec``, ``.iaga``,
        and ``.gz``/``.zip`` of those), ``.npy``, or a text table (``.txt``, ``.csv``,
        ``.dat``, ``.asc``: one column per channel, ``#`` comments, comma or whitespace).
    sampling_rate : float, optional
        Required for ``.npy`` and text tables (they carry no time axis); ignored otherwise.
    start, channels, units :
        For ``.npy`` and text tables: first sample time, channel names and units.

    Returns
    -------
    xarray.DataArray
        ``(time, channel)``, NaN where missing, ``attrs["sampling_rate"]`` in Hz.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"no such file: {path}"
        raise FileFormatError(msg, path=path)
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".mseed", ".miniseed", ".msd")):
        return _read_mseed(path)
    if any(s in suffixes for s in (".min", ".sec", ".iaga")):
        return _read_iaga(path)
    if sampling_rate is None:
        msg = (f"{path.name} carries no time axis: give sampling_rate (Hz) for .npy and "
               "text tables")
        raise ValidationError(msg)
    if suffixes.endswith(".npy"):
        try:
            values = np.load(path, allow_pickle=False)
        except ValueError as err:
            msg = f"not a NumPy array file: {err}"
            raise FileFormatError(msg, path=path) from err
    elif suffixes.endswith(_TEXT):
        values = _read_text(path)
    else:
        msg = (f"unknown time-series format {suffixes or '(no suffix)'}; expected miniSEED, "
               "IAGA-2002, .npy or a text table")
        raise FileFormatError(msg, path=path)
    try:
        return timeseries_from_array(values, sampling_rate=sampling_rate, start=start,
                                     channels=channels, units=units)
    except ValidationError as err:
        raise FileFormatError(str(err), path=path) from err


def _read_text(path):
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.replace(",", " ").split()
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                if not rows:  # a header line
                    continue
                msg = f"not a number in {text!r}"
                raise FileFormatError(msg, path=path, line=number) from None
            if len(rows[-1]) != len(rows[0]):
                msg = f"{len(rows[-1])} columns where the first data row had {len(rows[0])}"
                raise FileFormatError(msg, path=path, line=number)
    if not rows:
        msg = "no numeric rows"
        raise FileFormatError(msg, path=path)
    return np.asarray(rows)


def _check_mseed_complete(path, stream, caught):
    """Refuse a truncated miniSEED file (obspy reads what is whole and says nothing).

    miniSEED is a sequence of fixed-length records: a file whose size is not a multiple of
    its record length ends in a partial record, i.e. it was cut (an interrupted download
    or copy). obspy's own warnings about partial records are errors here too.
    """
    for w in caught:
        if "record" in str(w.message).lower():
            msg = f"truncated or damaged miniSEED: {str(w.message).strip()}"
            raise FileFormatError(msg, path=path)
    lengths = {int(tr.stats.mseed.record_length) for tr in stream
               if "mseed" in tr.stats and "record_length" in tr.stats.mseed}
    size = Path(path).stat().st_size
    if len(lengths) == 1 and size % (length := lengths.pop()):
        msg = (f"truncated miniSEED: {size} bytes is not a whole number of {length}-byte "
               f"records (the last record has {size % length} bytes; samples after byte "
               f"{size - size % length} are lost)")
        raise FileFormatError(msg, path=path)


def _read_mseed(path):
    obspy = require("obspy", extra="iar", feature="reading miniSEED")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stream = obspy.read(str(path))
    except Exception as err:  # obspy raises many types for corrupt files
        msg = f"not readable as miniSEED: {err}"
        raise FileFormatError(msg, path=path) from err
    _check_mseed_complete(path, stream, caught)
    rates = {tr.stats.sampling_rate for tr in stream}
    if len(rates) != 1:
        msg = f"channels have different sampling rates {sorted(rates)}; read them separately"
        raise FileFormatError(msg, path=path)
    stream.merge(method=0, fill_value=None)  # gaps -> masked samples
    start = min(tr.stats.starttime for tr in stream)
    end = max(tr.stats.endtime for tr in stream)
    stream.trim(start, end, pad=True, fill_value=None)
    rate = rates.pop()
    columns = [np.ma.filled(np.ma.asarray(tr.data, dtype=float), np.nan) for tr in stream]
    names = [tr.stats.channel or tr.id for tr in stream]
    out = timeseries_from_array(np.stack(columns, axis=1), sampling_rate=rate,
                                start=start.datetime, channels=names, units="")
    out.attrs.update({"station": stream[0].stats.station, "network": stream[0].stats.network,
                      "source": str(path)})
    return out


def write_mseed(series, path, *, station="", network="", overwrite=False):
    """Write a time series (time, channel) as miniSEED (FLOAT64 samples, written atomically).

    Missing samples (NaN) are left out: each channel becomes one trace per run of valid
    samples, so :func:`read_timeseries` reads the gaps back as NaN.

    Parameters
    ----------
    series : xarray.DataArray
        ``(time,)`` or ``(time, channel)`` with ``attrs["sampling_rate"]`` (Hz).
    path : path-like
        Output file.
    station, network : str
        SEED station and network codes.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from .._utils import atomic_path

    obspy = require("obspy", extra="iar", feature="writing miniSEED")
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path} exists; refusing to overwrite it"
        raise ValidationError(msg)
    rate = float(series.attrs["sampling_rate"])
    start = obspy.UTCDateTime(str(np.datetime_as_string(series["time"].values[0], unit="us")))
    values = series.values.reshape(series.shape[0], -1)
    names = (series["channel"].values if "channel" in series.dims
             else [series.name or "X"])
    traces = []
    for column, name in zip(values.T, names, strict=True):
        ok = np.isfinite(column).astype(np.int8)
        edges = np.flatnonzero(np.diff(np.r_[0, ok, 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            traces.append(obspy.Trace(data=column[a:b].astype(np.float64), header={
                "sampling_rate": rate, "starttime": start + a / rate, "station": station,
                "network": network, "channel": str(name)}))
    if not traces:
        msg = f"nothing to write to {path}: every sample is missing"
        raise ValidationError(msg)
    with atomic_path(path, suffix=".mseed") as tmp:
        obspy.Stream(traces).write(str(tmp), format="MSEED", encoding="FLOAT64")
    return path


def _read_iaga(path):
    from ._iaga2002 import read_iaga2002

    ds = read_iaga2002(path)
    period = float(ds.attrs["sampling_period_s"])
    names = list(ds.data_vars)
    values = np.stack([ds[v].values for v in names], axis=1)
    out = xr.DataArray(values, dims=("time", "channel"),
                       coords={"time": ds["time"].values, "channel": names},
                       attrs={"sampling_rate": 1.0 / period, "units": "nT",
                              "station": ds.attrs.get("iaga_code", ""), "source": str(path)})
    return out
