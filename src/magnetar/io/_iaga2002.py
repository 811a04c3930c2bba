"""IAGA-2002 reader and writer.

IAGA-2002 is the INTERMAGNET exchange format for observatory data: fixed 70-column header
records, free comment lines (`` # ...``), one column-header line (``DATE TIME DOY <codes>``)
and one data line per sample with up to four elements in ``%10.2f``. 99999 marks missing data;
88888 marks a scalar value that was not recorded.

The reader returns an :class:`xarray.Dataset` with dimension ``time``, one variable per reported
element (``NUL`` placeholder columns are dropped) and the header in ``attrs`` under snake-case
names (``iaga_code``, ``reported``, ``data_interval_type``, ...), plus the original spelling and
order of the header keys, so that :func:`write_iaga2002` reproduces what was read.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._utils import atomic_path, progress_bar
from ..errors import FileFormatError, ValidationError

__all__ = [
    "merge_stations",
    "read_iaga2002",
    "read_magnetogram",
    "read_stations",
    "write_iaga2002",
]

LOGGER = logging.getLogger(__name__)

MISSING = 99999.0
NOT_RECORDED = 88888.0
MAX_FILLED_ROWS = 1_000_000  # gaps are filled only up to this size (or 10x the rows read)
_SENTINEL_THRESHOLD = 88887.5

#: Mandatory header records, in the order the format defines them.
HEADER_KEYS = (
    "Format",
    "Source of Data",
    "Station Name",
    "IAGA CODE",
    "Geodetic Latitude",
    "Geodetic Longitude",
    "Elevation",
    "Reported",
    "Sensor Orientation",
    "Digital Sampling",
    "Data Interval Type",
    "Data Type",
)
_OPTIONAL_KEYS = ("Publication Date",)


def _attr_name(key):
    return re.sub(r"[^a-z0-9]+", "_", key.strip().lower()).strip("_")


_KNOWN = {_attr_name(k): k for k in HEADER_KEYS + _OPTIONAL_KEYS}
_UNITS = {"D": "arcmin", "I": "arcmin"}


def _open_text(path, member=None):
    """Return the text of ``path``, transparently reading ``.gz`` and ``.zip``."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such file"
        raise FileFormatError(msg)
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        elif name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if member is None:
                    data_names = [n for n in names if not n.startswith("__MACOSX")]
                    if len(data_names) != 1:
                        msg = (
                            f"archive holds {len(data_names)} files ({', '.join(data_names)}); "
                            "name one with member="
                        )
                        raise FileFormatError(msg, path=path)
                    member = data_names[0]
                elif member not in names:
                    msg = f"archive has no member '{member}'; it holds {', '.join(names)}"
                    raise FileFormatError(msg, path=path)
                raw = zf.read(member)
        else:
            raw = path.read_bytes()
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        msg = f"cannot read compressed or plain file: {err}"
        raise FileFormatError(msg, path=path) from err
    return raw.decode("latin-1")


def _split_reported(reported):
    """Split a Reported code such as ``HDZF`` or ``HNULNULNUL`` into element names."""
    out = []
    i = 0
    text = reported.strip().upper()
    while i < len(text):
        if text.startswith("NUL", i):
            out.append("NUL")
            i += 3
        else:
            out.append(text[i])
            i += 1
    return out


def _interval_seconds(text):
    """Return sampling period implied by a 'Data Interval Type' value, or None if unstated."""
    text = text.lower()
    match = re.search(r"(\d+(?:\.\d+)?)?\s*-?\s*(second|sec|minute|min|hour|day)", text)
    if not match:
        return None
    number = float(match.group(1)) if match.group(1) else 1.0
    unit = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
    return number * unit[match.group(2)]


