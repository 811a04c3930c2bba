"""Multi-observatory magnetogram cleaning: batch and streaming.

Steps (each also usable alone from :mod:`magnetar.processing`): synchronisation check,
high-pass (4th-order Butterworth, 1/600 Hz or 30 samples), then one of three rules:

* ``"peer"`` (default): each station predicted from its peers, spikes detected on the
  residual by their shape and robust (MAD) sigma, classified by the peers' amplitude, replaced
  by the peers' prediction (:mod:`magnetar.processing._peer`);
* ``"published"``: robust noise sigma, k-sigma detection and the coincidence rule, replacement
  from clean peers, as published;
* ``"sharp"``: the published rule plus a second look at spikes during natural activity.

The original values are kept beside the cleaned ones, so every change can be undone.
Measured behaviour on real data: docs/cleaning.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from ..errors import ValidationError
from ..processing._coincidence import (
    FLAG_FLAGGED,
    FLAG_KEPT,
    FLAG_MEANINGS,
    apply_sharp_rule,
    classify_events,
    interference_mask,
    interpolate_masked,
    peer_gains,
    replace_from_prediction,
    replace_interference,
    sharp_interference,
)
from ..processing._filters import (
    CausalHighpass,
    butter_highpass,
    highpass_array,
    sampling_period_of,
)
from ..processing._noise import noise_sigma_array
from ..processing._peer import peer_events
from ..processing._sync import apply_shifts, sync_check
from ._pipeline import Pipeline

__all__ = [
    "CleaningConfig",
    "CleaningResult",
    "StreamingCleaner",
    "build_cleaning_pipeline",
    "clean_observatories",
    "restore_original",
    "summary_table",
]

LOGGER = logging.getLogger(__name__)
RULES = ("peer", "published", "sharp")
DEFAULT_K = {"peer": 6.0, "published": 3.0, "sharp": 3.0}
MIN_CUTOFF_S = 600.0  # the published 1/600 Hz cut-off
CUTOFF_SAMPLES = 30  # the cut-off period spans at least this many samples


@dataclass(frozen=True)
class CleaningConfig:
    """Options of the cleaning method (all in samples unless stated).

    Attributes
    ----------
    cutoff_period_s : float or None
        High-pass cut-off period in seconds. ``None`` (default) chooses it from the cadence:
        ``max(600 s, 30 samples)`` — 600 s (the published 1/600 Hz) at 1-second data and
        1800 s at 1-minute data, where 600 s would be only 10 samples and a 1-5 sample spike
        would lose much of its amplitude to the filter's transition band (measured: quiet-time
        recall of 6-sigma spikes 0.64 at 600 s, 1.0 at 1800 s; docs/cleaning.md).
    order : int
        Butterworth order.
    zero_phase : bool
        Forward-backward filtering (batch). False gives the causal filter streaming uses.
    max_gap : int
        Gaps up to this length are bridged before zero-phase filtering.
    sigma_window, sigma_trim : int, float
        Noise sigma of the published rules: sliding-std window and the fraction trimmed at
        each end (the peer rule uses ``mad_window`` and ``sigma_trim``).
    k : float or None
        Detection threshold in multiples of sigma. ``None``: 6 for the peer rule (its sigma
        is a MAD of the spike statistic), 3 for the published rules (the study also used 6
        and 60). See :meth:`threshold`.
    min_stations : int
        An event seen at this many stations or more is natural and kept.
    tolerance : int
        Peers' exceedances within +-tolerance samples count as seeing the event.
    across_components : bool
        Count a peer's exceedance in any component (default: the same component).
    pad : int
        Samples replaced on each side of an interference event.
    rule : str
        ``"peer"`` (default; :mod:`magnetar.processing._peer`), ``"published"`` (the
        coincidence rule) or ``"sharp"`` (also catches one-station spikes during natural
        activity; :mod:`magnetar.processing._coincidence`).
    sharp_window : int
        Running-median length of the sharp rule (odd).
    amplitude_ratio : float
        Peer and sharp rules: a peer shares an event only if its amplitude in its own sigma
        units is at least the event's divided by this ratio.
    max_width, flank : int
        Peer rule: longest spike tested and the flank samples fitted on each side.
    shape_factor : float
        Peer rule: a spike's departure must exceed its flanks' misfit by this factor.
    lags : int
        Peer rule: peers' samples at lags -lags..+lags predict a station.
    fit_block_s : float
        Peer rule: the prediction is refitted every this many seconds (at least 60 samples).
    mad_window : int
        Peer rule: block length (samples) of the MAD behind the robust sigma.
    incoherence : float
        Peer rule: where the residual's local sigma exceeds this multiple of its sigma the
        peers do not predict the station; spikes there are flagged, not replaced.
    peer_gain : bool
        Scale peers' variations by their fitted amplitude ratio before replacing.
    sync_component : str or None
        Component used for the synchronisation check (default: the first).
    sync_max_lag : int
        Largest lag tested by the synchronisation check.
    apply_sync : bool
        Shift stations by the lags found before cleaning.
    components : tuple of str or None
        Components to clean; default: all the stations share.
    """

    cutoff_period_s: float | None = None
    order: int = 4
    zero_phase: bool = True
    max_gap: int = 10
    sigma_window: int = 200
    sigma_trim: float = 0.3
    k: float | None = None
    min_stations: int = 2
    tolerance: int = 1
    across_components: bool = False
    pad: int = 1
    rule: str = "peer"
    sharp_window: int = 11
    amplitude_ratio: float = 4.0
    max_width: int = 3
    flank: int = 3
    shape_factor: float = 5.0
    lags: int = 2
    fit_block_s: float = 10800.0
    mad_window: int = 121
    incoherence: float = 3.0
    peer_gain: bool = True
    sync_component: str | None = None
    sync_max_lag: int = 5
    apply_sync: bool = False
    components: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            msg = f"rule must be one of {', '.join(RULES)}; got {self.rule!r}"
            raise ValidationError(msg)
        positive = ("cutoff_period_s", "k", "amplitude_ratio", "shape_factor", "fit_block_s",
                    "incoherence")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                msg = f"{name} must be a positive finite number, got {value}"
                raise ValidationError(msg)
        for name in ("tolerance", "pad", "max_gap", "sync_max_lag", "lags"):
            if getattr(self, name) < 0:
                msg = f"{name} must be >= 0, got {getattr(self, name)}"
                raise ValidationError(msg)
        for name in ("min_stations", "max_width", "flank", "order"):
            if getattr(self, name) < 1:
                msg = f"{name} must be >= 1, got {getattr(self, name)}"
                raise ValidationError(msg)
        if self.sharp_window < 3 or self.sharp_window % 2 == 0:
            msg = f"sharp_window must be odd and >= 3, got {self.sharp_window}"
            raise ValidationError(msg)
        if self.mad_window < 3:
            msg = f"mad_window must be >= 3 samples, got {self.mad_window}"
            raise ValidationError(msg)

    @property
    def threshold(self):
        """The detection threshold in use: ``k``, or the rule's default when ``k`` is None."""
        return float(self.k) if self.k is not None else DEFAULT_K[self.rule]

    def cutoff_for(self, sampling_period):
        """High-pass cut-off period in seconds for data of this sampling period (s)."""
        if self.cutoff_period_s is not None:
            return float(self.cutoff_period_s)
        return max(MIN_CUTOFF_S, CUTOFF_SAMPLES * float(sampling_period))


