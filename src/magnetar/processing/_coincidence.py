"""Spike detection, the multi-station coincidence rule and replacement from peer stations.

Written here because no library implements it: the rule is specific to networks of
geomagnetic observatories. An exceedance (``|high-passed| > k * sigma``) seen at fewer than
``min_stations`` stations within ``tolerance`` samples is local interference and is replaced;
one seen at ``min_stations`` or more is a natural (ionospheric/magnetospheric) event and is
kept untouched.

All kernels work on arrays shaped ``(component, station, time)``; the xarray-facing cleaning
function lives in :mod:`magnetar.workflows.cleaning`.

Rules
-----
``"published"``
    The coincidence rule as published.
``"sharp"``
    The published rule plus a second look at events it calls natural. Its blind spot is a
    one-station spike during natural activity at the other stations: the peers exceed too, so
    the spike is kept. The sharp part of each series, ``hp - running_median(hp)``, removes
    smooth natural variations; a spike survives it. A sharp exceedance inside a natural event
    that no peer shares (same tolerance, and at a peer amplitude, in sigma units, of at least
    1/``amplitude_ratio`` of its own) is interference on top of natural activity and only
    those samples are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import ValidationError
from ._noise import noise_sigma_array

__all__ = [
    "FLAG_FLAGGED",
    "FLAG_INTERPOLATED",
    "FLAG_KEPT",
    "FLAG_MEANINGS",
    "FLAG_MISSING",
    "FLAG_REPLACED",
    "EventTable",
    "classify_events",
    "detect_runs",
    "peer_gains",
    "replace_interference",
    "sharp_part",
]

FLAG_KEPT = 0
FLAG_REPLACED = 1
FLAG_INTERPOLATED = 2
FLAG_MISSING = 3
FLAG_FLAGGED = 4
FLAG_MEANINGS = "kept replaced_from_peers interpolated missing flagged_not_replaced"

CLASS_NATURAL = "natural"
CLASS_INTERFERENCE = "interference"
CLASS_UNDETERMINED = "undetermined"


def detect_runs(mask):
    """Return runs of consecutive True along the last axis of a 3-D mask.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        (component, station, time).

    Returns
    -------
    (c, s, start, stop) : tuple of int arrays
        One entry per run; ``stop`` is exclusive.
    """
    mask = np.asarray(mask, dtype=bool)
    n_c, n_s, n_t = mask.shape
    padded = np.zeros((n_c, n_s, n_t + 2), dtype=np.int8)
    padded[..., 1:-1] = mask
    diff = np.diff(padded, axis=-1)
    c0, s0, start = np.nonzero(diff == 1)
    c1, s1, stop = np.nonzero(diff == -1)
    # np.nonzero orders by (c, s, t) for both, so runs pair up one to one
    return c0, s0, start, stop


def _window_counts(mask, c, lo, hi):
    """For each run i and each station p: count of True in mask[c_i, p, lo_i:hi_i]."""
    n_c, n_s, n_t = mask.shape
    csum = np.zeros((n_c, n_s, n_t + 1), dtype=np.int64)
    np.cumsum(mask, axis=-1, out=csum[..., 1:])
    stations = np.arange(n_s)[None, :]
    return csum[c[:, None], stations, hi[:, None]] - csum[c[:, None], stations, lo[:, None]]


@dataclass
class EventTable:
    """Detected events as parallel arrays (one entry per event)."""

    component: np.ndarray
    station: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    peak: np.ndarray
    peak_value: np.ndarray
    multiple: np.ndarray
    seen: np.ndarray  # (n_events, n_stations) bool
    n_seen: np.ndarray
    n_valid: np.ndarray
    klass: np.ndarray  # object array of class names
    rule: np.ndarray  # which rule decided: "coincidence" or "sharp"

    def __len__(self):
        return int(self.component.size)


def classify_events(
    hp,
    sigma,
    *,
    k=3.0,
    min_stations=2,
    tolerance=1,
    across_components=False,
    amplitude_ratio=None,
):
    """Detect exceedances and classify each event by the coincidence rule.

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data, shape (component, station, time); NaN where missing.
    sigma : numpy.ndarray
        Noise sigma, shape (component, station).
    k : float
        Detection threshold in multiples of sigma.
    min_stations : int
        Events seen at this many stations or more are natural.
    tolerance : int
        Samples by which the peers' exceedances may precede or follow the event.
    across_components : bool
        If True, an exceedance of any component at a peer counts as seeing the event.
    amplitude_ratio : float, optional
        If given, a peer sees the event only if its largest ``|hp| / sigma`` in the window
        is at least the event's own multiple divided by this ratio: a natural event has
        comparable amplitudes at nearby stations, a spike on top of activity does not.

    Returns
    -------
    exceed : numpy.ndarray of bool
        Per-sample exceedance mask.
    events : EventTable
    """
    for bad, msg in ((k <= 0, f"k must be positive, got {k}"),
                     (min_stations < 1, f"min_stations must be >= 1, got {min_stations}"),
                     (tolerance < 0, f"tolerance must be >= 0 samples, got {tolerance}")):
        if bad:
            raise ValidationError(msg)
    hp = np.asarray(hp, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    n_c, n_s, n_t = hp.shape
    with np.errstate(invalid="ignore"):
        exceed = np.abs(hp) > k * sigma[..., None]
    exceed &= np.isfinite(sigma)[..., None]
    c, s, start, stop = detect_runs(exceed)
    lo = np.clip(start - tolerance, 0, n_t)
    hi = np.clip(stop + tolerance, 0, n_t)
    witness = exceed
    if across_components:
        witness = np.broadcast_to(exceed.any(axis=0, keepdims=True), exceed.shape)
    seen = _window_counts(witness, c, lo, hi) > 0
    if amplitude_ratio is not None and c.size:
        multiples = np.abs(np.nan_to_num(hp)) / np.where(np.isfinite(sigma), sigma, np.inf)[
            ..., None
        ]
        own = np.array([multiples[c[i], s[i], start[i]:stop[i]].max() for i in range(c.size)])
        peer_max = np.array([multiples[c[i], :, lo[i]:hi[i]].max(axis=-1) for i in range(c.size)])
        seen &= peer_max >= (own / amplitude_ratio)[:, None]
    seen[np.arange(c.size), s] = True
    valid = _window_counts(np.isfinite(hp), c, lo, hi) > 0
    n_seen = seen.sum(axis=1)
    n_valid = valid.sum(axis=1)
    klass = np.where(
        n_seen >= min_stations,
        CLASS_NATURAL,
        np.where(n_valid >= min_stations, CLASS_INTERFERENCE, CLASS_UNDETERMINED),
    ).astype(object)

    peak, peak_value = _peaks(hp, c, s, start, stop)
    multiple = np.abs(peak_value) / sigma[c, s]
    events = EventTable(component=c, station=s, start=start, stop=stop, peak=peak,
                        peak_value=peak_value, multiple=multiple, seen=seen, n_seen=n_seen,
                        n_valid=n_valid, klass=klass,
                        rule=np.full(c.size, "coincidence", dtype=object))
    return exceed, events


def _peaks(hp, c, s, start, stop):
    """Sample and value of each event's largest |hp|."""
    peak = np.empty(c.size, dtype=np.int64)
    peak_value = np.empty(c.size)
    absval = np.abs(np.nan_to_num(hp))
    for i in range(c.size):  # events are few; the loop body is O(event length)
        seg = absval[c[i], s[i], start[i] : stop[i]]
        j = start[i] + int(np.argmax(seg))
        peak[i] = j
        peak_value[i] = hp[c[i], s[i], j]
    return peak, peak_value


