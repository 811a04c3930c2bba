"""Peer-prediction spike detection: the default cleaning rule (``rule="peer"``).

Written here because no library implements it: it is specific to networks of geomagnetic
observatories. The published coincidence rule fails where observatories need it most
(measured on real Barrow/Deadhorse data, docs/cleaning.md): dense interference inflates a
sliding-std noise sigma, and natural activity that differs between stations 200 km apart is
"seen at one station" and replaced. This rule asks two better questions.

1. *Is the feature a spike?* A spike of 1..``max_width`` samples departs from, and returns to,
   a level that its flanks agree on. For every width ``w`` and start ``t`` a low-order
   polynomial is fitted to ``flank`` samples on each side; the spike statistic ``D`` is the
   mean departure of the ``w`` samples from that fit and ``E`` the flanks' own misfit. A
   spike has ``|D| >> E``; a natural turning point or step (ramps of opposite slope, or two
   levels) fits its flanks badly and has ``|D|`` of the order of ``E``. Both are linear
   filters of the series (the fit is a fixed projection), so they cost a few convolutions.
2. *Do the peers explain it?* Each station's high-passed series is predicted from all
   components of all other stations at a few lags (robust least squares, Tukey biweight,
   refitted in blocks of ``block`` samples, with the peers' own spike candidates replaced by
   a running median so that a peer's spike does not leak into the prediction). ``D`` and
   ``E`` are computed on the residual: natural signals common to the network are removed
   before the spike test. A candidate is interference only when the peers' own spike
   statistic, in their own noise units, is under ``1 / amplitude_ratio`` of the station's
   (a natural event has comparable amplitudes at nearby stations).

Noise sigma is robust to dense interference: the median absolute deviation in blocks of
``sigma_window`` samples, whose 50 % breakdown point a spike every few samples cannot
reach, then a trimmed median of those (the "sigma" of a station). The block MAD is also
kept as a time series, so a user sees the noise level over time.

Disturbed-interval policy: where the residual's local MAD exceeds ``incoherence`` times the
station's sigma, the peers do not predict the station (too far apart, or activity too
local), and a spike found there is flagged and reported but not replaced.

All kernels work on arrays shaped ``(component, station, time)``.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
from scipy import ndimage

from ..errors import ValidationError
from ._coincidence import (
    CLASS_INTERFERENCE,
    CLASS_NATURAL,
    CLASS_UNDETERMINED,
    EventTable,
    detect_runs,
)
from ._noise import _trimmed_stat

__all__ = [
    "peer_events",
    "peer_prediction",
    "robust_sigma",
    "spike_statistic",
]

MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a Gaussian -> its sigma
TUKEY_C = 4.685  # biweight tuning constant: 95 % efficiency at the Gaussian


def _median_filter(x, window):
    finite = np.isfinite(x)
    med = ndimage.median_filter(np.where(finite, x, 0.0), size=(1,) * (x.ndim - 1) + (window,),
                                mode="nearest")
    med[~finite] = np.nan
    return med


def _block_mad_sigma(x, window):
    """1.4826 x MAD in consecutive blocks of ``window`` samples: shape ``(..., n_blocks)``."""
    n = x.shape[-1]
    n_blocks = -(-n // window)
    padded = np.full(x.shape[:-1] + (n_blocks * window,), np.nan)
    padded[..., :n] = x
    blocks = padded.reshape(x.shape[:-1] + (n_blocks, window))
    full = np.isfinite(blocks).all(axis=-1)
    mad = np.full(blocks.shape[:-1], np.nan)
    good = blocks[full]  # complete blocks: the fast median
    med = np.median(good, axis=-1, keepdims=True)
    mad[full] = np.median(np.abs(good - med), axis=-1)
    if not full.all():
        partial_blocks = blocks[~full]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing blocks give NaN
            med = np.nanmedian(partial_blocks, axis=-1, keepdims=True)
            mad[~full] = np.nanmedian(np.abs(partial_blocks - med), axis=-1)
    return MAD_TO_SIGMA * mad


def _series_sigma(x, window, trim):
    """Per-series sigma (trimmed median of the block sigmas) and the block sigmas."""
    if not 0 <= trim < 0.5:
        msg = f"sigma_trim must be in [0, 0.5), got {trim}"
        raise ValidationError(msg)
    window = int(window)
    if window < 3:
        msg = f"sigma_window must be at least 3 samples, got {window}"
        raise ValidationError(msg)
    blocks = _block_mad_sigma(np.asarray(x, dtype=np.float64), window)
    flat = blocks.reshape(-1, blocks.shape[-1])
    sigma = np.array([_trimmed_stat(row, trim, "median") for row in flat])
    return sigma.reshape(blocks.shape[:-1]), blocks


def robust_sigma(x, *, window=121, trim=0.3):
    """Noise sigma of each series: trimmed median of its local MAD sigma.

    The local sigma is 1.4826 x the median absolute deviation in consecutive blocks of
    ``window`` samples (held over each block; O(n), unlike a sliding median), robust to
    spikes on fewer than half of a block's samples.

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis (component, station, time) or any leading shape.
    window : int
        Block length of the MAD in samples.
    trim : float
        Fraction of the sorted block sigmas discarded at each end (0 <= trim < 0.5).

    Returns
    -------
    sigma : numpy.ndarray
        One value per series (the leading shape of ``x``); NaN for an all-missing series.
    local : numpy.ndarray
        The local MAD sigma over time (shape of ``x``).
    """
    sigma, blocks = _series_sigma(x, window, trim)
    local = np.repeat(blocks, int(window), axis=-1)[..., :np.shape(x)[-1]]
    return sigma, local


def _shift(x, offset):
    """``out[..., t] = x[..., t + offset]`` with NaN outside the record."""
    out = np.full(x.shape, np.nan)
    n = x.shape[-1]
    if offset >= 0:
        out[..., : n - offset] = x[..., offset:]
    else:
        out[..., -offset:] = x[..., : n + offset]
    return out


def _flank_kernels(width, flank, degree):
    """Linear filters giving D (departure) and the flank misfit components for one width."""
    pos = np.r_[np.arange(-flank, 0), np.arange(width, width + flank)].astype(float)
    vander = np.vander(pos, degree + 1)
    pinv = np.linalg.pinv(vander)
    centre = np.vander(np.arange(width, dtype=float), degree + 1).mean(axis=0)
    predict = centre @ pinv  # weights on the flanks predicting the spike's mean
    q, _ = np.linalg.qr(vander, mode="complete")
    offsets = np.arange(-flank, width + flank)
    inner = slice(flank, flank + width)

    def full(on_flanks, on_spike):
        kernel = np.zeros(offsets.size)
        kernel[:flank], kernel[flank + width:] = on_flanks[:flank], on_flanks[flank:]
        kernel[inner] = on_spike
        return kernel

    k_d = full(-predict, np.full(width, 1.0 / width))
    k_e = [full(row, np.zeros(width)) for row in q[:, degree + 1:].T]
    return offsets, k_d, k_e


def spike_statistic(x, *, max_width=3, flank=3, degree=1):
    """Spike departure ``D`` and flank misfit ``E`` for widths 1..max_width (module docstring).

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis.
    max_width : int
        Longest spike tested, in samples.
    flank : int
        Samples on each side used to fit the background.
    degree : int
        Degree of the background polynomial (0 level, 1 line, 2 parabola).

    Returns
    -------
    D, E : numpy.ndarray
        Shape ``(max_width,) + x.shape``; ``D[w - 1, ..., t]`` is the mean departure of
        ``x[..., t:t + w]`` from the background, ``E`` the RMS misfit of the flanks.
    """
    if max_width < 1 or flank < 1 or degree < 0 or 2 * flank <= degree + 1:
        msg = (f"need max_width >= 1, flank >= 1 and 2 * flank > degree + 1; got max_width="
               f"{max_width}, flank={flank}, degree={degree}")
        raise ValidationError(msg)
    x = np.asarray(x, dtype=np.float64)
    d_all, e_all = [], []
    for width in range(1, max_width + 1):
        _, k_d, k_e = _flank_kernels(width, flank, degree)
        # out[t] = sum_j k[j] x[t - flank + j]: the kernel starts `flank` samples before t
        origin = -(width // 2)
        apply = partial(ndimage.correlate1d, x, axis=-1, mode="constant", cval=np.nan,
                        origin=origin)
        d_all.append(apply(k_d))
        misfit = sum(apply(k) ** 2 for k in k_e)
        e_all.append(np.sqrt(misfit / len(k_e)))
    return np.stack(d_all), np.stack(e_all)


def _lag_matrix(regressors, lags):
    """(time, n_regressors * n_lags) design with NaN replaced by 0."""
    cols = [_shift(regressors, -lag) for lag in lags]
    return np.nan_to_num(np.concatenate(cols, axis=0).T)


def _tukey_fit(design, y, n_iter, max_rows):
    """Tukey-biweight IRLS by weighted normal equations, on at most ``max_rows`` rows.

    High-rate data oversample a transfer function that changes over hours: an evenly
    strided subset of rows fits it as well at a fraction of the cost.
    """
    ok = np.isfinite(y)
    coef = np.zeros(design.shape[1])
    if ok.sum() <= design.shape[1]:
        return coef
    rows = np.flatnonzero(ok)
    if rows.size > max_rows:
        rows = rows[:: -(-rows.size // max_rows)]
    a, b = design[rows], y[rows]
    weights = np.ones(rows.size)
    for _ in range(n_iter):
        aw = a * weights[:, None]
        coef = np.linalg.lstsq(aw.T @ a, aw.T @ b, rcond=None)[0]
        resid = b - a @ coef
        scale = MAD_TO_SIGMA * np.median(np.abs(resid - np.median(resid)))
        if not scale > 0:
            break
        u = np.abs(resid) / (TUKEY_C * scale)
        weights = np.where(u < 1.0, (1.0 - u**2) ** 2, 0.0)
    return coef


def peer_prediction(hp, *, lags=2, block=180, exclude=None, n_iter=3, max_fit_rows=2000):
    """Predict each station's high-passed series from all components of its peers.

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time).
    lags : int
        Peers' samples from ``-lags`` to ``+lags`` enter the prediction (timing differences,
        the filters of different instruments).
    block : int
        Refit every ``block`` samples (transfer functions change with the source geometry).
    exclude : numpy.ndarray of bool, optional
        Peer samples to replace by a running median before they are used (their own spikes).
    n_iter : int
        Iterations of the Tukey-biweight reweighting.
    max_fit_rows : int
        Each block's fit uses at most this many evenly strided samples (all of them at
        1-minute cadence; a tenth of a 3-hour block of 1-second data).

    Returns
    -------
    numpy.ndarray
        The prediction (component, station, time); NaN where the station is missing. With a
        single station the prediction is zero.
    """
    if lags < 0 or block < 1:
        msg = f"lags must be >= 0 and block >= 1 sample; got lags={lags}, block={block}"
        raise ValidationError(msg)
    hp = np.asarray(hp, dtype=np.float64)
    n_c, n_s, n_t = hp.shape
    source = hp
    if exclude is not None and exclude.any():
        grown = ndimage.binary_dilation(exclude, structure=np.ones((1, 1, 3), dtype=bool))
        source = np.where(grown, _median_filter(hp, 7), hp)
    pred = np.zeros_like(hp)
    lag_list = list(range(-int(lags), int(lags) + 1))
    for s in range(n_s):
        peers = [p for p in range(n_s) if p != s]
        if not peers:
            continue
        design = _lag_matrix(source[:, peers].reshape(-1, n_t), lag_list)
        design = np.column_stack((design, np.ones(n_t)))
        for c in range(n_c):
            for b0 in range(0, n_t, int(block)):
                sl = slice(b0, min(b0 + int(block), n_t))
                pred[c, s, sl] = design[sl] @ _tukey_fit(design[sl], hp[c, s, sl], n_iter,
                                                                   max_fit_rows)
    pred[~np.isfinite(hp)] = np.nan
    return pred


def _spread(mask_w, n_t):
    """Mark every sample a detected (width, start) covers: (W, ...) -> (...)."""
    out = np.zeros(mask_w.shape[1:], dtype=bool)
    for w in range(mask_w.shape[0]):
        for o in range(w + 1):
            out[..., o:] |= mask_w[w][..., : n_t - o] if o else mask_w[w]
    return out


def _zscores(stat, window, trim):
    sigma, _ = _series_sigma(np.where(np.isfinite(stat), stat, np.nan), window, trim)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(stat) / sigma[..., None]


def _spikes(x, *, k, shape_factor, max_width, flank, degree, window, trim):
    d, e = spike_statistic(x, max_width=max_width, flank=flank, degree=degree)
    z = _zscores(d, window, trim)
    with np.errstate(invalid="ignore"):
        hit = (z > k) & (np.abs(d) > shape_factor * e)
    return np.nan_to_num(z), hit


def peer_events(hp, *, k=6.0, shape_factor=5.0, amplitude_ratio=4.0, max_width=3, flank=3,
                degree=1, lags=2, block=180, sigma_window=121, sigma_trim=0.3,
                incoherence=3.0, tolerance=1):
    """Detect and classify spikes by peer prediction (see module docstring).

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time), nT.
    k : float
        Threshold on the spike statistic in units of its robust sigma.
    shape_factor : float
        A spike's departure must exceed its flanks' misfit by this factor.
    amplitude_ratio : float
        Interference only if the peers' spike statistic (own sigma units) is under the
        station's divided by this.
    max_width, flank, degree : int
        Spike statistic (:func:`spike_statistic`).
    lags, block : int
        Peer prediction (:func:`peer_prediction`).
    sigma_window, sigma_trim : int, float
        Robust sigma (:func:`robust_sigma`).
    incoherence : float
        Where the residual's local sigma exceeds this multiple of its sigma, spikes are
        flagged, not replaced.
    tolerance : int
        Peers' spikes within +-tolerance samples count as the same event.

    Returns
    -------
    dict
        ``events`` (:class:`EventTable`), ``replace`` (bool mask of samples to replace),
        ``flagged`` (bool mask of samples flagged but kept), ``prediction`` (peers'
        prediction of ``hp``), ``sigma`` (component, station: robust sigma of the residual),
        ``local_sigma`` (component, station, time: its block MAD sigma).
    """
    for name, value in (("k", k), ("shape_factor", shape_factor),
                        ("amplitude_ratio", amplitude_ratio), ("incoherence", incoherence)):
        if not np.isfinite(value) or value <= 0:
            msg = f"{name} must be a positive finite number, got {value}"
            raise ValidationError(msg)
    hp = np.asarray(hp, dtype=np.float64)
    n_c, n_s, n_t = hp.shape
    opts = {"k": k, "shape_factor": shape_factor, "max_width": max_width, "flank": flank,
            "degree": degree, "window": sigma_window, "trim": sigma_trim}
    z_own, hit_own = _spikes(hp, **opts)
    pred = peer_prediction(hp, lags=lags, block=block, exclude=_spread(hit_own, n_t))
    resid = hp - pred
    z_res, hit_res = _spikes(resid, **opts)
    sigma, local = robust_sigma(resid, window=sigma_window, trim=sigma_trim)

    # the peers' strongest own spike statistic within +-tolerance, per width
    size = 2 * tolerance + 1
    peer_z = np.zeros_like(z_own)
    for s in range(n_s):
        peers = [p for p in range(n_s) if p != s]
        if peers:
            strongest = z_own[:, :, peers].max(axis=2)
            peer_z[:, :, s] = ndimage.maximum_filter1d(strongest, size, axis=-1)
    lonely = hit_res & (peer_z * amplitude_ratio < z_own)
    if n_s < 2:
        lonely = np.zeros_like(hit_res)
    candidate = _spread(hit_res, n_t)
    interference = _spread(lonely, n_t)
    with np.errstate(invalid="ignore"):
        incoherent = local > incoherence * sigma[..., None]
    incoherent = ndimage.maximum_filter1d(incoherent.astype(np.int8), 2 * flank + max_width,
                                          axis=-1).astype(bool)
    replace = interference & ~incoherent
    flagged = interference & incoherent
    events = _event_table(candidate, interference, flagged, resid, sigma, z_own,
                          amplitude_ratio, np.isfinite(hp))
    return {"events": events, "replace": replace, "flagged": flagged, "prediction": pred,
            "sigma": sigma, "local_sigma": local}


def _event_table(candidate, interference, flagged, resid, sigma, z_own, ratio, valid):
    c, s, start, stop = detect_runs(candidate)
    n = c.size
    n_s = candidate.shape[1]
    peak = np.empty(n, dtype=np.int64)
    peak_value = np.empty(n)
    klass = np.empty(n, dtype=object)
    seen = np.zeros((n, n_s), dtype=bool)
    n_valid = np.zeros(n, dtype=np.int64)
    own = z_own.max(axis=0)
    absres = np.abs(np.nan_to_num(resid))
    for i in range(n):  # events are few; each step is O(event length)
        seg = slice(start[i], stop[i])
        j = start[i] + int(np.argmax(absres[c[i], s[i], seg]))
        peak[i], peak_value[i] = j, resid[c[i], s[i], j]
        if flagged[c[i], s[i], seg].any():
            klass[i] = CLASS_UNDETERMINED
        elif interference[c[i], s[i], seg].any():
            klass[i] = CLASS_INTERFERENCE
        else:
            klass[i] = CLASS_NATURAL
        seen[i, s[i]] = True
        n_valid[i] = int(valid[c[i], :, seg].any(axis=-1).sum())
        if klass[i] == CLASS_NATURAL:
            seen[i] = own[c[i], :, seg].max(axis=-1) * ratio >= own[c[i], s[i], seg].max()
            seen[i, s[i]] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        multiple = np.abs(peak_value) / sigma[c, s]
    return EventTable(component=c, station=s, start=start, stop=stop, peak=peak,
                      peak_value=peak_value, multiple=multiple, seen=seen,
                      n_seen=seen.sum(axis=1), n_valid=n_valid, klass=klass,
                      rule=np.full(n, "peer", dtype=object))
