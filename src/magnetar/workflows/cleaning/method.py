"""Multi-observatory magnetogram cleaning (batch): the method as a pipeline of named steps.

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

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from ...errors import ValidationError
from ...processing._coincidence import (
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
from ...processing._filters import butter_highpass, highpass_array, sampling_period_of
from ...processing._noise import noise_sigma_array
from ...processing._peer import Periods, peer_events
from ...processing._sync import apply_shifts, sync_check
from .._pipeline import Pipeline
from .config import CleaningConfig

__all__ = [
    "CleaningResult",
    "build_cleaning_pipeline",
    "clean_observatories",
    "restore_original",
    "summary_table",
]

LOGGER = logging.getLogger(__name__)


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
    """Return detection, classification and the replacement mask (shared by batch and streaming)."""
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


def _events_frame(events, times, stations, comps, sigma, sigma_sample=None):
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
            "sigma_nT": (sigma[events.component, events.station] if sigma_sample is None
                         else sigma_sample[events.component, events.station, events.peak]),
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


def build_cleaning_pipeline(config, *, sigma=None, gains=None, sigma_sharp=None,
                            peer_context=None):
    """Return the cleaning method as a :class:`Pipeline` of named steps over a context dict.

    ``peer_context`` (the archive path: one day with its neighbours around it) holds the
    peer rule's known per-period statistics and the samples to decide
    (:func:`magnetar.processing._peer.peer_events`: periods, stats, estimate, core,
    coefficients); the synchronisation check is then the archive's, per day.
    """
    steps = [
        ("validate", partial(_step_validate, config=config)),
        ("sync", partial(_step_sync, config=config)),
        ("highpass", partial(_step_highpass, config=config)),
        ("sigma", partial(_step_sigma, config=config, sigma=sigma)),
        ("detect", partial(_step_detect, config=config, gains=gains, sigma_sharp=sigma_sharp,
                           peer_context=peer_context)),
        ("replace", partial(_step_replace, config=config)),
        ("assemble", partial(_step_assemble, config=config)),
    ]
    if peer_context is not None:
        steps.pop(1)
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


def _periods(data, config):
    """Return the peer rule's statistics periods: the record, or UTC-aligned periods of period_s."""
    if config.period_s is None:
        return None
    return Periods.from_times(data["time"].values, config.period_s)


def peer_options(config, period):
    """Return the peer rule's options from a config and the sampling period (s)."""
    return {
        "k": config.threshold, "shape_factor": config.shape_factor,
        "amplitude_ratio": config.amplitude_ratio, "peer_shape": config.peer_shape,
        "max_width": config.max_width,
        "flank": config.flank, "lags": config.lags,
        "block": max(60, int(round(config.fit_block_s / period))),
        "sigma_window": config.mad_window, "sigma_trim": config.sigma_trim,
        "incoherence": config.incoherence, "tolerance": config.tolerance,
        "max_peers": config.max_peers, "review": bool(config.review),
    }


def _step_detect(ctx, *, config, gains, sigma_sharp, peer_context=None):
    if config.rule == "peer":
        context = peer_context or {"periods": _periods(ctx["data"], config)}
        found = peer_events(ctx["hp"], **peer_options(config, ctx["period"]), **context)
        mask = found["replace"]
        if config.pad:
            grow = np.ones((1, 1, 2 * config.pad + 1), dtype=bool)
            mask = ndimage.binary_dilation(mask, structure=grow) & ~found["flagged"]
        n_c, n_s = ctx["hp"].shape[:2]
        return {"events": found["events"], "mask": mask, "flagged": found["flagged"],
                "prediction": found["prediction"], "sigma": found["sigma"],
                "local_sigma": found["local_sigma"], "sigma_sample": found["sigma_sample"],
                "gains": np.ones((n_c, n_s, n_s)),
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


def _add_local_sigma(ds, comps, local, config):
    """Add the peer rule's local residual sigma over time (``<comp>_sigma_local``)."""
    for i, comp in enumerate(comps):
        ds[f"{comp}_sigma_local"] = (
            ("station", "time"), local[i].astype(np.float32),
            {"units": ds[comp].attrs.get("units", "nT"),
             "long_name": f"local noise sigma of {comp}'s peer-prediction residual "
                          f"(MAD in blocks of {config.mad_window} samples)"},
        )


def _step_assemble(ctx, *, config):
    data = ctx["data"]
    comps = ctx["comps"]
    stations = [str(s) for s in data["station"].values]
    times = data["time"].values
    events = _events_frame(ctx["events"], times, stations, comps, ctx["sigma"],
                           ctx.get("sigma_sample"))
    ds = _assemble(data, comps, ctx["x"], ctx["cleaned"], ctx["flags"], ctx["sigma"], config)
    if ctx.get("local_sigma") is not None:
        _add_local_sigma(ds, comps, ctx["local_sigma"], config)
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