def _parse_header(lines, path):
    """Parse header records and comments up to the column-header line."""
    records = {}
    order = []
    comments = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.upper().startswith("DATE"):
            return records, order, comments, number
        body = line.rstrip().rstrip("|").rstrip()
        if stripped.startswith("#"):
            comments.append(body.strip()[1:].strip())
            continue
        if len(body) < 2 or not body[0].isspace():
            msg = f"expected a header record, comment or the DATE line, found {stripped[:40]!r}"
            raise FileFormatError(msg, path=path, line=number)
        key = body[1:24].strip()
        value = body[24:].strip()
        if not key:
            msg = f"header record without a key: {stripped[:40]!r}"
            raise FileFormatError(msg, path=path, line=number)
        records[_attr_name(key)] = value
        order.append(key)
    msg = "no 'DATE TIME DOY ...' column-header line found (file empty or truncated header)"
    raise FileFormatError(msg, path=path)


def _element_names(columns, reported, path, line):
    """Element name of each data column, checked against the Reported record."""
    if reported:
        expected = _split_reported(reported)
        if len(expected) != len(columns):
            msg = (
                f"header contradicts data: Reported '{reported}' lists {len(expected)} "
                f"elements but the column header has {len(columns)} ({' '.join(columns)})"
            )
            raise FileFormatError(msg, path=path, line=line)
        for col, elem in zip(columns, expected, strict=False):
            if not col.upper().endswith(elem):
                msg = (
                    f"header contradicts data: column '{col}' does not match element '{elem}' "
                    f"of Reported '{reported}'"
                )
                raise FileFormatError(msg, path=path, line=line)
        return expected
    # No Reported record: strip a common 3-letter station prefix.
    if all(len(c) > 3 for c in columns) and len({c[:3] for c in columns}) == 1:
        return [c[3:].upper() for c in columns]
    return [c.upper() for c in columns]


def _first_bad(items, convert):
    for i, item in enumerate(items):
        try:
            convert(item)
        except ValueError:
            return i
    return None  # pragma: no cover - only called after a failure


# the columns of ``YYYY-MM-DD hh:mm:ss.sss DDD`` that hold digits, and the separators
_STAMP_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22,
                          24, 25, 26])
_STAMP_SEPARATORS = {4: "-", 7: "-", 10: " ", 13: ":", 16: ":", 19: ".", 23: " "}
_STAMP_FIELDS = {"year": (0, 4), "month": (4, 6), "day": (6, 8), "hour": (8, 10),
                 "minute": (10, 12), "second": (12, 14), "milli": (14, 17), "doy": (17, 20)}


class _Stamps:
    """The ``DATE TIME`` of records, as ``YYYY-MM-DDThh:mm:ss.sss`` (made when asked)."""

    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, i):
        text = self.rows[i, :23].tobytes().decode("latin-1")
        return f"{text[:10]}T{text[11:]}"


def _record_rows(text, col_line):
    """Return the data records as a (record, byte) array when all share one length, else None."""
    start = 0
    for _ in range(col_line):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = len(text.rstrip("\n")) if text.endswith("\n") else len(text)
    if end - start < 27 or "\r" in text:
        return None
    buf = np.frombuffer(text.encode("latin-1"), dtype=np.uint8)[start:end + 1]
    if end == len(text):  # no newline after the last record
        buf = np.append(buf, np.uint8(10))
    length = int(np.argmax(buf == 10)) + 1
    if length < 28 or buf.size % length or np.count_nonzero(buf == 10) != buf.size // length:
        return None
    return buf.reshape(-1, length)