@dataclass
class CleaningResult:
    """What a cleaning run produces.

    Attributes
    ----------
    cleaned : xarray.Dataset
        (station, time): per component the cleaned values ``C``, the originals
        ``C_original`` and the flags ``C_flag`` (0 kept, 1 replaced from peers,
        2 interpolated, 3 missing, 4 flagged but kept: interference where the peers do not
        predict the station); with the peer rule also ``C_sigma_local``, the residual's
        noise sigma over time.
    events : pandas.DataFrame
        One row per detected event.
    sigma : xarray.DataArray
        Noise sigma (component, station) in nT.
    summary : pandas.DataFrame
        Events per station and events shared by 1..N stations.
    sync : pandas.DataFrame or None
        Synchronisation check per station pair.
    gains : numpy.ndarray
        Peer gains used for replacement (component, station, peer).
    timings : dict
        Seconds per pipeline step.
    """

    cleaned: xr.Dataset
    events: pd.DataFrame
    sigma: xr.DataArray
    summary: pd.DataFrame
    sync: pd.DataFrame | None
    gains: np.ndarray
    sigma_sharp: np.ndarray | None
    config: CleaningConfig
    timings: dict


def _components(data, config):
    names = list(config.components) if config.components else [
        v for v in data.data_vars if data[v].dims == ("station", "time")
        or set(data[v].dims) == {"station", "time"}
    ]
    missing = [c for c in names if c not in data]
    if missing:
        msg = f"component(s) {missing} not in data; available: {list(data.data_vars)}"
        raise ValidationError(msg)
    if not names:
        msg = "no (station, time) variables to clean"
        raise ValidationError(msg)
    return names


