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
3. *Is what the peers show the same kind of feature?* A natural spike-shaped event is
   spike-shaped at the peers too. Where a peer is as strong as the station but not
   spike-shaped there (``|D| <= peer_shape * E``: a peer's own activity, not the event),
   the peers neither confirm nor refute the station's spike: it is flagged as
   undetermined, not replaced and not silently kept. During substorms a peer's ordinary
   activity reaches a 20x spike's size at most times (measured on Barrow/Deadhorse,
   docs/cleaning.md), so without this class dense interference there was called natural.

Noise sigma is robust to dense interference: the median absolute deviation in blocks of
``sigma_window`` samples, whose 50 % breakdown point a spike every few samples cannot
reach, then a trimmed median of those (the "sigma" of a station). The block MAD is also
kept as a time series, so a user sees the noise level over time.

Disturbed-interval policy: where the residual's local MAD exceeds ``incoherence`` times the
station's sigma, the peers do not predict the station (too far apart, or activity too
local), and a spike found there is flagged and reported but not replaced.

Review (``review``): a line through ``flank`` samples a side models natural 1-minute
variation during substorms poorly, so real spikes there often fail the shape test. A
residual candidate above ``k`` sigma that fails it is tested again against the station's
own learnt two-sided interpolation (:mod:`magnetar.processing._interpolation`); beyond
``k`` local sigmas it is classified like any spike and flagged where it would be replaced,
never replaced.

All kernels work on arrays shaped ``(component, station, time)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
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
from ._interpolation import interpolation_z
from ._noise import MAD_TO_SIGMA, TUKEY_C, _trimmed_stat

__all__ = [
    "Periods",
    "peer_events",
    "peer_prediction",
    "robust_sigma",
    "spike_statistic",
]


def _median_at(x, mask, window):
    """``x`` with the samples in ``mask`` replaced by the running median of ``window``.

    The median of ``x`` (missing samples counted as 0, the ends extended) over the
    ``window`` samples centred on each masked sample; NaN stays NaN. The masked samples are
    few (spike candidates), so the median is taken there only.
    """
    index = np.nonzero(mask)
    n_t = x.shape[-1]
    half = int(window) // 2
    pos = np.clip(index[-1][:, None] + np.arange(-half, half + 1), 0, n_t - 1)
    around = np.nan_to_num(x[tuple(i[:, None] for i in index[:-1]) + (pos,)], nan=0.0)
    out = x.copy()
    out[index] = np.where(np.isfinite(x[index]), np.median(around, axis=1), np.nan)
    return out


@dataclass(frozen=True)
class Periods:
    """Consecutive periods of the time axis, each with its own statistics.

    The peer rule's noise sigmas, its choice of peers and its fit blocks are estimated per
    period. One period (the default) is the whole record; the archive path uses UTC days,
    so that a day processed alone with enough neighbouring data around it gives exactly the
    decisions of one in-memory run over the whole archive.

    Attributes
    ----------
    starts : numpy.ndarray of int
        First sample of each period, relative to the array (increasing). The first may be
        negative: that period began before the array does (its blocks stay aligned to its
        true start).
    labels : numpy.ndarray of int
        A label per period (days since 1970 for the archive path).
    """

    starts: np.ndarray
    labels: np.ndarray

    @classmethod
    def single(cls):
        return cls(np.array([0]), np.array([0]))

    @classmethod
    def from_times(cls, times, period_s):
        """Periods of ``period_s`` seconds aligned to 1970-01-01 over a time coordinate."""
        seconds = np.asarray(times, dtype="datetime64[ns]").astype(np.int64) // 10**9
        label = np.floor_divide(seconds, int(round(period_s)))
        change = np.flatnonzero(np.diff(label)) + 1
        starts = np.r_[0, change]
        return cls(starts.astype(np.int64), label[starts].astype(np.int64))

    def slices(self, n_t):
        """Return ``(period, lo, hi)`` for each period with samples in an array of ``n_t``."""
        lo = np.clip(np.r_[0, self.starts[1:]], 0, n_t)
        hi = np.r_[lo[1:], n_t]
        return [(p, int(a), int(b)) for p, (a, b) in enumerate(zip(lo, hi, strict=True)) if b > a]

    def within(self, lo, hi):
        """Return the periods of samples ``lo..hi`` as the slice ``[..., lo:hi]`` sees them.

        Periods ending before ``lo`` or starting at ``hi`` or later are left out; each
        kept period keeps its label and its true start (so its blocks stay aligned).
        """
        ends = np.r_[self.starts[1:], np.iinfo(np.int64).max]
        keep = (ends > lo) & (self.starts < hi)
        return Periods(self.starts[keep] - int(lo), self.labels[keep])

    def position(self, n_t):
        """Period position (0..P-1) of every sample."""
        pos = np.zeros(n_t, dtype=np.int64)
        for p, lo, hi in self.slices(n_t):
            pos[lo:hi] = p
        return pos

    def blocks(self, n_t, window):
        """Blocks of ``window`` samples restarting at every period start.

        Returns ``(bounds, period, offset)``: bounds (n_blocks, 2) [lo, hi) clipped to the
        array, each block's period position, and its first sample counted from its
        period's start (the block's identity whatever array it is seen in).
        """
        if self.starts[0] > 0:
            msg = f"the first period must start at or before sample 0, got {self.starts[0]}"
            raise ValidationError(msg)
        ends = np.r_[self.starts[1:], n_t]
        bounds, period, offset = [], [], []
        for i, (s0, s1) in enumerate(zip(self.starts, ends, strict=True)):
            lo = np.arange(int(s0), int(s1), int(window))
            hi = np.minimum(lo + int(window), int(s1))
            keep = hi > 0
            bounds.append(np.column_stack((np.maximum(lo[keep], 0), hi[keep])))
            period.append(np.full(int(keep.sum()), i))
            offset.append(lo[keep] - int(s0))
        return (np.concatenate(bounds).astype(np.int64), np.concatenate(period),
                np.concatenate(offset))


