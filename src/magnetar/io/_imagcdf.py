"""ImagCDF (INTERMAGNET CDF format, version 1.2) reader and writer, on cdflib.

ImagCDF holds one CDF variable per geomagnetic element, ``GeomagneticField<E>`` (CDF_DOUBLE,
one sample per record, missing samples equal to the variable's ``FILLVAL``), whose
``DEPEND_0`` attribute names the time-stamp variable (CDF_TIME_TT2000):
``GeomagneticVectorTimes``, ``GeomagneticScalarTimes`` or ``DataTimes``. Global attributes
describe the format (``FormatDescription`` "INTERMAGNET CDF Format", ``FormatVersion``,
``Title``), identify the data (``IagaCode``, ``ElementsRecorded``, ``PublicationLevel`` 1-4,
``PublicationDate``) and the observatory (``ObservatoryName``, ``Latitude``, ``Longitude``,
``Elevation``, ``Institution``, ...). Specification: INTERMAGNET Technical Reference Manual,
appendix "IMAGCDF INTERMAGNET Exchange Format".

The reader returns the same layout as :func:`magnetar.io.read_iaga2002` (dimension ``time``,
one variable per element, header in ``attrs`` under IAGA-2002 names where one exists, e.g.
``iaga_code``, ``station_name``, ``geodetic_latitude``), so every command that takes
IAGA-2002 takes ImagCDF too. Scalar elements on their own time stamps are put on the vector
time axis where the stamps coincide (NaN elsewhere).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from .._utils import atomic_path, existing_file, require
from ..errors import FileFormatError, ValidationError

__all__ = ["read_imagcdf", "write_imagcdf"]

LOGGER = logging.getLogger(__name__)

FORMAT_DESCRIPTION = "INTERMAGNET CDF Format"
FORMAT_VERSION = "1.2"
FILLVAL = 99999.0
CDF_DOUBLE = 45
CDF_TIME_TT2000 = 33
VECTOR_TIMES = "GeomagneticVectorTimes"
SCALAR_TIMES = "GeomagneticScalarTimes"
SCALAR_ELEMENTS = ("F", "S", "G")
PUBLICATION_LEVELS = ("1", "2", "3", "4")
# ImagCDF global attribute -> the attrs name read_iaga2002 uses for the same item
_TO_IAGA = {
    "IagaCode": "iaga_code",
    "ObservatoryName": "station_name",
    "Latitude": "geodetic_latitude",
    "Longitude": "geodetic_longitude",
    "Elevation": "elevation",
    "Institution": "source_of_data",
    "VectorSensOrient": "sensor_orientation",
}
_VALID_RANGE = {"D": (-360.0, 360.0), "I": (-90.0, 90.0), "F": (0.0, 88880.0),
                "S": (0.0, 88880.0)}


def _cdflib():
    require("cdflib", extra="cdf", feature="ImagCDF input and output")
    import cdflib

    return cdflib


def _first(value):
    """Return a global attribute's single entry (cdflib returns a list of entries)."""
    if isinstance(value, list | tuple):
        value = value[0] if len(value) else ""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return value


def _open(path):
    cdflib = _cdflib()
    try:
        return cdflib.CDF(str(path))
    except (OSError, ValueError, KeyError, IndexError) as err:
        msg = f"not a readable CDF file ({err})"
        raise FileFormatError(msg, path=path) from None


def _times(cdf, name, path):
    cdflib = _cdflib()
    raw = np.asarray(cdf.varget(name)).astype(np.int64).ravel()
    times = None
    if raw.size > 2:  # no leap second inside: UTC steps equal TT2000 steps (a day in 1 ms)
        ends = np.asarray(cdflib.cdfepoch.to_datetime(raw[[0, -1]])).astype("datetime64[ns]")
        if (ends[1] - ends[0]).astype(np.int64) == raw[-1] - raw[0]:
            times = ends[0] + (raw - raw[0]).astype("timedelta64[ns]")
    if times is None:
        times = np.asarray(cdflib.cdfepoch.to_datetime(raw)).astype("datetime64[ns]")
    if times.size > 1 and np.any(np.diff(times) <= np.timedelta64(0, "ns")):
        msg = f"time stamps of {name} are not increasing"
        raise FileFormatError(msg, path=path)
    return times


def _element(cdf, var, n_expected, path):
    values = np.asarray(cdf.varget(var), dtype=np.float64).ravel()
    attrs = cdf.varattsget(var)
    if values.size != n_expected:
        msg = (f"{var} has {values.size} records but its time stamps "
               f"{attrs.get('DEPEND_0', '?')} have {n_expected}")
        raise FileFormatError(msg, path=path)
    fill = float(_first(attrs.get("FILLVAL", FILLVAL)))
    lo = float(_first(attrs.get("VALIDMIN", -np.inf)))
    hi = float(_first(attrs.get("VALIDMAX", np.inf)))
    bad = (values == fill) | (values < lo) | (values > hi) | ~np.isfinite(values)
    values[bad] = np.nan
    units = str(_first(attrs.get("UNITS", "nT")))
    if units.lower().startswith("degree"):  # D, I: minutes of arc, as read_iaga2002 gives
        values, units = values * 60.0, "arcmin"
    return values, {"units": units, "long_name": str(_first(attrs.get("FIELDNAM", var)))}