def _check_input(data):
    if not isinstance(data, xr.Dataset):
        msg = f"expected an xarray.Dataset of aligned stations, got {type(data).__name__}"
        raise ValidationError(msg)
    if "station" not in data.dims or "time" not in data.dims:
        msg = (
            f"expected dimensions (station, time), got {tuple(data.dims)}; "
            "use magnetar.processing.align_stations"
        )
        raise ValidationError(msg)


def _to_array(data, comps):
    return np.stack([data[c].transpose("station", "time").values.astype(np.float64) for c in comps])


def _slow_part(x, mask, sos, config, padlen):
    """Each series' slow part with the replaced samples interpolated first."""
    x_interp = interpolate_masked(x, mask)
    hp = highpass_array(
        x_interp, sos=sos, zero_phase=config.zero_phase, max_gap=config.max_gap, padlen=padlen
    )
    return x_interp - hp


def _decide(x, hp, sigma, config, *, gains=None, sigma_sharp=None):
    """Detection, classification and the replacement mask (shared by batch and streaming)."""
    exceed, events = classify_events(
        hp,
        sigma,
        k=config.threshold,
        min_stations=config.min_stations,
        tolerance=config.tolerance,
        across_components=config.across_components,
    )
    sharp_mask = None
    if config.rule == "sharp":
        sharp_mask, sigma_sharp = sharp_interference(
            hp,
            events,
            k=config.threshold,
            min_stations=config.min_stations,
            tolerance=config.tolerance,
            window=config.sharp_window,
            sigma_sharp=sigma_sharp,
            sigma_window=config.sigma_window,
            sigma_trim=config.sigma_trim,
            amplitude_ratio=config.amplitude_ratio,
        )
        apply_sharp_rule(events, sharp_mask)
    mask = interference_mask(hp.shape, events, pad=config.pad, sharp_mask=sharp_mask)
    if gains is None:
        gains = peer_gains(hp, mask) if config.peer_gain else np.ones(
            (hp.shape[0], hp.shape[1], hp.shape[1])
        )
    return events, mask, gains, sigma_sharp


def _events_frame(events, times, stations, comps, sigma):
    if len(events) == 0:
        return pd.DataFrame(
            columns=[
                "time", "start", "end", "station", "component", "peak_value_nT",
                "sigma_nT", "sigma_multiple", "class", "rule", "n_stations", "stations_seen",
            ]
        )
    stations = np.asarray(stations, dtype=object)
    seen = [";".join(stations[row]) for row in events.seen]
    return pd.DataFrame(
        {
            "time": times[events.peak],
            "start": times[events.start],
            "end": times[events.stop - 1],
            "station": stations[events.station],
            "component": np.asarray(comps, dtype=object)[events.component],
            "peak_value_nT": events.peak_value,
            "sigma_nT": sigma[events.component, events.station],
            "sigma_multiple": events.multiple,
            "class": events.klass,
            "rule": events.rule,
            "n_stations": events.n_seen,
            "stations_seen": seen,
        }
    )


def summary_table(events, stations):
    """Events per station by class, and how many stations saw them (as in the published table).

    Returns a DataFrame indexed by station with columns events, interference, natural,
    undetermined and shared_by_1 .. shared_by_N.
    """
    rows = []
    n = len(stations)
    for name in stations:
        ev = events[events["station"] == name]
        row = {"station": name, "events": len(ev)}
        for klass in ("interference", "natural", "undetermined"):
            row[klass] = int((ev["class"] == klass).sum())
        for m in range(1, n + 1):
            row[f"shared_by_{m}"] = int((ev["n_stations"] == m).sum())
        rows.append(row)
    table = pd.DataFrame(rows).set_index("station")
    table.loc["total"] = table.sum()
    return table