def _median_last(a):
    """Return the median along the last axis of a finite array, by one partition.

    numpy's median less its NaN checks and reductions, which cost more than the
    partition on short rows.
    """
    n = a.shape[-1]
    k = n // 2
    if n % 2:
        return np.partition(a, k, axis=-1)[..., k]
    p = np.partition(a, (k - 1, k), axis=-1)
    return 0.5 * (p[..., k - 1] + p[..., k])


def _block_mad_sigma(x, bounds, window):
    """1.4826 x MAD of ``x`` in each block ``[lo, hi)``: shape ``(..., n_blocks)``.

    Computed in float32 (a noise level needs no more than its 7 digits; the partitions
    then move half the bytes): relative difference from float64 below 1e-6. Consecutive
    full blocks are a reshaped view of the series; others are gathered.
    """
    x32 = np.asarray(x, dtype=np.float32)
    window = int(window)
    lead = x32.shape[:-1]
    mad = np.full(lead + (len(bounds),), np.nan)
    full = np.flatnonzero(bounds[:, 1] - bounds[:, 0] == window)
    # runs of consecutive full blocks (one per period, in practice)
    breaks = np.flatnonzero((np.diff(full) != 1)
                            | (bounds[full[1:], 0] != bounds[full[:-1], 1])) + 1
    for run in np.split(full, breaks) if full.size else ():
        lo = int(bounds[run[0], 0])
        view = x32[..., lo:lo + run.size * window].reshape(lead + (run.size, window))
        mad[..., run] = _mad_last(view)
    short = np.flatnonzero(bounds[:, 1] - bounds[:, 0] != window)
    if short.size:
        rest = bounds[short]
        idx = rest[:, :1] + np.arange(window)
        inside = idx < rest[:, 1:]
        mad[..., short] = _mad_last(np.where(inside, x32[..., np.minimum(idx, x32.shape[-1] - 1)],
                                             np.nan))
    return MAD_TO_SIGMA * mad


