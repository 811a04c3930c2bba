"""IAR fringes in spectrograms: the classical detector and the resonance parameters.

- :func:`peak_detection_mask`: the published baseline (Hodnett et al. 2024, after Beggan
  2014): in each spectrogram column, peaks of log-power above a running background along
  frequency are marked, then joined by morphological dilation and erosion and cleaned of
  small objects, all with fixed thresholds (exposed here as parameters).
- :func:`resonance_parameters`: the step the published work left for later. Per time step,
  the fringe frequencies ``f_n`` are the probability-weighted centres of the runs of fringe
  pixels; the spacing ``delta_f`` is the comb that fits them best (:func:`comb_spacing`:
  the most likely comb when teeth may fade and fringes may belong to no comb, refined by
  least squares), median-filtered in time; NaN where fewer than two fringes are present.
  (Until session 17 the first peak of the spectral autocorrelation of the mask: it reported
  the double spacing where a fringe between two seen ones had faded. Sessions 17-22: the
  largest spacing of which every seen fringe is a whole multiple: one false fringe or a
  second family's fringe halved it; on wide validation nights the U-Net's masks gave a
  median error of 0.024 and 0.038 Hz against 0.015 now, docs/iar.md.)

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


def _teeth(c, d, f0, *, max_offset, offset_fraction):
    """Each comb's (rows: spacing ``d``, origin ``f0``) orders for ``c`` and which are on a tooth."""
    k = (c[None, :] - f0[:, None]) / d[:, None]
    order = np.round(k)
    tol = np.minimum(max_offset, offset_fraction * d)[:, None]
    return order, np.abs(k - order) * d[:, None] <= tol


def _refit(c, order, on):
    """Least-squares spacing and origin of each comb through its fringes on teeth."""
    w = on.astype(float)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_order, mean_c = (w * order).sum(axis=1) / n, (w * c).sum(axis=1) / n
        d = ((w * (order - mean_order[:, None]) * (c - mean_c[:, None])).sum(axis=1)
             / (w * (order - mean_order[:, None]) ** 2).sum(axis=1))
    return d, mean_c - d * mean_order


def _comb_log_likelihood(n, order, on, *, seen, outlier):
    """Each comb's log-likelihood: teeth seen or faded between its ends, other fringes outliers."""
    at = np.where(on, order, -np.inf)
    # orders rise with the centres: a tooth counts once however many centres sit on it
    before = np.concatenate([np.full((at.shape[0], 1), -np.inf),
                             np.maximum.accumulate(at, axis=1)[:, :-1]], axis=1)
    teeth_seen = (on & (order > before)).sum(axis=1)
    span = at.max(axis=1) - np.where(on, order, np.inf).min(axis=1) + 1
    ll = (teeth_seen * np.log(seen) + (span - teeth_seen) * np.log1p(-seen)
          + (n - teeth_seen) * np.log(outlier))
    return np.where(teeth_seen >= 2, ll, -np.inf)


def comb_spacing(centres, *, delta_f_range=(0.1, 1.5), seen=0.8, outlier=0.05, max_offset=0.05,
                 offset_fraction=0.15, reach=3, max_gap=4):
    """Return the spacing of a comb from the frequencies of the fringes seen.

    The fringes need not all be seen, nor start at a known order, and some may belong to
    no comb (a second family, a false detection). Candidate combs come from pairs of
    fringes up to ``reach`` apart in the sorted list, read as 1 to ``max_gap`` teeth apart;
    each is refitted twice by least squares through the fringes on its teeth (within
    ``min(max_offset, offset_fraction * spacing)`` Hz), as in RANSAC. A comb's
    log-likelihood counts each tooth between its lowest and highest seen one as seen
    (probability ``seen``) or faded (``1 - seen``) and each fringe on no tooth as an
    ``outlier``: an integer fraction of the spacing explains every fringe but predicts many
    unseen teeth, a multiple leaves fringes out, so neither wins. The largest spacing of
    highest likelihood is returned. Neighbouring fringes must be among those seen for the
    spacing to be observable.

    Parameters
    ----------
    centres : array-like
        Fringe centre frequencies (Hz) of one time step.
    delta_f_range : (float, float)
        Spacings searched (Hz).
    seen : float
        Probability that a tooth of the comb is seen (0 < seen < 1).
    outlier : float
        Probability cost of a fringe on no tooth (0 < outlier < 1).
    max_offset, offset_fraction : float
        A fringe is on a tooth within ``min(max_offset Hz, offset_fraction * spacing)``.
    reach, max_gap : int
        Pairs of fringes that propose a comb: up to ``reach`` apart, 1 to ``max_gap`` teeth.

    Returns
    -------
    float
        The spacing in Hz; NaN with fewer than two fringes on one comb in the range.
    """
    for name, value in (("seen", seen), ("outlier", outlier)):
        if not 0 < value < 1:
            msg = f"comb_spacing: {name} must lie strictly between 0 and 1, got {value}"
            raise ValidationError(msg)
    c = np.sort(np.asarray(centres, float))
    lo, hi = delta_f_range
    i, j = np.triu_indices(c.size, 1)
    i, j = i[j - i <= reach], j[j - i <= reach]
    gaps = np.arange(1, max_gap + 1)
    d = ((c[j] - c[i])[:, None] / gaps[None, :]).ravel()
    f0 = np.repeat(c[i], gaps.size)
    inside = (d >= lo) & (d <= hi)
    if not inside.any():
        return np.nan
    d, f0 = d[inside], f0[inside]
    opts = {"max_offset": max_offset, "offset_fraction": offset_fraction}
    for _ in range(2):
        d_fit, f0_fit = _refit(c, *_teeth(c, d, f0, **opts))
        good = np.isfinite(d_fit) & (d_fit >= lo) & (d_fit <= hi)
        d, f0 = np.where(good, d_fit, d), np.where(good, f0_fit, f0)
    ll = _comb_log_likelihood(c.size, *_teeth(c, d, f0, **opts), seen=seen, outlier=outlier)
    if not np.isfinite(ll).any():
        return np.nan
    best = np.flatnonzero(ll >= ll.max() - 1e-9)
    return float(d[best[np.argmax(d[best])]])  # the largest spacing of highest likelihood


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
    m = mask.values.astype(bool)
    w = np.nan_to_num(prob.values.astype(float)) * m
    n_time = m.shape[1]
    centres = [_runs_centres(m[:, j], w[:, j], freq) for j in range(n_time)]
    counts = np.array([len(c) for c in centres])
    delta = np.array([comb_spacing(c, delta_f_range=(lo, hi))
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
