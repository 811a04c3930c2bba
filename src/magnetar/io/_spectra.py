"""Spectrograms stored as tables in netCDF or HDF5 files, mapped to (frequency, time).

Spectra come from other software in many layouts: a variable of any name, dimensions
called ``freq``/``f``/``frequency bin`` and ``time``/``interval``/``spectrum``, values in
power, amplitude or log10 power. :func:`read_spectrogram` reads them with an explicit
mapping (variable, the two dimension names, the scale) and returns what the IAR model
takes: log10 power spectral density on ``(frequency, time)``. The stacked-spectra layout
of the Mikhnevo HDF5 file (:func:`magnetar.io.read_schumann_spectra`) is recognised.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._utils import existing_file
from ..errors import FileFormatError, ValidationError

__all__ = ["read_spectrogram"]

SCALES = ("log10", "power", "amplitude")


def _mikhnevo(path):
    """Return the stacked Schumann spectra as log10 PSD (frequency, time)."""
    from ._schumann import read_schumann_spectra

    psd = read_schumann_spectra(path)
    seconds = psd["interval"].values * 60.0
    with np.errstate(divide="ignore"):
        out = xr.DataArray(np.log10(psd.values.T), dims=("frequency", "time"),
                           coords={"frequency": psd["frequency"].values, "time": seconds})
    out["time"].attrs["units"] = "seconds after the first accumulation"
    out.attrs = {"units": "log10(nT^2/Hz)", "source": str(path),
                 "layout": "stacked amplitude spectra (Mikhnevo HDF5)"}
    return out


def read_spectrogram(path, *, variable="spectrogram", dims=("frequency", "time"),
                     scale="log10"):
    """Read a spectrogram table from a netCDF or HDF5 file as log10 PSD (frequency, time).

    Parameters
    ----------
    path : path-like
        netCDF-3/4 or HDF5 file.
    variable : str
        The variable holding the spectra.
    dims : (str, str)
        Names of its frequency and time dimensions in the file.
    scale : {"log10", "power", "amplitude"}
        What the values are: log10 power, power (PSD), or amplitude (ASD: squared).

    Returns
    -------
    xarray.DataArray
        ``(frequency, time)`` log10 power, frequency ascending in Hz; ``attrs["source"]``.
    """
    path = existing_file(path)
    if scale not in SCALES:
        msg = f"scale must be one of {SCALES}, got {scale!r}"
        raise ValidationError(msg)
    if len(dims) != 2:
        msg = f"dims must name the frequency and the time dimension, got {dims!r}"
        raise ValidationError(msg)
    try:
        ds = xr.load_dataset(path)
    except (OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        msg = f"not a readable netCDF/HDF5 file ({first})"
        raise FileFormatError(msg, path=path) from None
    if variable in ("spectrogram", "fourier spectrum") and "fourier spectrum" in ds:
        return _mikhnevo(path)  # the stacked-spectra layout: axes from its attributes
    if variable not in ds:
        msg = (f"no variable {variable!r} (it has {', '.join(map(str, ds.data_vars)) or 'none'});"
               " name the one holding the spectra (--variable)")
        raise FileFormatError(msg, path=path)
    spec = ds[variable]
    f_dim, t_dim = dims
    if spec.ndim != 2 or not {f_dim, t_dim} <= set(spec.dims):
        msg = (f"{variable!r} has dims {spec.dims}; name its frequency and time dimensions "
               f"(--dims FREQUENCY,TIME; now {f_dim},{t_dim})")
        raise FileFormatError(msg, path=path)
    spec = spec.rename({f_dim: "frequency", t_dim: "time"}).transpose("frequency", "time")
    if "frequency" not in spec.coords:
        msg = f"dimension {f_dim!r} has no coordinate values (frequencies in Hz are needed)"
        raise FileFormatError(msg, path=path)
    values = spec.values.astype(float)
    if scale != "log10":
        if np.any(values[np.isfinite(values)] < 0):
            msg = f"negative {scale} in {variable!r}: is it log10 power (--scale log10)?"
            raise FileFormatError(msg, path=path)
        with np.errstate(divide="ignore"):
            values = np.log10(values) * (2.0 if scale == "amplitude" else 1.0)
    out = spec.copy(data=values).sortby("frequency")
    out.attrs = {**spec.attrs, "source": str(path)}
    return out
