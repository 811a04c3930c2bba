"""Reader for NOAA CrowdMag app exports (smartphone magnetometer CSV files).

The app has written several layouts over the years; all of these are read:

- ``Time (UTC), Latitude (deg), Longitude (deg), X (nT), Y (nT), Z (nT), Tempature (°F)``
  (sic: "Tempature"; 999 = no temperature),
- the same with ``TF (nT)`` and optionally ``TF20pt`` before the temperature,
- ``Time (UTC), Latitude (deg), Longitude (deg), Total Field (nT),
  Horizontal Component (nT), Vertical Component (nT)``.

Headers carry leading spaces; times come as ``2022-03-09 22:14:30`` or ``12/8/2021 15:03``
(UTC); rows come newest or oldest first; some rows have a trailing empty field; some
exports stamp the last days of December with the next year (a week-based-year bug, undone
here and counted in ``attrs['week_year_corrected']``; a recording entirely within 24-31
December cannot be decided and is flagged in ``attrs['date_note']``). The reader is
written by hand (csv module, one pass) because a row-level account of what is dropped, and
why, is what a user of crowd-sourced data needs and what ``pandas.read_csv`` cannot give.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime

import numpy as np
import xarray as xr

from .._utils import existing_file
from ..errors import FileFormatError

__all__ = ["read_crowdmag"]

_COLUMNS = {
    "time": "time",
    "latitude": "latitude",
    "longitude": "longitude",
    "x": "x",
    "y": "y",
    "z": "z",
    "tf": "total_reported",
    "tf20pt": "total_20pt",
    "tempature": "temperature",
    "temperature": "temperature",
    "total field": "total",
    "horizontal component": "horizontal",
    "vertical component": "vertical",
}
_REQUIRED = ("time", "latitude", "longitude")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M")
_DEVICE = re.compile(r"_(i[A-Za-z]+\d+,\d+|[A-Za-z]+\d*[,_]\d+)_")
_NO_TEMPERATURE = 999.0


def _header_key(text):
    key = re.sub(r"\(.*?\)", "", text).strip().lower()
    return _COLUMNS.get(key)


def _parse_time(text):
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)  # noqa: DTZ007 (UTC by the format)
        except ValueError:
            continue
    return None


def _undo_week_year(times):
    """Undo the week-based-year bug of some app versions (``YYYY`` instead of ``yyyy``).

    Such exports stamp 26-31 December of year Y-1 as year Y, so one recording holds early
    January of Y and "late December of Y" with nothing in between. Those December rows are
    moved back one year; the count is returned (and kept in ``attrs``).
    """
    years = {t.year for t in times}
    fixed = 0
    for year in years:
        late_dec = [t.month == 12 and t.day >= 24 and t.year == year for t in times]
        early_jan = any(t.year == year and t.month == 1 and t.day <= 8 for t in times)
        middle = any(t.year == year and not (t.month == 1 and t.day <= 8)
                     and not (t.month == 12 and t.day >= 24) for t in times)
        if any(late_dec) and early_jan and not middle:
            times = [t.replace(year=year - 1) if bad else t
                     for t, bad in zip(times, late_dec, strict=True)]
            fixed += sum(late_dec)
    return times, fixed


MAX_FIELD_NT = 10_000_000.0  # 100x any field a phone magnetometer can report: garbage


def _read_text(path):
    """Return the file's text: UTF-8 (with or without BOM), else Latin-1."""
    try:
        return path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError):
        try:
            return path.read_text(encoding="latin-1")
        except OSError as err:
            msg = f"cannot read ({err})"
            raise FileFormatError(msg, path=path) from None


def _check_header(rows, path):
    """Header keys, their column index and whether the layout is X/Y/Z; refusals name line 1."""
    if not rows:
        msg = "empty file"
        raise FileFormatError(msg, path=path, line=1)
    header = [_header_key(h) for h in rows[0]]
    unknown = [h.strip() for h, k in zip(rows[0], header, strict=True) if k is None and h.strip()]
    if unknown:
        msg = (f"unknown column(s) {unknown} in the header; expected CrowdMag columns "
               "(Time, Latitude, Longitude, X/Y/Z or Total Field/Horizontal/Vertical)")
        raise FileFormatError(msg, path=path, line=1)
    missing = [c for c in _REQUIRED if c not in header]
    has_xyz = {"x", "y", "z"} <= set(header)
    if missing or not (has_xyz or "total" in header):
        msg = (f"missing column(s) {missing or ['X, Y, Z or Total Field']}; found "
               f"{[h.strip() for h in rows[0]]}")
        raise FileFormatError(msg, path=path, line=1)
    return header, {k: i for i, k in enumerate(header) if k is not None}, has_xyz