def _parse_fixed(text, col_line, width):
    """Parse records of one length by their fixed columns; None where they are not so.

    IAGA-2002 writes ``YYYY-MM-DD hh:mm:ss.sss DDD`` in columns 1-27 of every record, so
    the time stamps are digits at known places: read as numbers here, not parsed as 86,400
    date strings (which took most of the reading time of a 1-second day). Anything
    unusual (records of other lengths, blank lines, carriage returns, an impossible date
    or time, a field that is not a number, a non-finite value) returns None, and the
    general parsers take over with their messages.
    """
    rows = _record_rows(text, col_line)
    if rows is None or any(np.any(rows[:, i] != ord(c)) for i, c in _STAMP_SEPARATORS.items()):
        return None
    digits = rows[:, _STAMP_DIGITS].astype(np.int64) - ord("0")
    if np.any((digits < 0) | (digits > 9)):
        return None
    f = {name: digits[:, a:b] @ 10 ** np.arange(b - a - 1, -1, -1)
         for name, (a, b) in _STAMP_FIELDS.items()}
    if np.any((f["month"] < 1) | (f["month"] > 12) | (f["day"] < 1) | (f["hour"] > 23)
              | (f["minute"] > 59) | (f["second"] > 59)):
        return None
    month = ((f["year"] - 1970) * 12 + f["month"] - 1).astype("datetime64[M]")
    date = month.astype("datetime64[D]") + (f["day"] - 1)
    if np.any(date.astype("datetime64[M]") != month):  # a 30 February
        return None
    millis = ((f["hour"] * 60 + f["minute"]) * 60 + f["second"]) * 1000 + f["milli"]
    times = date.astype("datetime64[ns]") + (millis * 1_000_000).astype("timedelta64[ns]")
    try:
        values = pd.read_csv(io.BytesIO(rows[:, 27:].tobytes()), sep=r"\s+", header=None,
                             dtype=np.float64, engine="c").to_numpy()
    except (ValueError, TypeError, pd.errors.ParserError):
        return None
    if values.shape != (rows.shape[0], width - 3) or not np.isfinite(values).all():
        return None
    return times, _Stamps(rows), f["doy"], values


def _parse_fast(data_lines, width):
    """Parse data records with pandas' C parser; None if anything looks wrong."""
    text = "\n".join(ln for _, ln in data_lines)
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=r"\s+", header=None, names=range(width),
            dtype={0: str, 1: str, 2: str}, engine="c",
        )
    except (ValueError, TypeError, pd.errors.ParserError):
        return None
    if len(df) != len(data_lines) or df.isna().to_numpy().any():
        return None
    value_block = df.iloc[:, 3:]
    if not all(pd.api.types.is_numeric_dtype(t) for t in value_block.dtypes):
        return None
    stamps = (df[0] + "T" + df[1]).to_numpy()
    try:
        times = pd.to_datetime(stamps, format="ISO8601").to_numpy().astype("datetime64[ns]")
        doy = df[2].astype(np.int64).to_numpy()
    except (ValueError, TypeError):
        return None
    return times, stamps, doy, value_block.to_numpy(dtype=np.float64)


def _parse_checked(data_lines, numbers, width, path):
    """Slow, line-by-line parse that names the first bad line."""
    fields = [ln.split() for _, ln in data_lines]
    lengths = np.fromiter((len(f) for f in fields), dtype=np.int64, count=len(fields))
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        i = int(bad[0])
        msg = (
            f"malformed or truncated data record: expected {width} fields "
            f"(DATE TIME DOY and {width - 3} values), found {lengths[i]}: "
            f"{data_lines[i][1].strip()[:60]!r}"
        )
        raise FileFormatError(msg, path=path, line=numbers[i])
    stamps = [f"{f[0]}T{f[1]}" for f in fields]
    try:
        times = np.array(stamps, dtype="datetime64[ns]")
    except ValueError:
        i = _first_bad(stamps, lambda s: np.datetime64(s, "ns"))
        msg = f"malformed date/time {stamps[i]!r}"
        raise FileFormatError(msg, path=path, line=numbers[i]) from None
    try:
        values = np.array([f[3:] for f in fields], dtype=np.float64)
        doy = np.array([f[2] for f in fields], dtype=np.int64)
    except ValueError:
        i = _first_bad(fields, lambda f: [float(v) for v in f[3:]] + [int(f[2])])
        msg = f"malformed number in data record {data_lines[i][1].strip()[:60]!r}"
        raise FileFormatError(msg, path=path, line=numbers[i]) from None
    return times, stamps, doy, values