def _assemble(data, comps, x, cleaned, flags, sigma, config):
    out = xr.Dataset(coords={"station": data["station"].values, "time": data["time"].values})
    for i, comp in enumerate(comps):
        attrs = dict(data[comp].attrs)
        out[comp] = (("station", "time"), cleaned[i], attrs)
        out[f"{comp}_original"] = (
            ("station", "time"),
            x[i],
            {**attrs, "long_name": f"{comp} before cleaning"},
        )
        out[f"{comp}_flag"] = (
            ("station", "time"),
            flags[i],
            {
                "long_name": f"cleaning flag of {comp}",
                "flag_values": np.arange(5, dtype=np.int8),
                "flag_meanings": FLAG_MEANINGS,
            },
        )
        out[f"{comp}_sigma"] = (
            ("station",),
            sigma[i],
            {"units": attrs.get("units", "nT"), "long_name": f"noise sigma of high-passed {comp}"},
        )
    out.attrs = dict(data.attrs)
    out.attrs["magnetar_cleaning_config"] = json.dumps(dataclasses.asdict(config))
    return out


def build_cleaning_pipeline(config, *, sigma=None, gains=None, sigma_sharp=None):
    """The cleaning method as a :class:`Pipeline` of named steps over a context dict."""
    steps = [
        ("validate", partial(_step_validate, config=config)),
        ("sync", partial(_step_sync, config=config)),
        ("highpass", partial(_step_highpass, config=config)),
        ("sigma", partial(_step_sigma, config=config, sigma=sigma)),
        ("detect", partial(_step_detect, config=config, gains=gains, sigma_sharp=sigma_sharp)),
        ("replace", partial(_step_replace, config=config)),
        ("assemble", partial(_step_assemble, config=config)),
    ]
    return Pipeline(steps)


def _step_validate(ctx, *, config):
    data = ctx["data"]
    _check_input(data)
    comps = _components(data, config)
    period = sampling_period_of(data)
    cutoff_s = config.cutoff_for(period)
    sos = butter_highpass(cutoff=1.0 / cutoff_s, sampling_period=period, order=config.order)
    return {"comps": comps, "period": period, "sos": sos,
            "padlen": int(round(cutoff_s / period))}


def _step_sync(ctx, *, config):
    data = ctx["data"]
    if data.sizes["station"] < 2 or data.sizes["time"] < 4 * config.sync_max_lag + 4:
        return {"sync": None}
    sync = sync_check(data, component=config.sync_component or ctx["comps"][0],
                      max_lag=config.sync_max_lag)
    bad = sync[sync["significant"]]
    for row in bad.itertuples():
        LOGGER.warning(
            "stations %s and %s correlate best at a lag of %d samples (r=%.2f): check timing",
            row.station_a, row.station_b, row.lag, row.correlation,
        )
    if config.apply_sync and len(bad):
        data = apply_shifts(data, sync)
    return {"sync": sync, "data": data}


def _step_highpass(ctx, *, config):
    x = _to_array(ctx["data"], ctx["comps"])
    hp = highpass_array(x, sos=ctx["sos"], zero_phase=config.zero_phase,
                        max_gap=config.max_gap, padlen=ctx["padlen"])
    return {"x": x, "hp": hp}


def _step_sigma(ctx, *, config, sigma):
    if config.rule == "peer":
        return {}  # the peer rule's sigma is that of its residual: set by _step_detect
    if sigma is None:
        sigma = noise_sigma_array(ctx["hp"], window=config.sigma_window, trim=config.sigma_trim)
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != ctx["hp"].shape[:2]:
        msg = f"sigma must have shape (component, station) = {ctx['hp'].shape[:2]}, got {sigma.shape}"
        raise ValidationError(msg)
    return {"sigma": sigma}


def _step_detect(ctx, *, config, gains, sigma_sharp):
    if config.rule == "peer":
        found = peer_events(
            ctx["hp"], k=config.threshold, shape_factor=config.shape_factor,
            amplitude_ratio=config.amplitude_ratio, max_width=config.max_width,
            flank=config.flank, lags=config.lags,
            block=max(60, int(round(config.fit_block_s / ctx["period"]))),
            sigma_window=config.mad_window, sigma_trim=config.sigma_trim,
            incoherence=config.incoherence, tolerance=config.tolerance,
        )
        mask = found["replace"]
        if config.pad:
            grow = np.ones((1, 1, 2 * config.pad + 1), dtype=bool)
            mask = ndimage.binary_dilation(mask, structure=grow) & ~found["flagged"]
        n_c, n_s = ctx["hp"].shape[:2]
        return {"events": found["events"], "mask": mask, "flagged": found["flagged"],
                "prediction": found["prediction"], "sigma": found["sigma"],
                "local_sigma": found["local_sigma"], "gains": np.ones((n_c, n_s, n_s)),
                "sigma_sharp": None}
    events, mask, gains, sigma_sharp = _decide(
        ctx["x"], ctx["hp"], ctx["sigma"], config, gains=gains, sigma_sharp=sigma_sharp
    )
    return {"events": events, "mask": mask, "gains": gains, "sigma_sharp": sigma_sharp}


