"""Stacked Schumann-resonance amplitude spectra in HDF5 (induction magnetometer).

The layout is the one of the Mikhnevo observatory experiment (``timeseries/
mikhnevo_schumann_spectra.h5`` of the data folder): a 2-D dataset ``fourier spectrum``
(spectrum, frequency bin) of amplitude spectral density with the attributes ``min frequency
[Hz]``, ``delta frequency [Hz]``, ``accumulation interval [min]`` and ``Amplitude`` (the
unit, pT/sqrt(Hz)). HDF5 is read through netCDF4 (a core dependency), so no HDF5 package
is added for it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._utils import existing_file
from ..errors import FileFormatError

__all__ = ["read_schumann_spectra"]

_AMPLITUDE_TO_NT = {"pT/sqrt(Hz)": 1e-3, "nT/sqrt(Hz)": 1.0}
_REQUIRED = ("min frequency [Hz]", "delta frequency [Hz]", "accumulation interval [min]",
             "Amplitude")


def read_schumann_spectra(path, *, variable="fourier spectrum"):
    """Read stacked amplitude spectra as power spectral density.

    Parameters
    ----------
    path : path-like
        HDF5 file of stacked amplitude spectra.
    variable : str
        Dataset holding the spectra.

    Returns
    -------
    xarray.DataArray
        ``psd`` (interval, frequency) in nT^2/Hz (the amplitude squared, converted from the
        file's unit); ``frequency`` in Hz from the file's minimum and step; ``interval`` the
        start of each accumulation in minutes after the first; attributes
        ``accumulation_min`` and ``source_file``.
    """
    import netCDF4

    path = existing_file(path)
    try:
        ds = netCDF4.Dataset(path)
    except OSError as err:
        msg = f"not a readable HDF5/netCDF-4 file ({err})"
        raise FileFormatError(msg, path=path) from None
    with ds:
        if variable not in ds.variables:
            msg = f"no dataset {variable!r}; found {sorted(ds.variables)}"
            raise FileFormatError(msg, path=path)
        var = ds.variables[variable]
        missing = [a for a in _REQUIRED if a not in var.ncattrs()]
        if missing:
            msg = f"dataset {variable!r} lacks the attributes {missing}"
            raise FileFormatError(msg, path=path)
        attrs = {a: var.getncattr(a) for a in _REQUIRED}
        values = np.ma.filled(var[:].astype(float), np.nan)
    unit = str(attrs["Amplitude"])
    if unit not in _AMPLITUDE_TO_NT:
        msg = f"unknown amplitude unit {unit!r}; expected one of {sorted(_AMPLITUDE_TO_NT)}"
        raise FileFormatError(msg, path=path)
    if values.ndim != 2 or values.shape[1] < 2:
        msg = f"dataset {variable!r} must be (spectrum, frequency); shape {values.shape}"
        raise FileFormatError(msg, path=path)
    step = float(attrs["delta frequency [Hz]"])
    if not step > 0:
        msg = f"'delta frequency [Hz]' must be positive, got {step}"
        raise FileFormatError(msg, path=path)
    if np.any(values[np.isfinite(values)] < 0):
        msg = "negative amplitude spectral density"
        raise FileFormatError(msg, path=path)
    frequency = float(attrs["min frequency [Hz]"]) + step * np.arange(values.shape[1])
    minutes = float(attrs["accumulation interval [min]"])
    psd = (values * _AMPLITUDE_TO_NT[unit]) ** 2
    return xr.DataArray(
        psd, dims=("interval", "frequency"), name="psd",
        coords={"interval": ("interval", minutes * np.arange(values.shape[0]),
                             {"units": "minutes after the first accumulation"}),
                "frequency": ("frequency", frequency, {"units": "Hz"})},
        attrs={"units": "nT^2/Hz", "long_name": "power spectral density",
               "accumulation_min": minutes, "source_file": str(path)})
