"""Streaming cleaning: chunks of any size, the batch run's decisions, state saved and restored.

``StreamingCleaner`` implements the published rules (``"published"``, ``"sharp"``) with the
batch run's decisions; the peer rule streams with
:class:`~.streaming_peer.StreamingPeerCleaner`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..._utils import atomic_path
from ...errors import ValidationError
from ...processing._coincidence import interpolate_masked, replace_interference
from ...processing._filters import CausalHighpass, butter_highpass, sampling_period_of
from .config import CleaningConfig
from .method import _assemble, _decide, _events_frame, clean_observatories

__all__ = ["StreamingCleaner"]


class _ChunkStream:
    """What every streaming cleaner shares: chunks checked and buffered, causal high-pass.

    Subclasses set ``sigma`` and implement ``_emit(final=...)``, ``_extra_state()`` and
    ``_restore(arrays)``.
    """

    def _setup(self, config, *, stations, components, sampling_period, start):
        self.config = dataclasses.replace(config, zero_phase=False)
        self.stations = [str(s) for s in stations]
        self.components = [str(c) for c in components]
        self.period = float(sampling_period)
        self.start = np.datetime64(start, "ns")
        n_c, n_s = len(self.components), len(self.stations)
        self.sos = butter_highpass(cutoff=1.0 / self.config.cutoff_for(self.period),
                                   sampling_period=self.period, order=self.config.order)
        self._hp_filters = []  # per station, where samples are high-passed as they arrive
        self._slow_filter = CausalHighpass(self.sos, n_series=n_c * n_s)
        self._x = np.empty((n_c, n_s, 0))
        self._hp = np.empty((n_c, n_s, 0))
        self._received = np.zeros(n_s, dtype=np.int64)  # absolute count per station
        self._base = 0  # absolute index of buffer[0]
        self._emitted = 0  # absolute index of the next sample to emit
        self.events_ = []

    # -- streaming -----------------------------------------------------------------------
    def push(self, chunk):
        """Add a chunk and return the samples that became final (or None).

        Parameters
        ----------
        chunk : xarray.Dataset
            Dimensions (station, time) for any subset of the stations; each station's chunk
            must start where its previous one ended (send gaps as NaN).
        """
        if not isinstance(chunk, xr.Dataset) or "time" not in chunk.dims:
            msg = "chunk must be an xarray.Dataset with dimensions (station, time)"
            raise ValidationError(msg)
        if "station" not in chunk.dims:
            msg = "chunk needs a 'station' dimension naming which stations it holds"
            raise ValidationError(msg)
        missing = [c for c in self.components if c not in chunk]
        if missing:
            msg = f"chunk lacks component(s) {missing}"
            raise ValidationError(msg)
        step_ns = int(round(self.period * 1e9))
        t0 = chunk["time"].values[0]
        offset = (t0 - self.start).astype("timedelta64[ns]").astype(np.int64)
        if offset % step_ns:
            msg = f"chunk time {t0} is not on the {self.period:g} s grid starting {self.start}"
            raise ValidationError(msg)
        first = offset // step_ns
        for name in chunk["station"].values:
            name = str(name)
            if name not in self.stations:
                msg = f"unknown station {name!r}; expected one of {self.stations}"
                raise ValidationError(msg)
            s = self.stations.index(name)
            if first != self._received[s]:
                expected = self.start + np.timedelta64(int(self._received[s] * step_ns), "ns")
                msg = f"station {name}: chunk starts at {t0}, expected {expected}"
                raise ValidationError(msg)
            values = np.stack([chunk[c].sel(station=name).values.astype(np.float64)
                               for c in self.components])
            self._append(s, values)
        return self._emit(final=False)

    def flush(self):
        """Treat the stream as ended and return every remaining sample."""
        return self._emit(final=True)

    def _append(self, s, values):
        n_new = values.shape[1]
        end = self._received[s] + n_new - self._base
        if end > self._x.shape[-1]:
            grow = end - self._x.shape[-1]
            pad = np.full(self._x.shape[:2] + (grow,), np.nan)
            self._x = np.concatenate((self._x, pad), axis=-1)
            self._hp = np.concatenate((self._hp, pad.copy()), axis=-1)
        a = self._received[s] - self._base
        self._x[:, s, a:a + n_new] = values
        self._hp[:, s, a:a + n_new] = self._highpass_new(s, values)
        self._received[s] += n_new

    def _highpass_new(self, s, values):
        """High-pass a station's new samples as they arrive (causal, state carried)."""
        return self._hp_filters[s](values)

    def _times(self, n):
        """Return the times of the buffer's first ``n`` samples."""
        step = int(round(self.period * 1e9))
        return self.start + (np.arange(self._base, self._base + n) * step).astype(
            "timedelta64[ns]")

    def _assembled(self, x, cleaned, flags, times, lo, horizon):
        """Return the buffer's samples ``lo..horizon`` as the batch run's Dataset."""
        data = xr.Dataset(
            {c: (("station", "time"), x[i, :, lo:horizon], {"units": "nT"})
             for i, c in enumerate(self.components)},
            coords={"station": self.stations, "time": times[lo:horizon]},
            attrs={"sampling_period_s": self.period},
        )
        return _assemble(data, self.components, x[..., lo:horizon], cleaned[..., lo:horizon],
                         flags[..., lo:horizon], self.sigma, self.config)

    @property
    def events(self):
        """Events emitted so far (DataFrame)."""
        if not self.events_:
            return _events_frame([], np.array([], "datetime64[ns]"), self.stations,
                                 self.components, self.sigma)
        return pd.concat(self.events_, ignore_index=True)

    # -- state -----------------------------------------------------------------------------
    def save(self, path):
        """Save the complete state (``.npz``); :meth:`load` resumes exactly where it stopped."""
        arrays = {
            "x": self._x, "hp": self._hp, "received": self._received,
            "base": np.array(self._base), "emitted": np.array(self._emitted),
            **self._extra_state(),
        }
        for s, filt in enumerate(self._hp_filters):
            for key, value in filt.state_dict().items():
                arrays[f"hp{s}_{key}"] = value
        for key, value in self._slow_filter.state_dict().items():
            arrays[f"slow_{key}"] = value
        meta = {
            "config": dataclasses.asdict(self.config),
            "stations": self.stations,
            "components": self.components,
            "period": self.period,
            "start": str(self.start),
        }
        arrays["meta"] = np.array(json.dumps(meta))
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path):
        """Restore a cleaner saved with :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["meta"]))
        cfg = dict(meta["config"])
        if cfg.get("components") is not None:
            cfg["components"] = tuple(cfg["components"])
        obj = cls._restore(CleaningConfig(**cfg), dict(
            stations=meta["stations"], components=meta["components"],
            sampling_period=meta["period"], start=np.datetime64(meta["start"], "ns")), arrays)
        obj._x, obj._hp = arrays["x"], arrays["hp"]
        obj._received = arrays["received"].astype(np.int64)
        obj._base, obj._emitted = int(arrays["base"]), int(arrays["emitted"])
        for s, filt in enumerate(obj._hp_filters):
            filt.load_state_dict({k: arrays[f"hp{s}_{k}"] for k in ("zi", "last", "started")})
        obj._slow_filter.load_state_dict({k: arrays[f"slow_{k}"] for k in ("zi", "last",
                                                                             "started")})
        return obj


class StreamingCleaner(_ChunkStream):
    """Clean chunks of several stations as they arrive, with the batch run's decisions.

    The high-pass is causal with carried state; sigma (and the peer gains) are learned once,
    from a reference period (:meth:`from_reference`) or given. Samples are emitted once every
    decision about them is final, i.e. ``latency`` samples after the last station delivered
    them (longer while an exceedance is still running). The output equals
    ``clean_observatories(data, replace(config, zero_phase=False), sigma=..., gains=...)``.

    Parameters
    ----------
    config : CleaningConfig
        ``zero_phase`` is ignored (streaming is causal).
    stations, components : sequence of str
    sampling_period : float
        Seconds.
    start : numpy.datetime64
        Time of the first sample of every station.
    sigma : array-like
        (component, station) noise sigma.
    gains : array-like, optional
        (component, station, station) peer gains; 1 if omitted.
    sigma_sharp : array-like, optional
        Needed with ``rule="sharp"``.
    """

    def __init__(self, config, *, stations, components, sampling_period, start, sigma,
                 gains=None, sigma_sharp=None):
        if config.rule == "peer":
            msg = ("StreamingCleaner runs rule='published' or 'sharp'; stream the peer rule "
                   "with StreamingPeerCleaner")
            raise ValidationError(msg)
        self._setup(config, stations=stations, components=components,
                    sampling_period=sampling_period, start=start)
        n_c, n_s = len(self.components), len(self.stations)
        self._hp_filters = [CausalHighpass(self.sos, n_series=n_c) for _ in range(n_s)]
        self.sigma = np.asarray(sigma, dtype=np.float64).reshape(n_c, n_s)
        self.gains = (np.ones((n_c, n_s, n_s)) if gains is None
                      else np.asarray(gains, dtype=np.float64))
        if self.config.rule == "sharp" and sigma_sharp is None:
            msg = "rule='sharp' needs sigma_sharp (use StreamingCleaner.from_reference)"
            raise ValidationError(msg)
        self.sigma_sharp = None if sigma_sharp is None else np.asarray(sigma_sharp, float)
        half = self.config.sharp_window // 2 if self.config.rule == "sharp" else 0
        self.latency = self.config.tolerance + self.config.pad + half + 1
        self._lookback = self.config.tolerance + self.config.pad + 2 * half + 2

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_reference(cls, reference, config=None, *, start=None):
        """Learn sigma and gains from a reference period of aligned data (batch, causal).

        The stream is then expected to start at ``start`` (default: the sample after the
        reference ends).
        """
        config = dataclasses.replace(config or CleaningConfig(rule="published"), zero_phase=False)
        if config.rule == "peer":
            msg = ("StreamingCleaner runs rule='published' or 'sharp'; stream the peer rule "
                   "with StreamingPeerCleaner.from_reference")
            raise ValidationError(msg)
        result = clean_observatories(reference, config)
        period = sampling_period_of(reference)
        if start is None:
            start = reference["time"].values[-1] + np.timedelta64(int(round(period * 1e9)), "ns")
        return cls(
            config,
            stations=[str(s) for s in reference["station"].values],
            components=list(result.sigma["component"].values),
            sampling_period=period,
            start=start,
            sigma=result.sigma.values,
            gains=result.gains,
            sigma_sharp=result.sigma_sharp,
        )

    def _emit(self, *, final):
        ready = int(self._received.min()) - self._base
        if ready <= self._emitted - self._base:
            return None
        x = self._x[..., :ready]
        hp = self._hp[..., :ready]
        events, mask, _, _ = _decide(x, hp, self.sigma, self.config, gains=self.gains,
                                     sigma_sharp=self.sigma_sharp)
        horizon = ready if final else ready - self.latency
        if not final and len(events):
            half = self.config.sharp_window // 2 if self.config.rule == "sharp" else 0
            open_runs = events.stop + self.config.tolerance + self.config.pad + half >= ready
            if open_runs.any():
                horizon = min(horizon, int(events.start[open_runs].min()) - self.config.pad
                              - self.config.tolerance - half)
        lo = self._emitted - self._base
        if horizon <= lo:
            return None
        x_interp = interpolate_masked(x, mask)
        n_c, n_s = x.shape[:2]
        seg = x_interp[..., lo:horizon].reshape(n_c * n_s, -1)
        slow = (seg - self._slow_filter(seg)).reshape(n_c, n_s, -1)
        full_slow = np.full(x.shape, np.nan)
        full_slow[..., lo:horizon] = slow
        cleaned, flags = replace_interference(x, hp, full_slow, mask, self.gains)
        times = self._times(ready)
        frame = _events_frame(events, times, self.stations, self.components, self.sigma)
        keep = (events.start >= lo) & (events.start < horizon) if len(events) else []
        if len(events):
            self.events_.append(frame[keep])
        out = self._assembled(x, cleaned, flags, times, lo, horizon)
        self._emitted = self._base + horizon
        self._trim(events)
        return out

    def _trim(self, events):
        """Drop buffered samples no later decision can need."""
        keep_from = self._emitted - self._base - self._lookback
        if len(events):
            covering = (events.start < keep_from) & (events.stop + self.config.tolerance
                                                       + self.config.pad >= keep_from)
            if covering.any():
                keep_from = int(events.start[covering].min()) - self._lookback
        keep_from = max(keep_from, 0)
        if keep_from > 0:
            self._x = self._x[..., keep_from:]
            self._hp = self._hp[..., keep_from:]
            self._base += keep_from

    def _extra_state(self):
        return {"sigma": self.sigma, "gains": self.gains,
                "sigma_sharp": (self.sigma_sharp if self.sigma_sharp is not None
                                else np.array([]))}

    @classmethod
    def _restore(cls, config, where, arrays):
        sharp = arrays["sigma_sharp"]
        return cls(config, **where, sigma=arrays["sigma"], gains=arrays["gains"],
                   sigma_sharp=sharp if sharp.size else None)