def _check_times(times, stamps, doy, numbers, records, path):
    """Day of year, order and cadence of the records; returns (steps, sampling period ns)."""
    true_doy = pd.DatetimeIndex(times).day_of_year.to_numpy()
    mismatch = np.flatnonzero(true_doy != doy)
    if mismatch.size:
        i = int(mismatch[0])
        msg = f"day of year {doy[i]} does not match the date {stamps[i][:10]}"
        raise FileFormatError(msg, path=path, line=numbers[i])

    step = np.diff(times).astype("timedelta64[ns]").astype(np.int64)
    nonpos = np.flatnonzero(step <= 0)
    if nonpos.size:
        i = int(nonpos[0]) + 1
        kind = "duplicate" if step[nonpos[0]] == 0 else "non-monotonic (earlier than the previous)"
        msg = f"{kind} time {stamps[i]}"
        raise FileFormatError(msg, path=path, line=numbers[i])

    stated = _interval_seconds(records.get("data_interval_type", ""))
    if step.size:
        period_ns = int(np.min(step))
        if stated is not None and not np.any(step % int(round(stated * 1e9))):
            period_ns = int(round(stated * 1e9))  # rows missing, cadence as stated
        elif stated is not None and abs(period_ns - stated * 1e9) > 1e-3 * stated * 1e9:
            msg = (
                f"header contradicts data: Data Interval Type "
                f"'{records['data_interval_type']}' means {stated:g} s but samples are "
                f"{period_ns / 1e9:g} s apart"
            )
            raise FileFormatError(msg, path=path, line=numbers[int(np.argmin(step)) + 1])
        irregular = np.flatnonzero(step % period_ns != 0)
        if irregular.size:
            i = int(irregular[0]) + 1
            msg = (
                f"mixed cadences: time {stamps[i]} is {step[i - 1] / 1e9:g} s after the "
                f"previous sample, not a multiple of the {period_ns / 1e9:g} s sampling period"
            )
            raise FileFormatError(msg, path=path, line=numbers[i])
    elif stated is not None:
        period_ns = int(stated * 1e9)
    else:
        msg = "a single sample and no Data Interval Type: the sampling period is unknown"
        raise FileFormatError(msg, path=path, line=numbers[0])

    return step, period_ns


def _element_variables(elements, codes, values, path, col_line):
    """One variable per element column, sentinels (99999, 88888) as NaN."""
    data_vars = {}
    seen = set()
    for j, elem in enumerate(elements):
        if elem == "NUL":
            continue
        if elem in seen:
            msg = f"element '{elem}' appears twice in the column header"
            raise FileFormatError(msg, path=path, line=col_line)
        seen.add(elem)
        column = values[:, j].copy()
        sentinel = column >= _SENTINEL_THRESHOLD
        fill = MISSING
        if sentinel.any() and np.all(np.abs(column[sentinel] - NOT_RECORDED) < 0.5):
            fill = NOT_RECORDED
        column[sentinel] = np.nan
        attrs = {"units": _UNITS.get(elem, "nT"), "iaga_code": codes[j], "iaga_fill_value": fill}
        data_vars[elem] = ("time", column, attrs)

    return data_vars


