"""IAR fringes in spectrograms: the classical detector and the resonance parameters.

- :func:`peak_detection_mask`: the published baseline (Hodnett et al. 2024, after Beggan
  2014): in each spectrogram column, peaks of log-power above a running background along
  frequency are marked, then joined by morphological dilation and erosion and cleaned of
  small objects, all with fixed thresholds (exposed here as parameters).
- :func:`resonance_parameters`: the step the published work left for later. Per time step,
  the fringe frequencies ``f_n`` are the probability-weighted centres of the runs of fringe
  pixels; the spacing ``delta_f`` is the comb that fits them (:func:`comb_spacing`: the
  largest spacing of which every seen fringe is a whole multiple, refined by least
  squares), median-filtered in time; NaN where fewer than two fringes are present. (Until
  session 17 the first peak of the spectral autocorrelation of the mask: it reported the
  double spacing where a fringe between two seen ones had faded.)

Peak finding and morphology are scipy's and scikit-image's; the comb estimator is written
here because no library estimates a comb's spacing from a few of its teeth.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage, signal

from ..errors import ValidationError

__all__ = ["comb_spacing", "peak_detection_mask", "resonance_parameters"]


def _check_spec(spec, name="spectrogram"):
    if not isinstance(spec, xr.DataArray) or set(spec.dims) != {"frequency", "time"}:
        msg = f"{name} must be a DataArray with dims (frequency, time)"
        raise ValidationError(msg)
    return spec.transpose("frequency", "time")


def peak_detection_mask(spec, *, smooth_time=5, background_hz=0.8, threshold=0.2,
                        prominence=0.1, peak_halfwidth_hz=0.02, closing=(3, 5), min_size=150):
    """Classical IAR fringe mask of a log10-power spectrogram.

    Parameters
    ----------
    spec : xarray.DataArray
        ``(frequency, time)`` log10 power.
    smooth_time : int
        Columns of the running mean along time applied first (1: none).
    background_hz : float
        Width of the running median along frequency taken as the background.
    threshold : float
        Minimum height of a peak above the background (log10 units; 0.2 = 1.6x).
        Defaults tuned for the best IoU on training nights (seeds 100-107).
    prominence : float
        Minimum prominence of a peak (log10 units).
    peak_halfwidth_hz : float
        Pixels within this distance of a peak are marked.
    closing : (int, int)
        Structuring element (frequency, time) in pixels of the dilation then erosion
        that joins peaks into fringes.
    min_size : int
        Connected objects with fewer pixels are removed.

    Returns
    -------
    xarray.DataArray
        uint8 mask with the spectrogram's coordinates.
    """
    from skimage import morphology

    spec = _check_spec(spec)
    freq = spec["frequency"].values
    step = float(np.median(np.diff(freq)))
    values = spec.values
    finite = np.isfinite(values)
    filled = np.where(finite, values, np.nanmedian(values) if finite.any() else 0.0)
    if smooth_time > 1:
        filled = ndimage.uniform_filter1d(filled, int(smooth_time), axis=1, mode="nearest")
    width = max(3, int(round(background_hz / step)) | 1)
    background = ndimage.median_filter(filled, size=(width, 1), mode="nearest")
    residual = filled - background
    half = max(0, int(round(peak_halfwidth_hz / step)))
    mask = np.zeros(values.shape, bool)
    for j in range(values.shape[1]):
        if not finite[:, j].any():
            continue
        peaks, _ = signal.find_peaks(residual[:, j], height=threshold, prominence=prominence)
        for k in peaks:
            mask[max(0, k - half):k + half + 1, j] = True
    footprint = np.ones(tuple(int(c) for c in closing), bool)
    mask = ndimage.binary_erosion(ndimage.binary_dilation(mask, footprint), footprint,
                                  border_value=1)
    mask = morphology.remove_small_objects(mask, max_size=max(int(min_size) - 1, 0))
    mask &= finite
    return spec.copy(data=mask.astype(np.uint8)).rename("mask").assign_attrs(
        long_name="IAR fringe mask (peak detection)", method="peak_detection")


def _runs_centres(column, weight, freq):
    edges = np.diff(np.concatenate([[0], column.astype(np.int8), [0]]))
    out = []
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        w = weight[a:b]
        out.append(float(np.sum(freq[a:b] * w) / np.sum(w)) if w.sum() > 0
                   else float(freq[a:b].mean()))
    return out


def comb_spacing(centres, *, delta_f_range=(0.1, 1.5), resolution=0.002, tolerance=0.9):
    """Return the spacing of a comb from the frequencies of the fringes seen.

    The fringes need not all be seen, nor start at a known order: the comb's coherence
    ``R(d) = |mean exp(2 pi i f_n / d)|`` is 1 for the true spacing and for each of its
    integer fractions, so the spacing is the largest local maximum of ``R`` within
    ``tolerance`` of the best, refined by a least-squares line through ``(order, f_n)``.
    Neighbouring fringes must be among those seen for the spacing to be observable.

    Parameters
    ----------
    centres : array-like
        Fringe centre frequencies (Hz) of one time step.
    delta_f_range : (float, float)
        Spacings searched (Hz).
    resolution : float
        Step of the search grid (Hz) before refinement.
    tolerance : float
        Share of the best coherence a larger spacing must reach.

    Returns
    -------
    float
        The spacing in Hz; NaN with fewer than two fringes or no coherent spacing.
    """
    c = np.sort(np.asarray(centres, float))
    if c.size < 2:
        return np.nan
    top = min(delta_f_range[1], c[-1] - c[0])  # a spacing wider than the span is unseen
    d = np.arange(delta_f_range[0], top + resolution / 2, resolution)
    if d.size == 0:
        return np.nan
    r = np.abs(np.exp(2j * np.pi * (c[None, :] - c[0]) / d[:, None]).mean(axis=1))
    peaks, _ = signal.find_peaks(np.concatenate([[-1.0], r, [-1.0]]))
    peaks = peaks - 1
    good = peaks[r[peaks] >= tolerance * r.max()]
    if good.size == 0:
        return np.nan
    spacing = d[good.max()]
    order = np.round((c - c[0]) / spacing)
    if np.unique(order).size < 2:
        return np.nan
    slope = np.polyfit(order, c, 1)[0]
    return float(slope) if delta_f_range[0] <= slope <= delta_f_range[1] else float(spacing)


def resonance_parameters(mask, probability=None, *, delta_f_range=(0.1, 1.5), smooth=5,
                         min_fringes=2):
    """Fringe frequencies ``f_n(t)`` and spacing ``delta_f(t)`` from a fringe mask.

    Parameters
    ----------
    mask : xarray.DataArray
        ``(frequency, time)`` 0/1 fringe mask (a prediction thresholded, or a label).
    probability : xarray.DataArray, optional
        Fringe probability of the same shape (weights the estimates); the mask otherwise.
    delta_f_range : (float, float)
        Spacings searched (Hz).
    smooth : int
        Columns over which autocorrelations are averaged and ``delta_f`` median-filtered.
    min_fringes : int
        Columns with fewer fringes have NaN spacing.

    Returns
    -------
    xarray.Dataset
        ``fringe_frequency`` (fringe, time) Hz ascending, NaN-padded; ``delta_f`` (time) Hz;
        ``n_fringes`` (time).
    """
    mask = _check_spec(mask, "mask")
    prob = mask.astype(float) if probability is None else _check_spec(probability, "probability")
    if prob.shape != mask.shape:
        msg = f"probability {prob.shape} and mask {mask.shape} differ in shape"
        raise ValidationError(msg)
    lo, hi = delta_f_range
    if not 0 < lo < hi:
        msg = f"delta_f_range must be (low, high) > 0, got {delta_f_range}"
        raise ValidationError(msg)
    freq = mask["frequency"].values
    step = float(np.median(np.diff(freq)))
    m = mask.values.astype(bool)
    w = np.nan_to_num(prob.values.astype(float)) * m
    n_time = m.shape[1]
    centres = [_runs_centres(m[:, j], w[:, j], freq) for j in range(n_time)]
    counts = np.array([len(c) for c in centres])
    delta = np.array([comb_spacing(c, delta_f_range=(lo, hi), resolution=step / 10)
                      if len(c) >= min_fringes else np.nan for c in centres])
    half = max(smooth // 2, 0)
    if smooth > 1:
        finite = np.isfinite(delta)
        smoothed = delta.copy()
        for j in np.flatnonzero(finite):
            window = delta[max(0, j - half):j + half + 1]
            smoothed[j] = np.nanmedian(window)
        delta = smoothed
    width = max(counts.max(initial=0), 1)
    fn = np.full((width, n_time), np.nan)
    for j, c in enumerate(centres):
        fn[:len(c), j] = c
    return xr.Dataset(
        {"fringe_frequency": (("fringe", "time"), fn, {"units": "Hz"}),
         "delta_f": (("time",), delta, {"units": "Hz", "long_name": "fringe spacing"}),
         "n_fringes": (("time",), counts)},
        coords={"time": mask["time"].values})