def _step_replace(ctx, *, config):
    x, mask = ctx["x"], ctx["mask"]
    slow = x - ctx["hp"]
    rows = mask.any(axis=-1)
    if rows.any():
        slow = slow.copy()
        slow[rows] = _slow_part(x[rows][None], mask[rows][None], ctx["sos"], config,
                                ctx["padlen"])[0]
    if config.rule == "peer":
        cleaned, flags = replace_from_prediction(x, slow, ctx["prediction"], mask)
        flags[ctx["flagged"] & (flags == FLAG_KEPT)] = FLAG_FLAGGED
        return {"cleaned": cleaned, "flags": flags}
    cleaned, flags = replace_interference(x, ctx["hp"], slow, mask, ctx["gains"])
    return {"cleaned": cleaned, "flags": flags}


def _step_assemble(ctx, *, config):
    data = ctx["data"]
    comps = ctx["comps"]
    stations = [str(s) for s in data["station"].values]
    times = data["time"].values
    events = _events_frame(ctx["events"], times, stations, comps, ctx["sigma"])
    ds = _assemble(data, comps, ctx["x"], ctx["cleaned"], ctx["flags"], ctx["sigma"], config)
    if ctx.get("local_sigma") is not None:
        for i, comp in enumerate(comps):
            ds[f"{comp}_sigma_local"] = (
                ("station", "time"), ctx["local_sigma"][i].astype(np.float32),
                {"units": ds[comp].attrs.get("units", "nT"),
                 "long_name": f"local noise sigma of {comp}'s peer-prediction residual "
                              f"(MAD in blocks of {config.mad_window} samples)"},
            )
    sigma = xr.DataArray(
        ctx["sigma"], dims=("component", "station"),
        coords={"component": comps, "station": stations}, attrs={"units": "nT"},
    )
    return {"cleaned_ds": ds, "events_df": events, "sigma_da": sigma,
            "summary": summary_table(events, stations)}


def clean_observatories(data, config=None, *, sigma=None, gains=None, sigma_sharp=None,
                        progress=False):
    """Clean aligned magnetograms of several observatories (batch).

    Parameters
    ----------
    data : xarray.Dataset
        Dimensions (station, time), one variable per component, in nT
        (see :func:`magnetar.processing.align_stations`).
    config : CleaningConfig, optional
        Method options (defaults as published, k = 3).
    sigma : array-like, optional
        Noise sigma (component, station) to use instead of estimating it (as a streaming
        cleaner does with the sigma learned on a reference period).
    gains, sigma_sharp : numpy.ndarray, optional
        Peer gains and sharp-part sigma to use instead of estimating them.
    progress : bool
        Show a progress bar over the steps.

    Returns
    -------
    CleaningResult
    """
    config = config or CleaningConfig()
    ctx = build_cleaning_pipeline(config, sigma=sigma, gains=gains, sigma_sharp=sigma_sharp).run(
        {"data": data}, progress=progress
    )
    return CleaningResult(
        cleaned=ctx["cleaned_ds"],
        events=ctx["events_df"],
        sigma=ctx["sigma_da"],
        summary=ctx["summary"],
        sync=ctx["sync"],
        gains=ctx["gains"],
        sigma_sharp=ctx["sigma_sharp"],
        config=config,
        timings=ctx["timings"],
    )


def restore_original(cleaned):
    """Undo a cleaning: the dataset with every component's original values back."""
    out = xr.Dataset(coords=cleaned.coords, attrs=dict(cleaned.attrs))
    for name in cleaned.data_vars:
        if name.endswith("_original"):
            comp = name[: -len("_original")]
            out[comp] = cleaned[name].copy()
            out[comp].attrs = dict(cleaned[comp].attrs)
    out.attrs.pop("magnetar_cleaning_config", None)
    return out