def _parse_row(fields, header, index, numeric, has_xyz):
    """``(time, values)`` of one data row, or the reason it is dropped (a str)."""
    if not any(f.strip() for f in fields):
        return "blank line"
    if len(fields) < len(header) - 1:
        return "too few fields"
    when = _parse_time(fields[index["time"]])
    if when is None:
        return "unreadable time"
    row = {}
    for key in numeric:
        raw = fields[index[key]].strip() if index[key] < len(fields) else ""
        try:
            row[key] = float(raw) if raw else np.nan
        except ValueError:
            row[key] = None
    needed = ["latitude", "longitude"] + (["x", "y", "z"] if has_xyz else ["total"])
    if any(row[k] is None or not np.isfinite(row[k]) for k in needed):
        return "non-numeric or empty value"
    if any(abs(row[k]) > MAX_FIELD_NT for k in needed[2:]):
        return f"field beyond {MAX_FIELD_NT:,.0f} nT"
    if not (-90 <= row["latitude"] <= 90 and -180 <= row["longitude"] <= 360):
        return "position out of range"
    if row["latitude"] == 0 and row["longitude"] == 0:
        return "no position (0, 0)"
    return when, row


def _parse_rows(body, header, index, has_xyz, dropped):
    """Return times and values of the usable rows; ``dropped`` counts the others by reason."""
    numeric = [k for k in index if k != "time"]
    values = {k: [] for k in numeric}
    times = []
    for fields in body:
        parsed = _parse_row(fields, header, index, numeric, has_xyz)
        if isinstance(parsed, str):
            dropped[parsed] += 1
            continue
        when, row = parsed
        times.append(when)
        for key in numeric:
            values[key].append(np.nan if row[key] is None else row[key])
    return times, values


def read_crowdmag(path):
    """Read one CrowdMag CSV export into a point dataset, oldest sample first.

    Parameters
    ----------
    path : path-like
        A CrowdMag app export (any of the layouts above).

    Returns
    -------
    xarray.Dataset
        Dimension ``point``; coordinates ``time`` (UTC), ``latitude``, ``longitude``
        (degrees); ``total`` (nT: the reported total field, or the norm of X, Y, Z) and,
        as the file has them, ``x``, ``y``, ``z`` (device frame), ``horizontal``,
        ``vertical`` (nT), ``temperature`` (degrees F, NaN where the app wrote 999).
        ``attrs``: ``source_file``, ``recording`` and ``device`` (from the file name),
        ``layout``, ``rows_read``, ``rows_dropped`` and ``dropped_reasons`` (JSON:
        reason -> count).

    Raises
    ------
    FileFormatError
        Missing file, unknown header, missing time/position/field columns, or no usable
        row; the message names the file (and the line for header problems).
    """
    path = existing_file(path)
    text = _read_text(path)
    rows = list(csv.reader(text.splitlines()))
    header, index, has_xyz = _check_header(rows, path)
    body = rows[1:]
    dropped = Counter()
    if body and text and not text.endswith(("\n", "\r")) and len(body) > 1:
        body = body[:-1]  # the last row has no line end: cut off mid-write (exports end in one)
        dropped["last row without a line end (truncated file)"] += 1
    times, values = _parse_rows(body, header, index, has_xyz, dropped)
    if not times:
        msg = f"no usable row ({dict(dropped) or 'no data rows'})"
        raise FileFormatError(msg, path=path)
    times, corrected = _undo_week_year(times)
    date_note = _ambiguous_year(times)
    order = np.argsort(np.array(times, dtype="datetime64[ns]"), kind="stable")
    data = {k: np.asarray(v, dtype=float)[order] for k, v in values.items()}
    if "temperature" in data:
        data["temperature"][data["temperature"] == _NO_TEMPERATURE] = np.nan
    if has_xyz:
        total = np.sqrt(data["x"] ** 2 + data["y"] ** 2 + data["z"] ** 2)
    else:
        total = data["total"]
    data["total"] = total
    units = {"temperature": "degF"}
    variables = {
        k: ("point", v, {"units": units.get(k, "nT")})
        for k, v in data.items() if k not in ("latitude", "longitude")
    }
    device = _DEVICE.search(path.name)
    recording = path.stem.removeprefix("crowdmag_")
    recording = recording.split("_")[0] if "_" in recording else recording
    return xr.Dataset(
        variables,
        coords={
            "time": ("point", np.array(times, dtype="datetime64[ns]")[order]),
            "latitude": ("point", data["latitude"], {"units": "degrees_north"}),
            "longitude": ("point", data["longitude"], {"units": "degrees_east"}),
        },
        attrs={
            "source_file": str(path),
            "recording": recording,
            "device": device.group(1) if device else "unknown",
            "layout": "xyz" if has_xyz else "total/horizontal/vertical",
            "rows_read": len(rows) - 1,
            "rows_dropped": int(sum(dropped.values())),
            "dropped_reasons": json.dumps(dict(dropped)),
            "week_year_corrected": corrected,
            "date_note": date_note,
        },
    )


def _ambiguous_year(times):
    """Return a note when a recording's year cannot be trusted, else "".

    The week-year bug stamps 26-31 December of year Y-1 as Y. A recording with early
    January beside it is corrected (:func:`_undo_week_year`); one that lies entirely within
    24-31 December cannot be decided from the file (its name is stamped by the same
    formatter), so it is flagged, not changed: e.g. ``bishop 1`` (2022-12-28..31 as stamped)
    is very probably 2021-12-28..31, when the same phone recorded at the same place.
    """
    if times and all(t.month == 12 and t.day >= 24 for t in times):
        year = times[0].year
        return (f"all times lie in 24-31 December {year}: the app's week-year bug stamps "
                f"26-31 December of {year - 1} as {year}; the year may be one too late")
    return ""