def _mad_last(blocks):
    """Median absolute deviation along the last axis; NaN-aware only where needed."""
    complete = np.isfinite(blocks).all(axis=-1)
    if complete.all():
        return _median_last(np.abs(blocks - _median_last(blocks)[..., None]))
    out = np.full(blocks.shape[:-1], np.nan)
    good = blocks[complete]  # complete blocks: one partition per median
    out[complete] = _median_last(np.abs(good - _median_last(good)[:, None]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing blocks give NaN
        part = blocks[~complete]
        med = np.nanmedian(part, axis=-1, keepdims=True)
        out[~complete] = np.nanmedian(np.abs(part - med), axis=-1)
    return out


def _check_sigma_options(window, trim):
    if not 0 <= trim < 0.5:
        msg = f"sigma_trim must be in [0, 0.5), got {trim}"
        raise ValidationError(msg)
    if int(window) < 3:
        msg = f"sigma_window must be at least 3 samples, got {window}"
        raise ValidationError(msg)


def _period_sigma(x, window, trim, periods, *, local=True):
    """Per-period sigma (trimmed median of its block sigmas) and the per-sample block sigma.

    Returns ``sigma`` shaped ``x.shape[:-1] + (P,)`` and ``local`` shaped like ``x`` (None
    when ``local`` is False).
    """
    _check_sigma_options(window, trim)
    n_t = np.shape(x)[-1]
    bounds, period, _ = periods.blocks(n_t, window)
    blocks = _block_mad_sigma(np.asarray(x, dtype=np.float64), bounds, window)
    flat = blocks.reshape(-1, blocks.shape[-1])
    sigma = np.full((flat.shape[0], len(periods.starts)), np.nan)
    for p in range(len(periods.starts)):
        sel = flat[:, period == p]
        sigma[:, p] = [_trimmed_stat(row, trim, "median") for row in sel]
    sigma = sigma.reshape(blocks.shape[:-1] + (len(periods.starts),))
    if not local:
        return sigma, None
    per_sample = np.repeat(np.arange(len(bounds)), bounds[:, 1] - bounds[:, 0])
    held = np.full(np.shape(x), np.nan)
    held[..., bounds[0, 0]:bounds[-1, 1]] = blocks[..., per_sample]
    return sigma, held


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
    sigma, local = _period_sigma(x, window, trim, Periods.single())
    return sigma[..., 0], local


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
    e = np.zeros((max_width,) + x.shape)
    part = np.empty(x.shape)
    for width in range(1, max_width + 1):
        _, _, k_e = _flank_kernels(width, flank, degree)
        for k in k_e:  # the flanks' misfit: sum of squares of its orthogonal components
            _correlate(x, k, width, output=part)
            e[width - 1] += np.multiply(part, part, out=part)
        np.sqrt(np.divide(e[width - 1], len(k_e), out=e[width - 1]), out=e[width - 1])
    return _departure(x, max_width=max_width, flank=flank, degree=degree), e


def _correlate(x, kernel, width, output=None):
    """Return ``out[t] = sum_j kernel[j] x[t - flank + j]`` (kernel starts ``flank`` before t).

    NaN outside the record and wherever the kernel reaches a missing sample.
    """
    return ndimage.correlate1d(x, kernel, axis=-1, mode="constant", cval=np.nan,
                               origin=-(width // 2), output=output)


def _departure(x, *, max_width, flank, degree):
    """Return the departure ``D`` of :func:`spike_statistic` alone: one filter per width."""
    d = np.empty((max_width,) + np.shape(x))
    for width in range(1, max_width + 1):
        _correlate(x, _flank_kernels(width, flank, degree)[1], width, output=d[width - 1])
    return d


def _filters_at(x, index, *, flank, degree, apply):
    """Return ``apply(windows, k_d, k_e)`` of :func:`spike_statistic`'s filters at entries.

    ``index`` holds (width - 1, *leading indices of x, time) arrays (broadcast together);
    ``windows`` are the samples the width's filters read, ``(n, 2 flank + width)``, NaN
    beyond the record. Shaped like the broadcast index.
    """
    w, *lead, t = np.broadcast_arrays(*index)
    shape, w, t, lead = w.shape, w.ravel(), t.ravel(), [a.ravel() for a in lead]
    n_t = np.shape(x)[-1]
    out = np.full(w.shape, np.nan)
    for width in np.unique(w):
        sel = w == width
        _, k_d, k_e = _flank_kernels(int(width) + 1, flank, degree)
        pos = t[sel, None] + np.arange(-flank, int(width) + 1 + flank)[None, :]
        inside = (pos >= 0) & (pos < n_t)
        window = np.asarray(x)[tuple(a[sel, None] for a in lead) + (np.clip(pos, 0, n_t - 1),)]
        out[sel] = apply(np.where(inside, window, np.nan), k_d, np.array(k_e))
    return out.reshape(shape)


def _misfit_at(x, index, *, flank, degree):
    """Return the flank misfit ``E`` of :func:`spike_statistic` at the given entries only.

    ``index`` holds (width - 1, *leading indices of x, time) arrays, as from
    ``np.nonzero`` on a ``(max_width,) + x.shape`` array. Detection needs ``E`` only where
    ``D`` is already large: a few samples, where filtering the whole record costs four
    convolutions per width.
    """
    return _filters_at(x, index, flank=flank, degree=degree,
                       apply=lambda win, k_d, k_e: np.sqrt(np.mean((win @ k_e.T) ** 2, axis=-1)))


class _OwnStatistic:
    """A station's own spike statistic ``z = |D| / sigma`` (0 where ``D`` is NaN), lazily.

    The classification reads ``z`` at the residual's hits, their peers and the events'
    samples only: a few entries, where the whole ``(width, component, station, time)``
    array costs three filters and as many passes over the record. Indexed like that array
    with integer index arrays (broadcast); ``departure`` gives ``|D|`` at such entries.
    """

    def __init__(self, x, sigma, periods, opts):
        self.x, self.sigma, self.opts = x, sigma, opts
        self.position = periods.position(np.shape(x)[-1])
        self.shape = (opts["max_width"],) + np.shape(x)

    def departure(self, index):
        return np.abs(_filters_at(self.x, index, flank=self.opts["flank"],
                                  degree=self.opts["degree"],
                                  apply=lambda win, k_d, k_e: win @ k_d))

    def __getitem__(self, index):
        w, c, s, t = np.broadcast_arrays(*index)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = self.departure((w, c, s, t)) / self.sigma[w, c, s, self.position[t]]
        return np.nan_to_num(z)


def _padded_regressors(source, mine, lo, hi, reach):
    """Return the peers' series around block ``lo..hi``: ``(n_regressors, hi - lo + 2 reach)``.

    Row ``(component, peer)``; column ``reach + i`` is sample ``lo + i``; 0 beyond the
    record. ``source`` is finite (missing samples already 0).
    """
    n_t = source.shape[-1]
    out = np.zeros((source.shape[0] * len(mine), hi - lo + 2 * reach))
    r0, r1 = max(lo - reach, 0), min(hi + reach, n_t)
    out[:, r0 - lo + reach:r1 - lo + reach] = source[:, mine, r0:r1].reshape(-1, r1 - r0)
    return out


def _lag_design(padded, lags, rows, reach):
    """Return the given rows (from the block start) of the (time, n_regressors * n_lags + 1) design.

    Column ``(lag, r)`` holds regressor ``r`` at ``t - lag``; the last column is the
    constant. Only the rows a fit uses are built (the prediction needs no design:
    :func:`_lag_predict`).
    """
    n_r = padded.shape[0]
    design = np.empty((len(rows), n_r * len(lags) + 1))
    for j, lag in enumerate(lags):
        design[:, j * n_r:(j + 1) * n_r] = padded[:, rows + reach - lag].T
    design[:, -1] = 1.0
    return design


def _lag_predict(padded, lags, coefs, n, reach):
    """Return ``design @ coefs.T`` over the block's ``n`` samples, lag by lag: (n_coefs, n)."""
    n_r = padded.shape[0]
    out = np.repeat(coefs[:, -1:], n, axis=1)
    for j, lag in enumerate(lags):
        out += coefs[:, j * n_r:(j + 1) * n_r] @ padded[:, reach - lag:reach - lag + n]
    return out


def choose_peers(hp, *, max_peers, periods=None):
    """Return the ``max_peers`` peers that best follow each station, per period.

    The score of a peer is its mean absolute correlation with the station over the
    components (high-passed series, samples where both are finite).

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time).
    max_peers : int
        Peers kept per station.
    periods : Periods, optional
        Periods chosen for separately (default: the record).

    Returns
    -------
    numpy.ndarray of int
        (P, station, max_peers) peer indices, ascending within each row.
    """
    hp = np.asarray(hp, dtype=np.float64)
    n_c, n_s, n_t = hp.shape
    periods = periods or Periods.single()
    k = min(int(max_peers), n_s - 1)
    pos = periods.position(n_t)
    out = np.zeros((len(periods.starts), n_s, max(k, 0)), dtype=np.int64)
    for p in range(len(periods.starts)):
        seg = hp[:, :, pos == p]
        score = np.zeros((n_s, n_s))
        for c in range(n_c):
            ok = np.isfinite(seg[c])
            filled = np.where(ok, seg[c], 0.0)
            mean = filled.sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
            xc = np.where(ok, filled - mean[:, None], 0.0)
            cross = xc @ xc.T
            power = np.sqrt(np.maximum(np.diag(cross), 1e-300))
            score += np.abs(cross / power[:, None] / power[None, :])
        np.fill_diagonal(score, -np.inf)
        for s in range(n_s):
            out[p, s] = np.sort(np.argsort(-score[s], kind="stable")[:k])
    return out


def _solve_normal(ata, atb):
    try:
        return np.linalg.solve(ata, atb)
    except np.linalg.LinAlgError:  # a peer flat over the block: the minimum-norm fit
        return np.linalg.lstsq(ata, atb, rcond=None)[0]


def _tukey_fits(design, n_cols, ys, n_iter, max_rows):
    """Tukey-biweight IRLS of each row of ``ys`` on a design, by weighted normal equations.

    ``design(rows)`` returns the design's rows (``n_cols`` columns). At most ``max_rows``
    evenly strided rows are used: high-rate data oversample a transfer function that
    changes over hours, and a subset fits it as well at a fraction of the cost. Series
    missing at the same samples share the first, unweighted iteration (one normal matrix
    for all of them). Returns coefficients ``(len(ys), n_cols)``.
    """
    coefs = np.zeros((len(ys), n_cols))
    groups = {}
    for i, y in enumerate(ys):
        ok = np.isfinite(y)
        if ok.sum() > n_cols:
            groups.setdefault(ok.tobytes(), (ok, []))[1].append(i)
    for ok, members in groups.values():
        rows = np.flatnonzero(ok)
        if rows.size > max_rows:
            rows = rows[:: -(-rows.size // max_rows)]
        a, b = design(rows), ys[members][:, rows]
        first = _solve_normal(a.T @ a, a.T @ b.T)  # (n_cols, members)
        for j, i in enumerate(members):
            coef = first[:, j]
            for _ in range(n_iter - 1):
                resid = b[j] - a @ coef
                scale = MAD_TO_SIGMA * _median_last(np.abs(resid - _median_last(resid)))
                if not scale > 0:
                    break
                u = np.abs(resid) / (TUKEY_C * scale)
                root = np.where(u < 1.0, 1.0 - u**2, 0.0)  # the square root of the weight
                aw = a * root[:, None]  # aw.T @ aw: one symmetric product (BLAS syrk)
                coef = _solve_normal(aw.T @ aw, aw.T @ (b[j] * root))
            coefs[i] = coef
    return coefs


def peer_prediction(hp, *, lags=2, block=180, exclude=None, n_iter=3, max_fit_rows=1000,
                    peers=None, periods=None, fit_range=None, coefficients=None):
    """Predict each station's high-passed series from all components of its peers.

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time).
    lags : int
        Peers' samples from ``-lags`` to ``+lags`` enter the prediction (timing differences,
        the filters of different instruments).
    block : int
        Refit every ``block`` samples (transfer functions change with the source geometry);
        blocks restart at every period start.
    exclude : numpy.ndarray of bool, optional
        Peer samples to replace by a running median before they are used (their own spikes).
    n_iter : int
        Iterations of the Tukey-biweight reweighting.
    max_fit_rows : int
        Each block's fit uses at most this many evenly strided samples (all of them at
        1-minute cadence; one in 11 of a 3-hour block of 1-second data, 16 per coefficient
        of 3 peers x 4 components x 5 lags; 2000 found the same 1-second spikes within
        the sampling error, docs/cleaning.md, at twice the cost).
    peers : numpy.ndarray of int, optional
        (P, station, K) peers of each station per period (:func:`choose_peers`); default
        every other station.
    periods : Periods, optional
        Periods of the time axis (default: one).
    fit_range : (int, int), optional
        Only blocks overlapping these samples are fitted; elsewhere the prediction is NaN.
    coefficients : dict, optional
        Fitted coefficients by (period label, block offset, station, component): those found
        are used instead of fitting, the others are fitted and added (the streaming path
        fits each interval once and predicts again from the fits).

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
    periods = periods or Periods.single()
    source = _fit_source(hp, exclude)
    pred = np.zeros_like(hp)
    lag_list = list(range(-int(lags), int(lags) + 1))
    bounds, period, offset = periods.blocks(n_t, int(block))
    lo_fit, hi_fit = fit_range if fit_range is not None else (0, n_t)
    cache = {} if coefficients is None else coefficients
    reach = int(lags)
    for s in range(n_s):
        for (lo, hi), p, off in zip(bounds, period, offset, strict=True):
            if hi <= lo_fit or lo >= hi_fit:
                pred[:, s, lo:hi] = np.nan
                continue
            mine = (list(peers[p, s]) if peers is not None
                    else [q for q in range(n_s) if q != s])
            if not mine:
                continue
            padded = _padded_regressors(source, mine, lo, hi, reach)
            keys = [(int(periods.labels[p]), int(off), s, c) for c in range(n_c)]
            todo = [c for c in range(n_c) if keys[c] not in cache]
            if todo:
                fits = _tukey_fits(partial(_lag_design, padded, lag_list, reach=reach),
                                   padded.shape[0] * len(lag_list) + 1, hp[todo, s, lo:hi],
                                   n_iter, max_fit_rows)
                cache.update({keys[c]: fit for c, fit in zip(todo, fits, strict=True)})
            pred[:, s, lo:hi] = _lag_predict(padded, lag_list,
                                             np.stack([cache[key] for key in keys]), hi - lo,
                                             reach)
    pred[~np.isfinite(hp)] = np.nan
    return pred


def _fit_source(hp, exclude):
    """Return the peers' series as the fits use them.

    Excluded samples (and one either side) are replaced by their running median, missing
    samples by 0.
    """
    source = hp
    if exclude is not None and exclude.any():
        grown = exclude.copy()  # one sample either side, along time (a 1 x 1 x 3 dilation)
        grown[..., 1:] |= exclude[..., :-1]
        grown[..., :-1] |= exclude[..., 1:]
        source = _median_at(hp, grown, 7)
    return np.where(np.isfinite(source), source, 0.0)


def _spike_options(options):
    """Return the spike statistic's options (:func:`_spikes`) from the peer rule's keywords.

    ``options`` as :func:`peer_events` takes them (``k``, ``shape_factor``, ``max_width``,
    ``flank``, ``sigma_window``, ``sigma_trim``; ``degree`` 1 unless given).
    """
    return {"k": options["k"], "shape_factor": options["shape_factor"],
            "max_width": options["max_width"], "flank": options["flank"],
            "degree": options.get("degree", 1), "window": options["sigma_window"],
            "trim": options["sigma_trim"]}


def _fit_block(hp, lo, hi, *, stats, **options):
    """Return the prediction's coefficients fitted on samples ``lo..hi`` alone (streaming).

    ``stats`` holds the period-0 statistics (``sigma_own``, and ``peers`` with
    ``max_peers``) as :func:`peer_events` keeps them; ``options`` are :func:`peer_events`'s
    keywords. The peers' own spike candidates are replaced by their running median first,
    as in every fit. ``hp`` must reach the spike rule's margin beyond both ends. Returns
    ``(station, component, n_coefficients)``.
    """
    n_c, n_s, n_t = hp.shape
    width = hi - lo
    first = lo - width * -(-lo // width)  # a block edge at lo; the period starts at <= 0
    periods = Periods(np.array([first]), np.array([0]))
    lags = options["lags"]
    hit_own = _spikes(hp, stats, "sigma_own", periods, set(), _spike_options(options))
    peers = _peers(hp, stats, options.get("max_peers"), periods, set())
    cache = {}
    peer_prediction(hp, lags=lags, block=width, exclude=_spread(hit_own, n_t), peers=peers,
                    periods=periods, fit_range=(lo, hi), coefficients=cache)
    n_peers = n_s - 1 if peers is None else peers.shape[-1]
    out = np.full((n_s, n_c, n_peers * n_c * (2 * lags + 1) + 1), np.nan)
    for (_, offset, s, c), coef in cache.items():
        if offset == lo - first:
            out[s, c] = coef
    return out


def _spread(mask_w, n_t):
    """Mark every sample a detected (width, start) covers: (W, ...) -> (...)."""
    out = np.zeros(mask_w.shape[1:], dtype=bool)
    for w in range(mask_w.shape[0]):
        for o in range(w + 1):
            out[..., o:] |= mask_w[w][..., : n_t - o] if o else mask_w[w]
    return out


#: samples of D filtered at once (16 MB of float64): larger temporaries would be mapped
#: fresh from the system (glibc serves blocks over 32 MiB by mmap) and zeroed page by page
#: on every call, which cost a third of a 16-station day's cleaning in kernel time
_CHUNK = 2**21


def _departure_chunks(x, opts):
    """Yield ``(width - 1, component, stations, D)`` of :func:`spike_statistic` in chunks.

    ``x`` is (component, station, time); each chunk is one width, one component and as many
    stations as keep ``D`` under :data:`_CHUNK` samples. Every D is filtered line by line,
    so a chunk equals the same slice of the whole array's D.
    """
    n_s, n_t = x.shape[1], x.shape[-1]
    step = max(1, _CHUNK // max(n_t, 1))
    for w in range(opts["max_width"]):
        k_d = _flank_kernels(w + 1, opts["flank"], opts["degree"])[1]
        for c in range(x.shape[0]):
            for s0 in range(0, n_s, step):
                stations = slice(s0, min(s0 + step, n_s))
                yield w, c, stations, _correlate(x[c, stations], k_d, w + 1)


def _scan_spikes(x, periods, opts, sigma=None, *, find=True, rough=None):
    """Return the per-period sigma of ``D`` (estimated unless given) and the spike hits.

    One pass over :func:`_departure_chunks`: each chunk's sigma (when estimated), then its
    hits (``|D| > k sigma`` and spike-shaped, ``|D| > shape_factor * E`` with ``E`` at
    those entries only); ``find`` False: the sigma only (hits None). ``rough``, a list,
    receives the (width, component, station, time) index arrays of the entries above
    ``k sigma`` that are not spike-shaped and where ``|D|`` peaks (within ``max_width``).
    """
    n_w, n_t = opts["max_width"], x.shape[-1]
    estimated = np.full((n_w,) + x.shape[:-1] + (len(periods.starts),), np.nan)
    hits = np.zeros((n_w,) + x.shape, dtype=bool) if find else None
    for w, c, stations, d in _departure_chunks(x, opts):
        if sigma is None:
            estimated[w, c, stations] = _period_sigma(d, opts["window"], opts["trim"], periods,
                                                      local=False)[0]
        if hits is None:
            continue
        chunk_sigma = (estimated if sigma is None else sigma)[w, c, stations]
        d = np.abs(d, out=d)
        hit = hits[w, c, stations]
        with np.errstate(invalid="ignore"):
            for p, lo, hi in periods.slices(n_t):
                np.greater(d[..., lo:hi], opts["k"] * chunk_sigma[..., p:p + 1],
                           out=hit[..., lo:hi])
        index = np.nonzero(hit)
        where = (np.full(index[0].shape, w), np.full(index[0].shape, c),
                 index[0] + stations.start, index[1])
        with np.errstate(invalid="ignore"):
            shaped = d[index] > opts["shape_factor"] * _misfit_at(
                x, where, flank=opts["flank"], degree=opts["degree"])
        hit[index] = shaped
        if rough is not None:  # the strongest entry of each rough feature (its D's peak)
            peak = _is_peak(d, tuple(a[~shaped] for a in index), opts["max_width"])
            rough.append(tuple(a[~shaped][peak] for a in where))
    return (estimated if sigma is None else sigma), hits


def _is_peak(d, index, reach):
    """Whether ``d`` at the (row, time) entries ``index`` is the largest within ``reach``."""
    rows, t = index
    near = np.clip(t[:, None] + np.arange(-reach, reach + 1)[None, :], 0, d.shape[-1] - 1)
    return (np.nan_to_num(d[rows[:, None], near]) <= d[rows, t][:, None]).all(axis=1)


def _spike_sigma(x, stats, name, periods, estimate, opts):
    """Per-period robust sigma of the spike statistic's ``D`` (known, or estimated from x)."""
    return _resolve(stats, name, lambda: _scan_spikes(x, periods, opts, find=False)[0],
                    periods, estimate)


def _spikes(x, stats, name, periods, estimate, opts, rough=None):
    """Return the spike hits of ``x``: ``(width, *x.shape)`` booleans.

    A hit has ``|D| > k sigma`` (``sigma`` its period's, estimated or known) and is
    spike-shaped: ``|D| > shape_factor * E``. Where sigma is estimated, the hits come from
    the same pass over ``D`` (they are made again only where some periods' sigmas were
    known and others estimated). ``rough``: as in :func:`_scan_spikes`.
    """
    scan = {"rough": []}

    def estimate_sigma():
        scan["sigma"], scan["hits"] = _scan_spikes(x, periods, opts, rough=scan["rough"])
        return scan["sigma"]

    sigma = _resolve(stats, name, estimate_sigma, periods, estimate)
    if "hits" in scan and np.array_equal(scan["sigma"], sigma, equal_nan=True):
        if rough is not None:
            rough.extend(scan["rough"])
        return scan["hits"]
    return _scan_spikes(x, periods, opts, sigma=sigma, rough=rough)[1]


def _per_sample(by_period, periods, n_t):
    """(..., P) values -> (..., n_t): each sample gets its period's value (read-only)."""
    if len(periods.starts) == 1:  # one period: a broadcast view, not n_t copies
        return np.broadcast_to(by_period[..., :1], by_period.shape[:-1] + (n_t,))
    return by_period[..., periods.position(n_t)]


def _resolve(stats, name, compute, periods, estimate):
    """Per-period values: known ones from ``stats``, the others estimated by ``compute()``.

    ``stats[name]`` (label -> array) supplies what is known and receives what is estimated;
    only labels in ``estimate`` (all when None) may be estimated, and ``compute`` (returning
    ``(..., P)``) is called only when one is.
    """
    table = stats.setdefault(name, {})
    labels = periods.labels.tolist()
    missing = [label for label in labels if label not in table]
    allowed = [label for label in missing if estimate is None or label in estimate]
    if len(allowed) < len(missing):
        bad = sorted(set(missing) - set(allowed))
        msg = f"no {name} known for period(s) {bad}: estimate them first"
        raise ValidationError(msg)
    if missing:
        out = np.array(compute())
    else:
        first = np.asarray(table[labels[0]])
        out = np.zeros(first.shape + (len(labels),), dtype=first.dtype)
    for p, label in enumerate(labels):
        if label in missing:
            table[label] = np.array(out[..., p])
        else:
            out[..., p] = table[label]
    return out


def peer_events(hp, *, k=6.0, shape_factor=5.0, amplitude_ratio=4.0, peer_shape=3.0,
                max_width=3, flank=3, degree=1, lags=2, block=180, sigma_window=121,
                sigma_trim=0.3, incoherence=3.0, tolerance=1, max_peers=None, review=True,
                periods=None, stats=None, estimate=None, until=None, core=None,
                prediction=None, own_hits=None):
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
    peer_shape : float
        A peer confirms or refutes an event only where its own feature is spike-shaped
        (``|D| > peer_shape * E``); a station spike whose only strong peers are not is
        flagged as undetermined. 0 turns the undetermined class off.
    max_width, flank, degree, lags, block, sigma_window, sigma_trim :
        Spike statistic (:func:`spike_statistic`), peer prediction
        (:func:`peer_prediction`) and robust sigma (:func:`robust_sigma`).
    incoherence : float
        Where the residual's local sigma exceeds this multiple of its sigma, spikes are
        flagged, not replaced.
    tolerance : int
        Peers' spikes within +-tolerance samples count as the same event.
    max_peers : int, optional
        Predict each station from its best-correlated peers only (:func:`choose_peers`;
        cost linear in the network size). Default: all.
    review : bool
        Candidates failing the shape test are flagged (never replaced) where they depart
        from the station's learnt interpolation by ``k`` local sigmas (:func:`_reviewed`).
    periods : Periods, optional
        Sigmas, peers and fit blocks are estimated per period (default: the record).
    stats, estimate, until, core, prediction, own_hits : optional
        The archive and streaming paths: per-period statistics by name and label (given
        ones used, missing ones of the labels in ``estimate`` estimated and added),
        ``until`` "own" (also returns the own spike hits, (width, component, station,
        time)) or "residual" (also returns the prediction) to stop once those are known,
        ``core`` the samples whose events are reported (the prediction is fitted around
        them only), the prediction and the own hits where an earlier pass made them.

    Returns
    -------
    dict
        ``events`` (:class:`EventTable`), ``replace``, ``flagged`` (samples replaced,
        flagged but kept), ``prediction`` (the peers' of ``hp``), ``sigma`` (component,
        station: the residual's robust sigma, median over periods), ``local_sigma``,
        ``sigma_sample`` (its block MAD sigma, each sample's period sigma) and ``stats``.
    """
    _check_positive(k=k, shape_factor=shape_factor, amplitude_ratio=amplitude_ratio,
                    incoherence=incoherence, peer_shape=peer_shape, zero_ok=("peer_shape",))
    hp = np.asarray(hp, dtype=np.float64)
    n_t, periods = hp.shape[-1], periods or Periods.single()
    stats = {} if stats is None else stats
    opts = {"k": k, "shape_factor": shape_factor, "max_width": max_width, "flank": flank,
            "degree": degree, "window": sigma_window, "trim": sigma_trim}
    if until == "own":
        _peers(hp, stats, max_peers, periods, estimate)
        return {"stats": stats, "hits": _spikes(hp, stats, "sigma_own", periods, estimate, opts)}
    if prediction is None:
        prediction = _predict(hp, stats, periods, estimate, opts, own_hits, lags=lags,
                              block=block, max_peers=max_peers, tolerance=tolerance, core=core)
    resid = hp - prediction
    if until == "residual":  # the core's periods lie within the fitted span
        _residual_sigmas(resid, stats, periods, estimate, opts,
                         span=_fitted_span(core, n_t, opts, tolerance))
        return {"stats": stats, "prediction": prediction}
    sigma_p, local, sigma_t = _residual_scale(resid, stats, periods, estimate, opts)
    z_own = _OwnStatistic(hp, _spike_sigma(hp, stats, "sigma_own", periods, estimate, opts),
                          periods, opts)
    decided = _decide(resid, z_own, local, sigma_t, stats, periods, estimate, opts,
                      review=review, peer_shape=peer_shape, amplitude_ratio=amplitude_ratio,
                      incoherence=incoherence, tolerance=tolerance)
    return _outcome(decided, hp, prediction, resid, sigma_p, sigma_t, local, z_own,
                    amplitude_ratio, core, stats)


def _residual_scale(resid, stats, periods, estimate, opts):
    """Return the residual's per-period sigma (known or estimated), block MAD, per sample."""
    sigma_p, local = _period_sigma(resid, opts["window"], opts["trim"], periods)
    sigma_p = _resolve(stats, "sigma", lambda: sigma_p, periods, estimate)
    return sigma_p, local, _per_sample(sigma_p, periods, resid.shape[-1])


def _decide(resid, z_own, local, sigma_t, stats, periods, estimate, opts, *, review,
            peer_shape, incoherence, **rule):
    """Find the residual's spikes (and reviewed candidates) and classify them.

    Returns (candidate, interference, replace, flagged) as :func:`_flag_reviewed` makes
    them; ``rule`` holds :func:`_classify`'s amplitude_ratio and tolerance.
    """
    rough = [] if review else None
    hit_res = _spikes(resid, stats, "sigma_res", periods, estimate, opts, rough=rough)
    incoherent = _incoherent(local, sigma_t, incoherence, 2 * opts["flank"] + opts["max_width"])
    spikes = _classify(z_own, partial(_shaped, z_own, peer_shape), hit_res, incoherent, **rule)
    reviewed = _reviewed(resid, rough, hit_res.shape, opts, covered=spikes[2] | spikes[3])
    if reviewed is None:
        return spikes
    return _flag_reviewed(spikes, _classify(z_own, partial(_sharp, z_own.x, peer_shape, opts),
                                            reviewed, incoherent, **rule))


def _predict(hp, stats, periods, estimate, opts, own_hits, *, lags, block, max_peers,
             tolerance, core):
    """Return the peers' prediction of ``hp``, fitted without the own spike hits.

    The hits are found here unless an earlier pass found them; with ``core`` only the
    blocks the core's decisions depend on are fitted.
    """
    if own_hits is None:
        own_hits = _spikes(hp, stats, "sigma_own", periods, estimate, opts)
    return peer_prediction(
        hp, lags=lags, block=block, exclude=_spread(own_hits, hp.shape[-1]), periods=periods,
        peers=_peers(hp, stats, max_peers, periods, estimate),
        fit_range=_fitted_span(core, hp.shape[-1], opts, tolerance))


def _fitted_span(core, n_t, opts, tolerance):
    """Return the samples whose prediction the core's decisions need (all without a core)."""
    if core is None:
        return 0, n_t
    margin = _dependency_margin(opts["window"], opts["flank"], opts["max_width"], tolerance)
    return max(core[0] - margin, 0), min(core[1] + margin, n_t)


def _residual_sigmas(resid, stats, periods, estimate, opts, *, span):
    """Estimate (or look up) the residual's per-period sigmas: its spike statistic's, its own.

    Only samples ``span`` (lo, hi) are used: periods partly outside it get partial sigmas.
    """
    resid, periods = resid[..., span[0]:span[1]], periods.within(*span)
    _spike_sigma(resid, stats, "sigma_res", periods, estimate, opts)
    _resolve(stats, "sigma", lambda: _period_sigma(resid, opts["window"], opts["trim"], periods,
                                                   local=False)[0], periods, estimate)


def _outcome(decided, hp, pred, resid, sigma_p, sigma_t, local, z_own, ratio, core, stats):
    """Return the dictionary of :func:`peer_events` from the classification."""
    candidate, interference, replace, flagged = decided
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a station missing in every period
        sigma = np.nanmedian(sigma_p, axis=-1)
    return {"events": _event_table(candidate, interference, flagged, resid, sigma_t,
                                   z_own, ratio, np.isfinite(hp), core),
            "replace": replace, "flagged": flagged, "prediction": pred, "sigma": sigma,
            "local_sigma": local, "sigma_sample": sigma_t, "stats": stats}


def _reviewed(resid, rough, shape, opts, *, covered):
    """Return the rough candidates beyond ``k`` sigmas of their learnt interpolation.

    ``rough``: index arrays from :func:`_scan_spikes` (None: no review). The interpolator
    (:func:`~magnetar.processing._interpolation.interpolation_z`) uses ``2 flank`` samples a
    side and is fitted over the ``window`` rows around each candidate. Returns
    ``(width, component, station, time)`` booleans (None where none passes);
    :func:`_flag_reviewed` says what becomes of them. Candidates touching a sample the
    spikes already replace or flag (``covered``, component x station x time) are not
    reviewed: the review is for what the shape test left unfound.
    """
    if not rough:
        return None
    index = tuple(np.concatenate([part[i] for part in rough]) for i in range(4))
    w, c, s, t = index
    offsets = np.arange(opts["max_width"])
    inside = offsets[None, :] <= w[:, None]
    at = np.minimum(t[:, None] + offsets[None, :], covered.shape[-1] - 1)
    index = tuple(a[~(covered[c[:, None], s[:, None], at] & inside).any(axis=1)] for a in index)
    if not index[0].size:
        return None
    z = interpolation_z(resid, index, order=2 * opts["flank"], window=opts["window"])
    if not (z > opts["k"]).any():
        return None
    out = np.zeros(shape, dtype=bool)
    out[tuple(a[z > opts["k"]] for a in index)] = True
    return out


def _flag_reviewed(spikes, reviewed):
    """Combine the classifications of the spikes and of the reviewed candidates.

    Each is (candidate, interference, replace, flagged) from :func:`_classify`. A reviewed
    candidate is flagged where it would be replaced or flagged, never replaced: the review
    cannot tell whether a feature's flanks agree on a level (a step departs from its
    interpolation too), so it only asks an observer to look.
    """
    replace = spikes[2]
    flagged = (spikes[3] | reviewed[2] | reviewed[3]) & ~replace
    return spikes[0] | reviewed[0], spikes[1] | reviewed[1], replace, flagged


def _check_positive(*, zero_ok=(), **values):
    """Refuse non-finite or non-positive options (zero allowed for those in ``zero_ok``)."""
    for name, value in values.items():
        if not np.isfinite(value) or value < 0 or (value == 0 and name not in zero_ok):
            kind = "non-negative" if name in zero_ok else "positive"
            msg = f"{name} must be a {kind} finite number, got {value}"
            raise ValidationError(msg)


def _peers(hp, stats, max_peers, periods, estimate):
    """Per-period peers (P, station, K), or None for every peer."""
    n_s = hp.shape[1]
    if max_peers is None or max_peers >= n_s - 1:
        return None
    peers = _resolve(stats, "peers", lambda: choose_peers(
        hp, max_peers=max_peers, periods=periods).transpose(1, 2, 0), periods, estimate)
    return peers.astype(np.int64).transpose(2, 0, 1)


def _shaped(own, factor, index):
    """Whether the entries ``index`` of ``|D|`` exceed ``factor`` times the flank misfit."""
    with np.errstate(invalid="ignore"):
        return own.departure(index) > factor * _misfit_at(
            own.x, index, flank=own.opts["flank"], degree=own.opts["degree"])


def _sharp(x, factor, opts, index):
    """Whether the entries ``index`` of ``x`` depart from their interpolation by ``factor``.

    In local sigmas of :func:`interpolation_z`: the review's counterpart of :func:`_shaped`.
    """
    return interpolation_z(x, index, order=2 * opts["flank"], window=opts["window"]) > factor


def _peer_evidence(z_own, shaped_at, hits, tolerance, need):
    """Return the peers' strongest own statistic near each hit: all, and spike-shaped only.

    ``hits`` are (width, component, station, time) indices; the peers' ``z`` is taken at the
    same width and component within +-tolerance samples. Evaluated at the hits only (they
    are few), not over the whole array; the shape only where a peer's ``z`` reaches the
    hit's ``need`` (below it, its shape cannot change the classification).
    """
    w, c, s, t = hits
    n_s, n_t = z_own.shape[2], z_own.shape[-1]
    dt = np.arange(-int(tolerance), int(tolerance) + 1)
    tt = np.clip(t[:, None, None] + dt[None, None, :], 0, n_t - 1)  # (hit, 1, lag)
    pp = np.arange(n_s)[None, :, None]  # (1, peer, 1)
    idx = (w[:, None, None], c[:, None, None], pp, tt)
    z = np.where(s[:, None, None] == pp, 0.0, z_own[idx])  # the station itself is no peer
    strong = z >= need[:, None, None]
    shaped = np.zeros(z.shape, dtype=bool)
    if strong.any():
        shaped[strong] = shaped_at(tuple(np.broadcast_to(a, z.shape)[strong] for a in idx))
    return z.max(axis=(1, 2)), np.where(shaped, z, 0.0).max(axis=(1, 2))


def _classify(z_own, shaped_at, hit_res, incoherent, *, amplitude_ratio, tolerance):
    """Candidates, interference, replaced and flagged (module docstring, points 2 and 3).

    Interference: the peers' own statistic is too small. Undetermined (flagged): only peers
    whose feature is not spike-shaped (``shaped_at(index)`` False) are strong enough.
    Interference in an ``incoherent`` interval (:func:`_incoherent`) is flagged too.
    """
    n_s, n_t = z_own.shape[2], z_own.shape[-1]
    if n_s < 2:
        nothing = np.zeros(z_own.shape[1:], dtype=bool)
        return _spread(hit_res, n_t), nothing, nothing, nothing
    hits = np.nonzero(hit_res)
    own = z_own[hits]
    peer_z, peer_shaped = _peer_evidence(z_own, shaped_at, hits, tolerance,
                                         own / amplitude_ratio)
    lonely = np.zeros_like(hit_res)
    unsure = np.zeros_like(hit_res)
    lonely[hits] = peer_z * amplitude_ratio < own
    unsure[hits] = (peer_shaped * amplitude_ratio < own) & ~lonely[hits]
    candidate = _spread(hit_res, n_t)
    interference = _spread(lonely, n_t)
    unsure = _spread(unsure, n_t) & ~interference
    return (candidate, interference, interference & ~incoherent,
            (interference & incoherent) | unsure)


def _incoherent(local, sigma_t, incoherence, reach):
    """Where the residual's local sigma exceeds ``incoherence`` sigmas, widened by ``reach``."""
    with np.errstate(invalid="ignore"):
        incoherent = local > incoherence * sigma_t
    return ndimage.maximum_filter1d(incoherent.astype(np.int8), reach, axis=-1).astype(bool)


def _dependency_margin(sigma_window, flank, max_width, tolerance):
    """Return the samples around a decision whose prediction it depends on.

    The block MAD, the flanks and the spread of a spike reach this far.
    """
    return int(sigma_window) + 4 * (int(flank) + int(max_width)) + 2 * int(tolerance) + 16


def _event_table(candidate, interference, flagged, resid, sigma_t, z_own, ratio, valid,
                 core=None):
    c, s, start, stop = detect_runs(candidate)
    if core is not None:
        keep = (start >= core[0]) & (start < core[1])
        c, s, start, stop = c[keep], s[keep], start[keep], stop[keep]
    n = c.size
    n_s = candidate.shape[1]
    peak = np.empty(n, dtype=np.int64)
    peak_value = np.empty(n)
    klass = np.empty(n, dtype=object)
    seen = np.zeros((n, n_s), dtype=bool)
    n_valid = np.zeros(n, dtype=np.int64)
    for i in range(n):  # events are few; each step is O(event length)
        seg = slice(start[i], stop[i])
        j = start[i] + int(np.argmax(np.abs(np.nan_to_num(resid[c[i], s[i], seg]))))
        peak[i], peak_value[i] = j, resid[c[i], s[i], j]
        if flagged[c[i], s[i], seg].any():
            klass[i] = CLASS_UNDETERMINED
        elif interference[c[i], s[i], seg].any():
            klass[i] = CLASS_INTERFERENCE
        else:
            klass[i] = CLASS_NATURAL
        seen[i, s[i]] = True
        n_valid[i] = int(valid[c[i], :, seg].any(axis=-1).sum())
        if klass[i] == CLASS_NATURAL:  # the own statistic's maximum over widths
            w, s_all, t = np.ix_(np.arange(z_own.shape[0]), np.arange(n_s),
                                 np.arange(start[i], stop[i]))
            own = z_own[w, c[i], s_all, t].max(axis=0)
            seen[i] = own.max(axis=-1) * ratio >= own[s[i]].max()
            seen[i, s[i]] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        multiple = np.abs(peak_value) / sigma_t[c, s, peak]
    return EventTable(component=c, station=s, start=start, stop=stop, peak=peak,
                      peak_value=peak_value, multiple=multiple, seen=seen,
                      n_seen=seen.sum(axis=1), n_valid=n_valid, klass=klass,
                      rule=np.full(n, "peer", dtype=object))