def sharp_part(hp, *, window=11):
    """``hp - running_median(hp)`` along time: what a spike leaves, smooth variation removed.

    Parameters
    ----------
    hp : numpy.ndarray
        Series along the last axis.
    window : int
        Running-median length (odd).

    Returns
    -------
    numpy.ndarray
        The sharp part, shape of ``hp``.
    """
    if window < 3 or window % 2 == 0:
        msg = f"sharp_window must be an odd number >= 3, got {window}"
        raise ValidationError(msg)
    finite = np.isfinite(hp)
    filled = np.where(finite, hp, 0.0)
    med = ndimage.median_filter(filled, size=(1, 1, window), mode="nearest")
    out = hp - med
    out[~finite] = np.nan
    return out


def sharp_interference(
    hp,
    events,
    *,
    k,
    min_stations,
    tolerance,
    window=11,
    sigma_sharp=None,
    sigma_window=200,
    sigma_trim=0.3,
    amplitude_ratio=4.0,
):
    """Second look at natural events (the ``"sharp"`` rule; see module docstring).

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time).
    events : EventTable
        Events of :func:`classify_events`.
    k, min_stations, tolerance :
        As :func:`classify_events`.
    window : int
        Running-median length of :func:`sharp_part`.
    sigma_sharp : numpy.ndarray, optional
        Sigma of the sharp part to use instead of estimating it.
    sigma_window, sigma_trim : int, float
        Its estimate (:func:`magnetar.processing.noise_sigma_array`).
    amplitude_ratio : float
        A peer shares the spike when its amplitude is at least the station's / this.

    Returns
    -------
    mask : numpy.ndarray of bool
        Samples of sharp, unshared exceedances inside natural events.
    sigma_sharp : numpy.ndarray
        Noise sigma of the sharp part, shape (component, station).
    """
    d = sharp_part(hp, window=window)
    if sigma_sharp is None:
        sigma_sharp = noise_sigma_array(d, window=sigma_window, trim=sigma_trim)
    exceed_d, sharp_events = classify_events(
        d, sigma_sharp, k=k, min_stations=min_stations, tolerance=tolerance,
        amplitude_ratio=amplitude_ratio,
    )
    mask = np.zeros(hp.shape, dtype=bool)
    natural = events.klass == CLASS_NATURAL
    inside = np.zeros(hp.shape, dtype=bool)
    for i in np.flatnonzero(natural):
        inside[events.component[i], events.station[i], events.start[i] : events.stop[i]] = True
    lonely = sharp_events.klass == CLASS_INTERFERENCE
    for i in np.flatnonzero(lonely):
        c, s, a, b = (
            sharp_events.component[i],
            sharp_events.station[i],
            sharp_events.start[i],
            sharp_events.stop[i],
        )
        if inside[c, s, a:b].any():
            mask[c, s, a:b] = True
    return mask, np.asarray(sigma_sharp)


