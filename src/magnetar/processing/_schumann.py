"""Schumann-resonance spectrum fit: power-law background plus Lorentzian modes.

Used to check the IAR generator (:mod:`magnetar.synthetic`) against real induction-
magnetometer spectra: the fit returns its parameters in the generator's own terms
(``background`` = log10 of the background PSD at 1 Hz, ``alpha``, the first mode's
frequency, full width and peak-to-background ratio in dB). A non-linear least-squares fit in
log power with :func:`scipy.optimize.curve_fit`; only the model is written here (no library
fits Schumann spectra).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit

from ..errors import ValidationError

__all__ = ["fit_schumann", "schumann_model"]

# first three modes (Hz): starting values and bounds of the fit
_MODES = ((7.8, 6.5, 9.5), (14.1, 12.0, 16.5), (20.3, 18.0, 23.0))


def schumann_model(frequency, background, alpha, modes):
    """Model PSD of a power-law background and Schumann lines.

    PSD (nT^2/Hz) of a power-law background ``10**background * f**-alpha`` plus Lorentzian
    modes ``(centre_hz, fwhm_hz, snr_db)``, each peaking ``snr_db`` above the background at
    its centre (the generator's definition).

    Parameters
    ----------
    frequency : array-like
        Hz.
    background, alpha : float
        log10 PSD at 1 Hz and the power-law slope.
    modes : sequence of (float, float, float)
        (centre_hz, fwhm_hz, snr_db) of each mode.

    Returns
    -------
    numpy.ndarray
        PSD (nT^2/Hz) at ``frequency``.
    """
    f = np.asarray(frequency, float)
    b1 = 10.0 ** background
    total = b1 * f ** -alpha
    for centre, fwhm, snr_db in modes:
        peak = b1 * centre ** -alpha * 10.0 ** (snr_db / 10)
        total = total + peak / (1 + ((f - centre) / (fwhm / 2)) ** 2)
    return total


def _log_model(f, background, alpha, *flat):
    modes = [flat[i:i + 3] for i in range(0, len(flat), 3)]
    return np.log10(schumann_model(f, background, alpha, modes))


def fit_schumann(psd, *, band=(5.0, 24.0), modes=3):
    """Fit each spectrum of ``psd`` (DataArray with a ``frequency`` dimension, nT^2/Hz).

    Parameters
    ----------
    band : (low, high) Hz fitted (default 5-24 Hz: the first three modes).
    modes : number of modes fitted (1-3).

    Returns
    -------
    xarray.Dataset
        Over the other dimensions of ``psd``: ``background`` (log10 nT^2/Hz at 1 Hz),
        ``alpha``, ``schumann_hz``, ``schumann_fwhm`` (Hz), ``schumann_snr_db`` (first mode),
        ``mode_hz`` (every mode), ``residual_db`` (rms misfit in dB); NaN where a fit failed.
    """
    if not isinstance(psd, xr.DataArray) or "frequency" not in psd.dims:
        msg = "psd must be a DataArray with a 'frequency' dimension"
        raise ValidationError(msg)
    if not 1 <= modes <= len(_MODES):
        msg = f"modes must be 1 to {len(_MODES)}, got {modes}"
        raise ValidationError(msg)
    sel = psd.sel(frequency=slice(*band))
    if sel.sizes["frequency"] < 3 * modes + 3:
        msg = f"band {band} Hz holds {sel.sizes['frequency']} bins: too few for {modes} modes"
        raise ValidationError(msg)
    f = sel["frequency"].values.astype(float)
    stacked = sel.transpose(..., "frequency")
    flat = stacked.values.reshape(-1, f.size)
    lo = [-15.0, -1.0] + [v for m in _MODES[:modes] for v in (m[1], 0.3, -10.0)]
    hi = [0.0, 4.0] + [v for m in _MODES[:modes] for v in (m[2], 8.0, 25.0)]
    names = ("background", "alpha", "schumann_hz", "schumann_fwhm", "schumann_snr_db",
             "residual_db", "contrast_db")
    first = (f >= _MODES[0][1]) & (f <= _MODES[0][2])
    out = {k: np.full(len(flat), np.nan) for k in names}
    mode_hz = np.full((len(flat), modes), np.nan)
    for i, row in enumerate(flat):
        ok = np.isfinite(row) & (row > 0)
        if ok.sum() < 3 * modes + 3:
            continue
        if ok[0] and (first & ok).any():
            out["contrast_db"][i] = 10 * np.log10(row[first & ok].max() / row[0])
        y = np.log10(row[ok])
        alpha0 = 1.0
        b0 = float(np.median(y[:5])) + alpha0 * np.log10(f[ok][0])
        p0 = [b0, alpha0] + [v for m in _MODES[:modes] for v in (m[0], 2.0, 6.0)]
        try:
            p, _ = curve_fit(_log_model, f[ok], y, p0=p0, bounds=(lo, hi), maxfev=20000)
        except RuntimeError:  # no convergence: leave NaN
            continue
        out["background"][i], out["alpha"][i] = p[0], p[1]
        out["schumann_hz"][i], out["schumann_fwhm"][i], out["schumann_snr_db"][i] = p[2:5]
        mode_hz[i] = p[2::3]
        out["residual_db"][i] = 10 * np.sqrt(np.mean((_log_model(f[ok], *p) - y) ** 2))
    dims = stacked.dims[:-1]
    shape = stacked.shape[:-1]
    coords = {k: v for k, v in stacked.coords.items() if "frequency" not in v.dims}
    data = {k: (dims, v.reshape(shape)) for k, v in out.items()}
    data["mode_hz"] = ((*dims, "mode"), mode_hz.reshape(*shape, modes))
    units = {"background": "log10 nT^2/Hz at 1 Hz", "alpha": "1", "schumann_hz": "Hz",
             "schumann_fwhm": "Hz", "schumann_snr_db": "dB", "residual_db": "dB",
             "contrast_db": "dB", "mode_hz": "Hz"}
    ds = xr.Dataset(data, coords={**coords, "mode": np.arange(1, modes + 1)})
    for k, u in units.items():
        ds[k].attrs["units"] = u
    ds.attrs["band_hz"] = list(band)
    return ds