def _fill_gaps(ds, times, stamps, step, period_ns, numbers, path):
    """Insert the rows missing from the regular axis as NaN (refusing absurd gaps)."""
    n_full = int((times[-1] - times[0]).astype("timedelta64[ns]").astype(np.int64)
                 // period_ns) + 1
    if n_full > max(10 * times.size, MAX_FILLED_ROWS):
        i = int(np.argmax(step)) + 1
        msg = (f"time {stamps[i]} is {step[i - 1] / 86400e9:.1f} days after the previous "
               f"sample: filling the gap would make {n_full:,} rows from {times.size:,}; "
               "check the date, or read with fill_gaps=False")
        raise FileFormatError(msg, path=path, line=numbers[i])
    full = np.arange(times[0], times[-1] + np.timedelta64(1, "ns"), period_ns).astype(
        "datetime64[ns]"
    )
    LOGGER.info("%s: %d missing rows filled with NaN", path, full.size - times.size)
    return ds.reindex(time=full)


def _parse_records(lines, col_line, width, path):
    """Parse the data records line by line (any spacing, blank lines); return them and line numbers."""
    data_lines = [(i, ln) for i, ln in enumerate(lines[col_line:], start=col_line + 1)
                  if ln.strip()]
    if not data_lines:
        msg = "no data lines after the column header (truncated file?)"
        raise FileFormatError(msg, path=path, line=col_line)
    numbers = [i for i, _ in data_lines]
    parsed = _parse_fast(data_lines, width)
    if parsed is None:
        parsed = _parse_checked(data_lines, numbers, width, path)
    not_finite = np.flatnonzero(~np.isfinite(parsed[3]).all(axis=1))
    if not_finite.size:
        i = int(not_finite[0])
        msg = (f"non-finite value (inf or nan) in data record {data_lines[i][1].strip()[:60]!r};"
               " IAGA-2002 marks missing values 99999")
        raise FileFormatError(msg, path=path, line=numbers[i])
    return parsed, numbers


def read_iaga2002(path, *, member=None, fill_gaps=True):
    """Read one IAGA-2002 file (plain, ``.gz`` or ``.zip``).

    Parameters
    ----------
    path : str or path-like
        The file.
    member : str, optional
        File inside a ``.zip`` holding several.
    fill_gaps : bool
        If True (default), rows missing from a regular time axis (a gap in the record) are
        inserted as NaN so the result has one constant sampling period.

    Returns
    -------
    xarray.Dataset
        Dimension ``time`` (UTC, ``datetime64[ns]``); one float64 variable per element in nT
        (D and I in minutes of arc); missing values (99999, 88888) are NaN. The header is in
        ``attrs``; ``sampling_period_s`` holds the cadence in seconds.

    Raises
    ------
    FileFormatError
        Naming the file and line: truncated or malformed records, non-monotonic or duplicate
        times, mixed cadences, or a header that contradicts the data.
    """
    path = Path(path)
    text = _open_text(path, member)
    lines = text.splitlines()
    records, order, comments, col_line = _parse_header(lines, path)
    columns = lines[col_line - 1].replace("|", " ").split()
    if len(columns) < 4 or [c.upper() for c in columns[:3]] != ["DATE", "TIME", "DOY"]:
        msg = f"malformed column header {lines[col_line - 1].strip()!r}"
        raise FileFormatError(msg, path=path, line=col_line)
    codes = columns[3:]
    elements = _element_names(codes, records.get("reported", ""), path, col_line)

    width = 3 + len(codes)
    parsed = _parse_fixed(text, col_line, width)
    if parsed is None:
        parsed, numbers = _parse_records(lines, col_line, width, path)
    else:  # one record a line, from the line after the column header
        numbers = range(col_line + 1, col_line + 1 + len(parsed[0]))
    times, stamps, doy, values = parsed

    step, period_ns = _check_times(times, stamps, doy, numbers, records, path)
    data_vars = _element_variables(elements, codes, values, path, col_line)
    attrs = dict(records)
    attrs["iaga_header_keys"] = "|".join(order)
    attrs["comments"] = "\n".join(comments)
    attrs["sampling_period_s"] = period_ns / 1e9
    attrs["source_file"] = str(path)
    ds = xr.Dataset(data_vars, coords={"time": times}, attrs=attrs)
    ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
    if fill_gaps and step.size and np.any(step != period_ns):
        ds = _fill_gaps(ds, times, stamps, step, period_ns, numbers, path)
    return ds


def _station_code(ds, path=None):
    code = str(ds.attrs.get("iaga_code", "")).strip().upper()
    if not code:
        # fall back to a common 3-letter prefix of the column codes
        prefixes = {
            str(ds[v].attrs.get("iaga_code", ""))[:3].upper() for v in ds.data_vars
        }
        if len(prefixes) == 1 and all(len(p) == 3 for p in prefixes):
            code = prefixes.pop()
    if not code:
        msg = "no IAGA CODE in the header and no station prefix in the columns"
        raise FileFormatError(msg, path=path)
    return code


_CANONICAL = "XYZHDEIUVWFSG"


def _element_rank(name):
    return (_CANONICAL.index(name) if name in _CANONICAL else len(_CANONICAL), name)


def merge_stations(datasets):
    """Merge datasets of the same stations: elements side by side, days end to end.

    Parameters
    ----------
    datasets : iterable of xarray.Dataset
        As returned by :func:`read_iaga2002`.

    Returns
    -------
    dict
        ``{iaga_code: Dataset}``, each on one regular time axis (gaps NaN). Overlapping
        samples of the same element must agree; otherwise a :class:`FileFormatError` names
        both files.
    """
    groups = {}
    for ds in datasets:
        groups.setdefault(_station_code(ds, ds.attrs.get("source_file")), []).append(ds)
    out = {}
    for code, parts in groups.items():
        periods = {p.attrs["sampling_period_s"] for p in parts}
        if len(periods) > 1:
            files = ", ".join(str(p.attrs.get("source_file")) for p in parts)
            msg = f"station {code}: files have different sampling periods {sorted(periods)}: {files}"
            raise FileFormatError(msg)
        period = periods.pop()
        start = min(p.time.values[0] for p in parts)
        stop = max(p.time.values[-1] for p in parts)
        step = np.timedelta64(int(round(period * 1e9)), "ns")
        axis = np.arange(start, stop + step, step).astype("datetime64[ns]")
        merged = xr.Dataset(coords={"time": axis})
        origin = {}
        for part in parts:
            part = part.reindex(time=axis)
            for name, var in part.data_vars.items():
                if name not in merged:
                    merged[name] = var
                    origin[name] = part.attrs.get("source_file")
                    continue
                old = merged[name].values
                new = var.values
                both = np.isfinite(old) & np.isfinite(new)
                if np.any(np.abs(old[both] - new[both]) > 1e-6):
                    msg = (
                        f"station {code}: element {name} differs where "
                        f"{origin[name]} and {part.attrs.get('source_file')} overlap"
                    )
                    raise FileFormatError(msg)
                merged[name].values[:] = np.where(np.isfinite(old), old, new)
        attrs = dict(parts[0].attrs)
        elements = sorted(merged.data_vars, key=_element_rank)
        merged = merged[elements]
        attrs["reported"] = "".join(elements)
        attrs["source_file"] = ";".join(str(p.attrs.get("source_file")) for p in parts)
        merged.attrs = attrs
        merged["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
        out[code] = merged
    return out


def read_magnetogram(path):
    """Read one observatory file: ImagCDF (``.cdf``) or IAGA-2002 (anything else).

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    xarray.Dataset
        As :func:`read_iaga2002` (dimension ``time``, one variable per element).
    """
    if Path(path).suffix.lower() == ".cdf":
        from ._imagcdf import read_imagcdf

        return read_imagcdf(path)
    return read_iaga2002(path)


def read_stations(paths, *, progress=False):
    """Read many IAGA-2002 or ImagCDF files and merge them per station.

    Files holding one element each (as USGS web-service exports) and consecutive days are
    combined into one dataset per station (see :func:`merge_stations`).

    Parameters
    ----------
    paths : sequence of path-like
        The files.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict of str to xarray.Dataset
        One dataset per IAGA code.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        msg = "no input files given"
        raise ValidationError(msg)
    return merge_stations(read_magnetogram(p) for p in progress_bar(
        paths, enabled=progress, desc="reading magnetograms", unit="file"))


def _format_record(key, value):
    return f" {key:<23}{value:<45}"[:69] + "|"


def _format_comment(text):
    return f" # {text:<66}"[:69] + "|"


VECTOR_SETS = ("XYZ", "HDZ", "DHZ", "HEZ", "DIF")
SCALAR = ("F", "G")


def iaga_element_set(ds):
    """Return the four elements an IAGA-2002 file of ``ds`` reports, and those left out.

    IAGA-2002 files carry exactly four elements: a vector set (XYZ, HDZ, DHZ, HEZ or DIF) and
    a scalar, F (total field) or G (delta F). The set read from the file is kept when the
    data still hold it; otherwise the vector set with the most elements present is chosen
    (ties in the order above), elements of it that are absent are written as missing (99999),
    and an absent scalar as F "not recorded" (88888). Other variables are left out: they go
    to the netCDF output instead.

    Parameters
    ----------
    ds : xarray.Dataset
        Variables along ``time`` named by IAGA element letters.

    Returns
    -------
    elements : list of str
        Four element letters, in file order.
    left_out : list of str
        Element variables of ``ds`` that the set does not include.
    """
    present = [str(v) for v in ds.data_vars if ds[v].dims == ("time",)]
    reported = _split_reported(str(ds.attrs.get("reported", "")))
    valid = (len(reported) == 4 and "".join(reported[:3]) in VECTOR_SETS
             and reported[3] in SCALAR and all(e in present for e in reported))
    # a provider's own set with NUL columns (e.g. USGS "HENULNUL") is written back as read,
    # as long as it still holds every element the data have
    as_read = (len(reported) == 4 and all(e in present for e in reported if e != "NUL")
               and all(v in reported for v in present if len(v) == 1))
    if valid or as_read:
        elements = reported
    else:
        best = max(VECTOR_SETS, key=lambda v: sum(e in present for e in v))
        scalar = next((e for e in SCALAR if e in present), "F")
        elements = [*best, scalar]
    left_out = [v for v in present if v not in elements and len(v) == 1]
    return list(elements), left_out


def write_iaga2002(ds, path, *, extra_comments=(), overwrite=False):
    """Write a dataset as IAGA-2002.

    Parameters
    ----------
    ds : xarray.Dataset
        Dimension ``time`` with one variable per element (as from :func:`read_iaga2002`).
        Header values come from ``attrs``; missing mandatory records are written empty.
    path : str or path-like
        Output file (written atomically).
    extra_comments : sequence of str
        Comment lines appended to the header (wrapped to fit), e.g. processing history.
    overwrite : bool
        Refuse to replace an existing file unless True.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path} exists; refusing to overwrite (pass overwrite=True)"
        raise ValidationError(msg)
    if "time" not in ds.dims:
        msg = f"dataset has no 'time' dimension (dims: {tuple(ds.dims)})"
        raise ValidationError(msg)
    elements, left_out = iaga_element_set(ds)
    attrs = {**ds.attrs, "reported": "".join(elements)}
    code = str(attrs.get("iaga_code", "")).strip()
    # What was read is written back as it was; a new dataset gets every mandatory record.
    keys = [k for k in str(attrs.get("iaga_header_keys", "")).split("|") if k]
    if not keys:
        keys = list(HEADER_KEYS)
    header = [_format_record(k, str(attrs.get(_attr_name(k), ""))) for k in keys]
    comments = str(attrs["comments"]).split("\n") if attrs.get("comments") else []
    if left_out:
        extra_comments = [*extra_comments, f"Elements {','.join(left_out)} are not part of a "
                          "valid IAGA-2002 element set and are not written here."]
    for text in extra_comments:
        comments.extend(textwrap.wrap(text, 65) or [""])
    header += [_format_comment(c) for c in comments]

    names = []
    for e in elements:
        var_code = ds[e].attrs.get("iaga_code") if e in ds else None
        names.append(var_code or f"{code}{e}")
    col = f"{'DATE':<11}{'TIME':<13}{'DOY':<8}" + "".join(f"{n:<10}" for n in names)
    header.append(col[:69].ljust(69) + "|")

    times = pd.DatetimeIndex(ds["time"].values)
    millis = np.asarray(times.microsecond // 1000)
    seconds = times.strftime("%Y-%m-%d %H:%M:%S")
    stamps = [f"{s}.{m:03d}" for s, m in zip(seconds, millis, strict=True)]
    doy = times.day_of_year
    cols = []
    for e in elements:
        if e not in ds:  # NUL, or an element of the set that the data lack
            cols.append(np.full(len(times), NOT_RECORDED if e in SCALAR else MISSING))
            continue
        fill = float(ds[e].attrs.get("iaga_fill_value", MISSING))
        v = np.asarray(ds[e].values, dtype=np.float64)
        cols.append(np.where(np.isfinite(v), v, fill))
    table = np.column_stack(cols) if cols else np.empty((len(times), 0))
    body = io.StringIO()
    fmt = "%10.2f" * table.shape[1]
    for stamp, d, row in zip(stamps, doy, table, strict=False):
        body.write(f"{stamp} {d:03d}   {fmt % tuple(row)}\n")
    text = "\n".join(header) + "\n" + body.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="latin-1")
    return path