def read_imagcdf(path):
    """Read an ImagCDF file into a Dataset like :func:`magnetar.io.read_iaga2002`'s.

    Parameters
    ----------
    path : str or path-like
        An ImagCDF (``.cdf``) file.

    Returns
    -------
    xarray.Dataset
        Dimension ``time`` (the vector time stamps), one variable per element in nT (D and
        I converted from degrees to minutes of arc, as read_iaga2002 gives them), NaN where missing
        (FILLVAL or outside VALIDMIN..VALIDMAX). ``attrs``: the global attributes under their
        ImagCDF names, IAGA-2002 names where one exists (``iaga_code``, ``station_name``,
        ...), ``reported`` (ElementsRecorded), ``sampling_period_s`` and ``source_file``.

    Raises
    ------
    FileFormatError
        Not a CDF file, not ImagCDF (no "INTERMAGNET CDF Format" description), no element
        variables, or records that disagree with their time stamps; the file is named.
    """
    path = existing_file(path)
    cdf = _open(path)
    gattrs = {k: _first(v) for k, v in cdf.globalattsget().items()}
    if str(gattrs.get("FormatDescription", "")).strip().lower() != FORMAT_DESCRIPTION.lower():
        found = gattrs.get("FormatDescription") or gattrs.get("DataFormat") or "none"
        msg = (f"not an ImagCDF file: FormatDescription is {found!r}, expected "
               f"{FORMAT_DESCRIPTION!r}")
        raise FileFormatError(msg, path=path)
    names = list(cdf.cdf_info().zVariables)
    fields = [v for v in names if v.startswith("GeomagneticField")]
    if not fields:
        msg = f"no GeomagneticField<E> variables (variables: {names})"
        raise FileFormatError(msg, path=path)
    depends = {v: str(_first(cdf.varattsget(v).get("DEPEND_0", VECTOR_TIMES))) for v in fields}
    main = VECTOR_TIMES if VECTOR_TIMES in depends.values() else next(iter(depends.values()))
    if main not in names:
        msg = f"time stamp variable {main!r} named by DEPEND_0 is missing"
        raise FileFormatError(msg, path=path)
    times = _times(cdf, main, path)
    data_vars = {}
    for var in fields:
        element = var[len("GeomagneticField"):]
        own = depends[var]
        own_times = times if own == main else _times(cdf, own, path)
        values, attrs = _element(cdf, var, own_times.size, path)
        if own != main:
            LOGGER.info("%s: %s on %s put on the %s axis", path, element, own, main)
            placed = np.full(times.size, np.nan)
            idx = np.searchsorted(times, own_times)
            hit = (idx < times.size) & (times[np.minimum(idx, times.size - 1)] == own_times)
            placed[idx[hit]] = values[hit]
            values = placed
        data_vars[element] = ("time", values, attrs)
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in gattrs.items()
             if isinstance(v, str | int | float | np.generic)}
    for key, name in _TO_IAGA.items():
        if key in gattrs:
            attrs[name] = str(gattrs[key])
    attrs["reported"] = str(gattrs.get("ElementsRecorded", "".join(data_vars)))
    attrs["format"] = "ImagCDF"
    if times.size > 1:
        attrs["sampling_period_s"] = float(np.median(np.diff(times)).astype(np.int64) / 1e9)
    attrs["source_file"] = str(path)
    ds = xr.Dataset(data_vars, coords={"time": times}, attrs=attrs)
    ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
    return ds


def _tt2000(times):
    """CDF TT2000 of UTC datetime64 stamps (leap seconds by cdflib's table)."""
    cdflib = _cdflib()
    seconds = (times - np.datetime64("1970-01-01", "ns")).astype(np.int64)
    if times.size > 2:
        ends = np.asarray(cdflib.cdfepoch.timestamp_to_tt2000(seconds[[0, -1]] / 1e9),
                          dtype=np.int64)
        step = np.diff(seconds)
        if np.all(step == step[0]) and ends[1] - ends[0] == seconds[-1] - seconds[0]:
            return ends[0] + (seconds - seconds[0])  # regular, no leap second inside
    return np.asarray(cdflib.cdfepoch.timestamp_to_tt2000(seconds / 1e9), dtype=np.int64)