def apply_sharp_rule(events, sharp_mask):
    """Reclassify natural events that contain sharp unshared exceedances (in place).

    Parameters
    ----------
    events : EventTable
        Events of :func:`classify_events`; their ``klass`` and ``rule`` are updated.
    sharp_mask : numpy.ndarray of bool
        Sharp samples of :func:`sharp_interference`.

    Returns
    -------
    None
    """
    for i in np.flatnonzero(events.klass == CLASS_NATURAL):
        c, s, a, b = events.component[i], events.station[i], events.start[i], events.stop[i]
        if sharp_mask[c, s, a:b].any():
            events.klass[i] = CLASS_INTERFERENCE
            events.rule[i] = "sharp"


def interference_mask(shape, events, *, pad=1, sharp_mask=None):
    """Return samples to replace: interference events (and sharp samples), widened by ``pad``.

    Parameters
    ----------
    shape : tuple of int
        (component, station, time).
    events : EventTable
        Classified events.
    pad : int
        Samples added on each side.
    sharp_mask : numpy.ndarray of bool, optional
        Sharp samples (the ``"sharp"`` rule).

    Returns
    -------
    numpy.ndarray of bool
        Samples to replace.
    """
    mask = np.zeros(shape, dtype=bool)
    n_t = shape[-1]
    for i in np.flatnonzero(events.klass == CLASS_INTERFERENCE):
        if events.rule[i] == "sharp":
            continue
        c, s = events.component[i], events.station[i]
        a = max(events.start[i] - pad, 0)
        b = min(events.stop[i] + pad, n_t)
        mask[c, s, a:b] = True
    if sharp_mask is not None and sharp_mask.any():
        widened = sharp_mask
        if pad > 0:
            widened = ndimage.binary_dilation(
                sharp_mask, structure=np.ones((1, 1, 2 * pad + 1), dtype=bool)
            )
        mask |= widened
    return mask


