"""Streaming with the peer rule: chunks of any size, decisions final once emitted.

The batch peer rule (:func:`~magnetar.processing._peer.peer_events`) estimates its noise
sigmas and peers over a period and fits each prediction block with the block's own data;
neither is known while the block is still arriving. The streaming rule is therefore causal
in two places, and otherwise the batch rule's code:

- the statistics (the station's and the residual's robust sigmas, the peers) are learned
  from a reference period (:meth:`StreamingPeerCleaner.from_reference`) and held;
- the prediction is refitted every sixth of ``fit_block_s`` on the last ``fit_block_s``
  of data that ends with the interval it predicts (as the batch blocks fit what they
  predict), once that and the spike rule's margin after it have arrived; until half a
  block has arrived, the reference's last fit is used. The residual sigmas are measured
  out of sample on the reference, as the stream makes its residual;
- the high-pass is causal and passes spikes without the tail a causal filter leaves
  (:class:`_DespikedHighpass`). The figures are in docs/cleaning.md.

A sample is emitted once nothing that arrives later can change its decision: ``latency``
samples after the last station delivered it (the residual's block MAD, the spike
statistic's flanks and a despiking step with its look-ahead), a little longer before a
refit or while an event is still running. What is emitted does not depend on how the stream was cut into
chunks, and a saved state resumes exactly (tested). Written here because no library streams
this rule; the kernels are the batch rule's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ...errors import ValidationError
from ...processing._coincidence import (
    FLAG_FLAGGED,
    FLAG_KEPT,
    interpolate_masked,
    replace_from_prediction,
)
from ...processing._filters import CausalHighpass, highpass_array
from ...processing._peer import (
    Periods,
    _dependency_margin,
    _fit_block,
    _spike_options,
    _spikes,
    _spread,
    peer_events,
    peer_prediction,
)
from .config import CleaningConfig
from .method import _add_local_sigma, _events_frame, _step_validate, peer_options
from .streaming import _ChunkStream

__all__ = ["StreamingPeerCleaner"]

_STAT_NAMES = ("sigma_own", "sigma_res", "sigma", "peers")


def _check_rule(config):
    if config.rule != "peer":
        msg = (f"StreamingPeerCleaner runs rule='peer', got {config.rule!r}; stream the "
               "published rules with StreamingCleaner")
        raise ValidationError(msg)


def _margin(options):
    """Return the samples around a decision whose data it depends on (MAD, flanks, lags)."""
    return (_dependency_margin(options["sigma_window"], options["flank"], options["max_width"],
                               options["tolerance"]) + options["lags"] + 8)


def _fit_window(k, update, block):
    """Return the samples fit ``k`` is made on: ``block`` up to the end of interval ``k``.

    Early in a stream, the data since its start once they reach half a block.
    """
    end = (k + 1) * update
    return max(end - block, 0), end


def _first_fit(update, block):
    """Return the first interval with a fit of its own (before it: the reference's)."""
    return -(-(block // 2) // update) - 1


def _prediction_from(hp, fits, *, first, last, update, base, options, peers, hit_own):
    """Predict each interval ``k`` of ``update`` samples with its fit ``fits(k)``.

    ``first <= k < last``; ``hp`` starts at absolute sample ``base``. Returns the
    prediction and where it ends.
    """
    n_c, n_s, n_t = hp.shape
    cache = {(0, k * update, s, c): fits(k)[s, c]
             for k in range(first, last) for s in range(n_s) for c in range(n_c)}
    lo = max(first * update - base, 0)
    end = min(max(last * update - base, lo), n_t)
    prediction = peer_prediction(
        hp, lags=options["lags"], block=update, exclude=_spread(hit_own, n_t),
        peers=None if peers is None else np.asarray(peers).astype(np.int64)[None],
        periods=Periods(np.array([-base]), np.array([0])), fit_range=(lo, end),
        coefficients=cache)
    return prediction, end


def _out_of_sample_stats(hp, stats, options, update):
    """Return the held statistics, the residual's from trailing fits as a stream makes them."""
    block, n_t = options["block"], hp.shape[-1]
    first, last = _first_fit(update, block), n_t // update
    fits = {k: _fit_block(hp, *_fit_window(k, update, block), stats=stats, **options)
            for k in range(first, last)}
    hit_own = _spikes(hp, stats, "sigma_own", Periods.single(), set(), _spike_options(options))
    peers = stats.get("peers", {}).get(0)
    prediction, _ = _prediction_from(hp, fits.get, first=first, last=last, update=update,
                                     base=0, options=options, peers=peers, hit_own=hit_own)
    lo = first * update
    out = {name: dict(stats[name]) for name in ("sigma_own", "peers") if name in stats}
    peer_events(hp[..., lo:], **options, stats=out, prediction=prediction[..., lo:],
                until="residual")
    return {name: table[0] for name, table in out.items()}


class _DespikedHighpass:
    """Causal high-pass that does not ring after a spike (stateful; steps of ``STEP``).

    A causal filter answers a spike with a tail of the opposite sign that lasts its time
    constant: after a 20 nT, 3-sample spike in 1-second data (600 s cut-off) the
    high-passed series sits 1.6 nT (16 sigma of quiet data) off for minutes, which the peer
    rule rightly reads as an interval its peers do not predict; in 1-minute data (30-sample
    cut-off) the tail is as large as the spike and hides it. So each step's own spike
    candidates are interpolated over before the filter advances, and added back after: the
    spike passes, its tail does not. The candidates are found by the spike statistic (with
    the held sigma) on the raw series, whose flank fits remove the level and slope that
    the high-pass would (``reach`` samples of look-ahead). Steps lie on a
    fixed grid from the stream's start, so the output does not depend on chunking.
    """

    STEP = 60

    def __init__(self, sos, shape, sigma_own, opts):
        self.filter = CausalHighpass(sos, n_series=shape[0] * shape[1])
        self.shape = tuple(shape)
        self.stats = {"sigma_own": {0: np.asarray(sigma_own)}}
        self.opts = opts
        self.reach = 2 * (opts["flank"] + opts["max_width"]) + 4
        self.last = np.full(self.shape, np.nan)  # last despiked value of each series
        self.context = np.empty(self.shape + (0,))  # the last raw samples before a step

    def __call__(self, x, n_out):
        """High-pass the first ``n_out`` samples of ``x`` (the rest is look-ahead)."""
        seq = np.concatenate((self.context, x), axis=-1)
        hit = _spikes(seq, self.stats, "sigma_own", Periods.single(), set(), self.opts)
        mask = _spread(hit, seq.shape[-1])[..., self.context.shape[-1]:] & np.isfinite(x)
        anchored = np.concatenate((self.last[..., None], x), axis=-1)
        despiked = interpolate_masked(anchored, np.concatenate(
            (np.zeros(self.shape + (1,), dtype=bool), mask), axis=-1))[..., 1:]
        out = (self.filter(despiked[..., :n_out].reshape(-1, n_out)).reshape(self.shape + (n_out,))
               + (x - despiked)[..., :n_out])
        fresh = np.isfinite(despiked[..., n_out - 1]) if n_out else np.zeros(self.shape, bool)
        self.last[fresh] = despiked[..., n_out - 1][fresh]
        self.context = np.concatenate((self.context, x[..., :n_out]), axis=-1)[..., -self.reach:]
        return out

    def run(self, x):
        """High-pass a whole record step by step, as a stream would."""
        n_t = x.shape[-1]
        parts = [self(x[..., a:min(a + self.STEP + self.reach, n_t)], min(self.STEP, n_t - a))
                 for a in range(0, n_t, self.STEP)]
        return np.concatenate(parts, axis=-1)

    def state(self):
        """Return the state as arrays (for saving)."""
        return {**{f"despike_{k}": v for k, v in self.filter.state_dict().items()},
                "despike_anchor": self.last, "despike_context": self.context}

    def restore(self, arrays):
        """Restore what :meth:`state` returned."""
        self.filter.load_state_dict({k: arrays[f"despike_{k}"]
                                     for k in ("zi", "last", "started")})
        self.last, self.context = arrays["despike_anchor"], arrays["despike_context"]


class StreamingPeerCleaner(_ChunkStream):
    """Clean chunks of several stations with the peer rule as they arrive (module docstring).

    Parameters
    ----------
    config : CleaningConfig
        ``rule`` must be "peer"; ``zero_phase`` is ignored (streaming is causal).
    stations, components : sequence of str
    sampling_period : float
        Seconds.
    start : numpy.datetime64
        Time of the first sample of every station.
    stats : dict
        The held statistics by name: ``sigma_own`` and ``sigma_res`` (width, component,
        station), ``sigma`` (component, station), ``peers`` (station, peer; only with
        ``max_peers`` smaller than the network).
    coefficients : numpy.ndarray
        (station, component, n) prediction coefficients for the first block.
    """

    UPDATES = 6  # refits per fit block

    def __init__(self, config, *, stations, components, sampling_period, start, stats,
                 coefficients):
        _check_rule(config)
        self._setup(config, stations=stations, components=components,
                    sampling_period=sampling_period, start=start)
        self.options = peer_options(self.config, self.period)
        self.stats = {name: np.asarray(stats[name]) for name in _STAT_NAMES if name in stats}
        missing = [n for n in ("sigma_own", "sigma_res", "sigma") if n not in self.stats]
        if missing:
            msg = f"stats lacks {missing} (use StreamingPeerCleaner.from_reference)"
            raise ValidationError(msg)
        self.sigma = np.asarray(self.stats["sigma"], dtype=np.float64)
        self.update = max(self.options["block"] // self.UPDATES, 1)
        self._fits = {-1: np.asarray(coefficients, dtype=np.float64)}  # the reference's
        self._first = _first_fit(self.update, self.options["block"])
        self._fitted = self._first - 1  # last fit made
        self._despike = _DespikedHighpass(self.sos, (len(self.components), len(self.stations)),
                                          self.stats["sigma_own"], _spike_options(self.options))
        self._filtered = 0  # absolute index of the next sample to high-pass
        self.margin = _margin(self.options)
        self.latency = (self.margin + 2 * self.config.pad + _DespikedHighpass.STEP
                        + self._despike.reach)
        self._lookback = 2 * self.margin + 2 * self.config.pad

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_reference(cls, reference, config=None, *, start=None):
        """Learn the statistics and the first coefficients from aligned reference data.

        The reference is treated as the stream will be: high-passed causally without
        spike tails, predicted from trailing fits, so that the held residual sigmas are
        those of an out-of-sample prediction (an in-sample fit would understate them by
        about 20 %, and the stream would then call ordinary intervals incoherent).

        Parameters
        ----------
        reference : xarray.Dataset
            Aligned stations (station, time), at least two fit blocks and two margins long.
        config : CleaningConfig, optional
            The peer rule's options (default ``CleaningConfig()``).
        start : numpy.datetime64, optional
            First sample of the stream (default: the sample after the reference).

        Returns
        -------
        StreamingPeerCleaner
        """
        config = dataclasses.replace(config or CleaningConfig(), zero_phase=False,
                                     period_s=None)
        _check_rule(config)
        ctx = {"data": reference}
        ctx.update(_step_validate(ctx, config=config))
        period, options = ctx["period"], peer_options(config, ctx["period"])
        x = np.stack([reference[c].transpose("station", "time").values.astype(np.float64)
                      for c in ctx["comps"]])
        margin, block = _margin(options), options["block"]
        if x.shape[-1] < 2 * (block + margin):
            msg = (f"the reference has {x.shape[-1]} samples; the streaming peer rule needs "
                   f"two fit blocks and two margins ({2 * (block + margin)}) to learn from")
            raise ValidationError(msg)
        plain = highpass_array(x, sos=ctx["sos"], zero_phase=False, max_gap=config.max_gap,
                               padlen=ctx["padlen"])
        stats = {}
        peer_events(plain, **options, stats=stats, until="own")
        hp = _DespikedHighpass(ctx["sos"], x.shape[:2], stats["sigma_own"][0],
                               _spike_options(options)).run(x)
        stats = {}
        peer_events(hp, **options, stats=stats, until="own")
        held = _out_of_sample_stats(hp, stats, options, max(block // cls.UPDATES, 1))
        end = x.shape[-1] - margin
        coefficients = _fit_block(hp, end - block, end, stats=stats, **options)
        if start is None:
            start = reference["time"].values[-1] + np.timedelta64(int(round(period * 1e9)),
                                                                  "ns")
        return cls(config, stations=[str(s) for s in reference["station"].values],
                   components=ctx["comps"], sampling_period=period,
                   start=start, stats=held, coefficients=coefficients)

    # -- streaming -----------------------------------------------------------------------
    def _highpass_new(self, s, values):
        """Nothing yet: the despiked high-pass runs in steps once look-ahead has arrived."""
        return np.full(values.shape, np.nan)

    def _advance_highpass(self, ready, final):
        """High-pass every step whose look-ahead has arrived (the rest at the end)."""
        step, reach = _DespikedHighpass.STEP, self._despike.reach
        while self._filtered < ready:
            end = min((self._filtered // step + 1) * step, ready)
            if not final and end + reach > ready:
                return
            a, look = self._filtered - self._base, min(end + reach, ready) - self._base
            self._hp[..., a:end - self._base] = self._despike(self._x[..., a:look],
                                                              end - self._filtered)
            self._filtered = end

    def _table(self):
        """Return the held statistics as peer_events keeps them (period label 0)."""
        return {name: {0: value} for name, value in self.stats.items()}

    def _fit_ready_blocks(self, ready, final):
        """Fit every window that has arrived with its margin (all of them at the end).

        Fit ``k`` is made on the ``block`` samples that end with the ``update`` samples it
        predicts, ``k * update .. (k + 1) * update`` (the batch rule's blocks also fit the
        samples they predict); until a block has arrived, the reference's fit is used.
        """
        block, update = self.options["block"], self.update
        while True:
            k = self._fitted + 1
            start, end = _fit_window(k, update, block)
            if end > ready or (not final and end + self.margin > ready):
                return
            lo = max(start - self.margin - self._base, 0)
            hi = min(end + self.margin, ready) - self._base
            self._fits[k] = _fit_block(self._hp[..., lo:hi], start - self._base - lo,
                                       end - self._base - lo, stats=self._table(),
                                       **self.options)
            self._fitted = k

    def _coefficients(self, k):
        return self._fits[k] if k >= self._first else self._fits[-1]

    def _predict(self, hp, hit_own):
        """Predict the buffer, each update interval from its trailing fit."""
        last = min(-(-(self._base + hp.shape[-1]) // self.update), self._fitted + 1)
        return _prediction_from(hp, self._coefficients, first=self._base // self.update,
                                last=last, update=self.update, base=self._base,
                                options=self.options, peers=self.stats.get("peers"),
                                hit_own=hit_own)

    def _emit(self, *, final):
        self._advance_highpass(int(self._received.min()), final)
        ready = self._filtered
        if ready <= self._emitted:
            return None
        self._fit_ready_blocks(ready, final)
        n = ready - self._base
        x, hp = self._x[..., :n], self._hp[..., :n]
        periods = Periods(np.array([-self._base]), np.array([0]))
        hit_own = _spikes(hp, self._table(), "sigma_own", periods, set(),
                          _spike_options(self.options))
        pred, predicted = self._predict(hp, hit_own)
        lo = self._emitted - self._base
        final_end = n if final else min(n, predicted) - self.margin
        if final_end <= lo:
            return None
        found = peer_events(hp, **self.options, periods=periods, stats=self._table(),
                            estimate=set(), core=(lo, final_end), prediction=pred)
        mask = found["replace"]
        if self.config.pad:
            grow = np.ones((1, 1, 2 * self.config.pad + 1), dtype=bool)
            mask = ndimage.binary_dilation(mask, structure=grow) & ~found["flagged"]
        horizon = n if final else self._horizon(found["events"], mask, lo, final_end)
        if horizon <= lo:
            return None
        return self._output(x, pred, mask, found, lo, horizon)

    def _horizon(self, events, mask, lo, final_end):
        """Return the last sample to emit: before any event or replaced run still open."""
        pad = self.config.pad
        horizon = final_end - pad
        changed = True
        while changed:
            changed = False
            open_ = (events.start < horizon) & (events.stop + pad > horizon)
            if len(events) and open_.any():
                horizon = int(events.start[open_].min()) - pad
                changed = True
            while (lo < horizon < mask.shape[-1]
                   and (mask[..., horizon - 1] & mask[..., horizon]).any()):
                horizon -= 1  # a replaced run is interpolated from the sample after it
                changed = True
        return horizon

    def _output(self, x, pred, mask, found, lo, horizon):
        """Replace, assemble and keep the events of samples ``lo..horizon``."""
        n_c, n_s = x.shape[:2]
        upto = min(horizon + 1, x.shape[-1])  # a run ending at the horizon needs the next
        x_interp = interpolate_masked(x[..., :upto], mask[..., :upto])
        seg = x_interp[..., lo:horizon].reshape(n_c * n_s, -1)
        slow = np.full(x[..., :horizon].shape, np.nan)
        slow[..., lo:horizon] = (seg - self._slow_filter(seg)).reshape(n_c, n_s, -1)
        cleaned, flags = replace_from_prediction(x[..., :horizon], slow, pred[..., :horizon],
                                                 mask[..., :horizon])
        flags[found["flagged"][..., :horizon] & (flags == FLAG_KEPT)] = FLAG_FLAGGED
        times = self._times(x.shape[-1])
        events = found["events"]
        if len(events):
            frame = _events_frame(events, times, self.stations, self.components, self.sigma,
                                  found["sigma_sample"])
            self.events_.append(frame[(events.start >= lo) & (events.start < horizon)])
        out = self._assembled(x, cleaned, flags, times, lo, horizon)
        _add_local_sigma(out, self.components, found["local_sigma"][..., lo:horizon],
                         self.config)
        self._emitted = self._base + horizon
        self._trim()
        return out

    def _trim(self):
        """Drop buffered samples no later decision or fit can need."""
        window_start = _fit_window(self._fitted + 1, self.update, self.options["block"])[0]
        keep_from = min(self._emitted - self._lookback,
                        window_start - self.margin) - self._base
        if keep_from > 0:
            self._x = self._x[..., keep_from:]
            self._hp = self._hp[..., keep_from:]
            self._base += keep_from
        first = self._base // self.update
        self._fits = {k: f for k, f in self._fits.items() if k >= first or k == -1}

    # -- state -----------------------------------------------------------------------------
    def _extra_state(self):
        arrays = {f"stat_{name}": value for name, value in self.stats.items()}
        arrays["fitted"] = np.array(self._fitted)
        arrays["filtered"] = np.array(self._filtered)
        arrays.update(self._despike.state())
        arrays.update({f"fit_{b}": f for b, f in self._fits.items()})
        return arrays

    @classmethod
    def _restore(cls, config, where, arrays):
        stats = {k[5:]: v for k, v in arrays.items() if k.startswith("stat_")}
        fits = {int(k[4:]): v for k, v in arrays.items() if k.startswith("fit_")}
        obj = cls(config, **where, stats=stats, coefficients=fits.pop(-1))
        obj._fits.update(fits)
        obj._fitted = int(arrays["fitted"])
        obj._filtered = int(arrays["filtered"])
        obj._despike.restore(arrays)
        return obj