class StreamingCleaner:
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
            msg = ("streaming supports rule='published' or 'sharp'; the peer rule refits its "
                   "prediction over blocks of fit_block_s and runs in batch (clean_observatories)")
            raise ValidationError(msg)
        self.config = dataclasses.replace(config, zero_phase=False)
        self.stations = [str(s) for s in stations]
        self.components = [str(c) for c in components]
        self.period = float(sampling_period)
        self.start = np.datetime64(start, "ns")
        n_c, n_s = len(self.components), len(self.stations)
        self.sigma = np.asarray(sigma, dtype=np.float64).reshape(n_c, n_s)
        self.gains = (np.ones((n_c, n_s, n_s)) if gains is None
                      else np.asarray(gains, dtype=np.float64))
        if self.config.rule == "sharp" and sigma_sharp is None:
            msg = "rule='sharp' needs sigma_sharp (use StreamingCleaner.from_reference)"
            raise ValidationError(msg)
        self.sigma_sharp = None if sigma_sharp is None else np.asarray(sigma_sharp, float)
        self.sos = butter_highpass(cutoff=1.0 / self.config.cutoff_for(self.period),
                                   sampling_period=self.period, order=self.config.order)
        self._hp_filters = [CausalHighpass(self.sos, n_series=n_c) for _ in range(n_s)]
        self._slow_filter = CausalHighpass(self.sos, n_series=n_c * n_s)
        self._x = np.empty((n_c, n_s, 0))
        self._hp = np.empty((n_c, n_s, 0))
        self._received = np.zeros(n_s, dtype=np.int64)  # absolute count per station
        self._base = 0  # absolute index of buffer[0]
        self._emitted = 0  # absolute index of the next sample to emit
        half = self.config.sharp_window // 2 if self.config.rule == "sharp" else 0
        self.latency = self.config.tolerance + self.config.pad + half + 1
        self._lookback = self.config.tolerance + self.config.pad + 2 * half + 2
        self.events_ = []

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_reference(cls, reference, config=None, *, start=None):
        """Learn sigma and gains from a reference period of aligned data (batch, causal).

        The stream is then expected to start at ``start`` (default: the sample after the
        reference ends).
        """
        config = dataclasses.replace(config or CleaningConfig(rule="published"), zero_phase=False)
        if config.rule == "peer":
            msg = "streaming supports rule='published' or 'sharp', not 'peer'"
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
        self._hp[:, s, a:a + n_new] = self._hp_filters[s](values)
        self._received[s] += n_new

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
        times = self.start + (np.arange(self._base, self._base + ready)
                              * int(round(self.period * 1e9))).astype("timedelta64[ns]")
        frame = _events_frame(events, times, self.stations, self.components, self.sigma)
        keep = (events.start >= lo) & (events.start < horizon) if len(events) else []
        if len(events):
            self.events_.append(frame[keep])
        data = xr.Dataset(
            {c: (("station", "time"), x[i, :, lo:horizon], {"units": "nT"})
             for i, c in enumerate(self.components)},
            coords={"station": self.stations, "time": times[lo:horizon]},
            attrs={"sampling_period_s": self.period},
        )
        out = _assemble(data, self.components, x[..., lo:horizon], cleaned[..., lo:horizon],
                        flags[..., lo:horizon], self.sigma, self.config)
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
        from .._utils import atomic_path

        arrays = {
            "x": self._x, "hp": self._hp, "received": self._received,
            "base": np.array(self._base), "emitted": np.array(self._emitted),
            "sigma": self.sigma, "gains": self.gains,
            "sigma_sharp": (self.sigma_sharp if self.sigma_sharp is not None
                            else np.array([])),
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
        config = CleaningConfig(**cfg)
        sharp = arrays["sigma_sharp"]
        obj = cls(
            config, stations=meta["stations"], components=meta["components"],
            sampling_period=meta["period"], start=np.datetime64(meta["start"], "ns"),
            sigma=arrays["sigma"], gains=arrays["gains"],
            sigma_sharp=sharp if sharp.size else None,
        )
        obj._x, obj._hp = arrays["x"], arrays["hp"]
        obj._received = arrays["received"].astype(np.int64)
        obj._base, obj._emitted = int(arrays["base"]), int(arrays["emitted"])
        for s, filt in enumerate(obj._hp_filters):
            filt.load_state_dict({k: arrays[f"hp{s}_{k}"] for k in ("zi", "last", "started")})
        obj._slow_filter.load_state_dict({k: arrays[f"slow_{k}"] for k in ("zi", "last",
                                                                             "started")})
        return obj