def peer_gains(hp, replace_mask):
    """Least-squares gain ``g[c, s, p]`` with ``hp[c, s] ~ g * hp[c, p]`` on clean samples.

    Natural variations differ in amplitude between stations; scaling a peer's variation by
    this gain before using it as a replacement removes most of that difference. The diagonal
    is 1. Pairs with no common clean sample get gain 1.

    Parameters
    ----------
    hp : numpy.ndarray
        High-passed data (component, station, time).
    replace_mask : numpy.ndarray of bool
        Samples left out of the fit.

    Returns
    -------
    numpy.ndarray
        Gains (component, station, peer).
    """
    ok = np.isfinite(hp) & ~replace_mask
    z = np.where(ok, hp, 0.0)
    n_c, n_s, _ = hp.shape
    gains = np.ones((n_c, n_s, n_s))
    for c in range(n_c):
        for p in range(n_s):
            both = ok[c] & ok[c, p][None, :]
            num = np.sum(np.where(both, z[c] * z[c, p][None, :], 0.0), axis=-1)
            den = np.sum(np.where(both, z[c, p][None, :] ** 2, 0.0), axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                g = num / den
            gains[c, :, p] = np.where(np.isfinite(g) & (den > 0), g, 1.0)
    idx = np.arange(n_s)
    gains[:, idx, idx] = 1.0
    return gains


def interpolate_masked(x, mask):
    """Linear interpolation of ``x`` across masked samples along the last axis (per series).

    Parameters
    ----------
    x : numpy.ndarray
        Series along the last axis.
    mask : numpy.ndarray of bool
        Samples to interpolate over.

    Returns
    -------
    numpy.ndarray
        A copy of ``x`` with the masked samples interpolated (edges held).
    """
    out = np.array(x, dtype=np.float64, copy=True)
    n_t = x.shape[-1]
    pos = np.arange(n_t)
    flat_out = out.reshape(-1, n_t)
    flat_mask = mask.reshape(-1, n_t)
    for i in np.flatnonzero(flat_mask.any(axis=1)):
        good = ~flat_mask[i] & np.isfinite(flat_out[i])
        if not good.any():
            continue
        flat_out[i, flat_mask[i]] = np.interp(pos[flat_mask[i]], pos[good], flat_out[i, good])
    return out


def replace_interference(x, hp, slow, replace_mask, gains):
    """Return replacement values and flags for the masked samples.

    Parameters
    ----------
    x : numpy.ndarray
        Original data (component, station, time).
    hp : numpy.ndarray
        High-passed data of the same shape.
    slow : numpy.ndarray
        Each station's own slow part, estimated with the interference removed.
    replace_mask : numpy.ndarray of bool
        Samples to replace.
    gains : numpy.ndarray
        Peer gains from :func:`peer_gains`.

    Returns
    -------
    cleaned, flags : numpy.ndarray
        ``cleaned`` equals ``x`` except at replaced samples: own slow part plus the median of
        the gain-scaled high-passed variation of the peers that are clean at that time;
        linear interpolation where no peer is clean. ``flags`` holds the FLAG_* codes.
    """
    cleaned = np.array(x, dtype=np.float64, copy=True)
    flags = np.full(x.shape, FLAG_KEPT, dtype=np.int8)
    flags[~np.isfinite(x)] = FLAG_MISSING
    c, s, t = np.nonzero(replace_mask)
    if c.size == 0:
        return cleaned, flags
    peer_hp = hp[c, :, t]  # (m, n_stations)
    peer_ok = np.isfinite(peer_hp) & ~replace_mask[c, :, t]
    peer_ok[np.arange(c.size), s] = False
    scaled = np.where(peer_ok, gains[c, s, :] * peer_hp, np.nan)
    has_peer = peer_ok.any(axis=1)
    estimate = np.full(c.size, np.nan)
    if has_peer.any():
        estimate[has_peer] = np.nanmedian(scaled[has_peer], axis=1)
    base = slow[c, s, t]
    use_peer = has_peer & np.isfinite(base)
    cleaned[c[use_peer], s[use_peer], t[use_peer]] = base[use_peer] + estimate[use_peer]
    flags[c[use_peer], s[use_peer], t[use_peer]] = FLAG_REPLACED
    rest = ~use_peer
    if rest.any():
        lone = np.zeros(x.shape, dtype=bool)
        lone[c[rest], s[rest], t[rest]] = True
        interp = interpolate_masked(x, replace_mask)
        cleaned[lone] = interp[lone]
        flags[lone] = FLAG_INTERPOLATED
    return cleaned, flags


def replace_from_prediction(x, slow, prediction, replace_mask):
    """Replace masked samples by the station's slow part plus its peers' prediction.

    Parameters
    ----------
    x : numpy.ndarray
        Original data (component, station, time).
    slow : numpy.ndarray
        Each station's own slow part, estimated with the replaced samples interpolated.
    prediction : numpy.ndarray
        The peers' prediction of each station's high-passed series (same shape), so a natural
        signal seen by the peers is carried through the replaced samples.
    replace_mask : numpy.ndarray of bool
        Samples to replace.

    Returns
    -------
    cleaned, flags : numpy.ndarray
        As :func:`replace_interference`; linear interpolation where the prediction or the
        slow part is missing.
    """
    cleaned = np.array(x, dtype=np.float64, copy=True)
    flags = np.full(x.shape, FLAG_KEPT, dtype=np.int8)
    flags[~np.isfinite(x)] = FLAG_MISSING
    value = slow + prediction
    good = replace_mask & np.isfinite(value)
    cleaned[good] = value[good]
    flags[good] = FLAG_REPLACED
    rest = replace_mask & ~good
    if rest.any():
        interp = interpolate_masked(x, replace_mask)
        cleaned[rest] = interp[rest]
        flags[rest] = FLAG_INTERPOLATED
    return cleaned, flags