def _global_attrs(ds, elements, publication_level):
    attrs = ds.attrs
    code = str(attrs.get("iaga_code") or attrs.get("IagaCode") or "").strip().upper()
    if not code:
        msg = "ImagCDF needs an IAGA code: set attrs['iaga_code']"
        raise ValidationError(msg)

    def number(*keys):
        for key in keys:
            try:
                return float(attrs[key])
            except (KeyError, TypeError, ValueError):
                continue
        return FILLVAL

    now = np.datetime64("now", "ns")
    return {
        "FormatDescription": {0: FORMAT_DESCRIPTION},
        "FormatVersion": {0: FORMAT_VERSION},
        "Title": {0: "Geomagnetic time series data"},
        "IagaCode": {0: code},
        "ElementsRecorded": {0: "".join(elements)},
        "PublicationLevel": {0: publication_level},
        "PublicationDate": {0: [int(_tt2000(np.array([now]))[0]), "cdf_time_tt2000"]},
        "ObservatoryName": {0: str(attrs.get("station_name") or attrs.get("ObservatoryName")
                                   or code)},
        "Latitude": {0: number("geodetic_latitude", "Latitude")},
        "Longitude": {0: number("geodetic_longitude", "Longitude")},
        "Elevation": {0: number("elevation", "Elevation")},
        "Institution": {0: str(attrs.get("source_of_data") or attrs.get("Institution")
                               or "unknown")},
        "VectorSensOrient": {0: str(attrs.get("sensor_orientation")
                                    or attrs.get("VectorSensOrient") or "".join(
                                        e for e in elements if e not in SCALAR_ELEMENTS))},
        "StandardLevel": {0: "None"},
        "Source": {0: "institute"},
    }


def _field_attrs(element, units, depend):
    lo, hi = _VALID_RANGE.get(element, (-88880.0, 88880.0))
    return {
        "FIELDNAM": f"Geomagnetic Field Element {element}",
        "UNITS": units,
        "FILLVAL": FILLVAL,
        "VALIDMIN": lo,
        "VALIDMAX": hi,
        "DEPEND_0": depend,
        "DISPLAY_TYPE": "time_series",
        "LABLAXIS": element,
    }


def write_imagcdf(ds, path, *, publication_level="2", overwrite=False):
    """Write a dataset as ImagCDF 1.2 (one file; written atomically).

    Parameters
    ----------
    ds : xarray.Dataset
        Dimension ``time`` (regular), one variable per element named by its letter (X, Y,
        Z, H, D, E, V, I, F, S, G), as from :func:`read_iaga2002` or :func:`read_imagcdf`.
        D and I in minutes of arc (``units`` "arcmin", as IAGA-2002 reads them) are
        converted to degrees. ``attrs`` must carry ``iaga_code``.
    path : str or path-like
        Output file; INTERMAGNET names it ``[iaga]_[start]_[level].cdf`` in lower case.
    publication_level : {"1", "2", "3", "4"}
        1 raw, 2 edited (spikes removed, gaps filled: what cleaning produces), 3
        quasi-definitive, 4 definitive.
    overwrite : bool
        Refuse to replace an existing file unless True.

    Returns
    -------
    pathlib.Path
    """
    _cdflib()
    from cdflib.cdfwrite import CDF

    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path} exists; refusing to overwrite (pass overwrite=True)"
        raise ValidationError(msg)
    publication_level = str(publication_level)
    if publication_level not in PUBLICATION_LEVELS:
        msg = (f"publication_level must be one of {', '.join(PUBLICATION_LEVELS)}; got "
               f"{publication_level!r}")
        raise ValidationError(msg)
    elements = [str(v) for v in ds.data_vars if ds[v].dims == ("time",) and len(str(v)) == 1]
    if not elements or "time" not in ds.dims:
        msg = f"nothing to write: no single-letter element variables along time ({list(ds)})"
        raise ValidationError(msg)
    times = np.asarray(ds["time"].values).astype("datetime64[ns]")
    gattrs = _global_attrs(ds, elements, publication_level)
    with atomic_path(path, suffix=".cdf") as tmp:
        Path(tmp).unlink(missing_ok=True)  # cdflib refuses an existing file
        out = CDF(str(tmp), cdf_spec={"Compressed": 6})
        try:
            out.write_globalattrs(gattrs)
            out.write_var({"Variable": VECTOR_TIMES, "Data_Type": CDF_TIME_TT2000,
                           "Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": []},
                          var_attrs={}, var_data=_tt2000(times))
            for element in elements:
                values = np.asarray(ds[element].values, dtype=np.float64)
                units = "Degrees of arc" if element in ("D", "I") else "nT"
                if element in ("D", "I") and ds[element].attrs.get("units") == "arcmin":
                    values = values / 60.0
                values = np.where(np.isfinite(values), values, FILLVAL)
                out.write_var({"Variable": f"GeomagneticField{element}",
                               "Data_Type": CDF_DOUBLE, "Num_Elements": 1, "Rec_Vary": True,
                               "Dim_Sizes": []},
                              var_attrs=_field_attrs(element, units, VECTOR_TIMES),
                              var_data=values)
        finally:
            out.close()
    return path
