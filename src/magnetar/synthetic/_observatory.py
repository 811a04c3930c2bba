"""Synthetic multi-observatory magnetograms with known truth, and interference injection.

Written here because no library generates them. The natural field is common to all stations
and differs in amplitude (and slightly in time) with distance from its source:

* daily (Sq) variation: 24, 12 and 8 h harmonics of 10-40 nT, phase set by longitude;
* a magnetic storm: sudden commencement (+10..40 nT in ~2 min), main phase (-50..-200 nT over
  hours in X), exponential recovery;
* substorms: negative bays of 50-400 nT in X lasting 20-90 min, strongest nearest their source;
* pulsations: Pc5 wave packets (150-600 s periods; Pc3 too at 1 s cadence) of 1-10 nT;
* per-station instrument noise (white, ``noise_nT``) and a slow random-walk drift.

Interference is added on top with exact truth: the samples touched and their clean values.
Shapes: ``spike`` (rectangular, 1-5 samples), ``dipole`` (a passing vehicle: a bipolar pulse)
and ``decay`` (a sharp jump relaxing exponentially). Coincident disturbances, the same short
pulse at several stations, imitate natural events that the cleaning must keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from ..errors import ValidationError

__all__ = [
    "ObservatoryTruth",
    "inject_coincident",
    "inject_interference",
    "synthetic_observatories",
]

_BASE = {"X": 18000.0, "Y": -1500.0, "Z": 46000.0, "H": 18060.0}


@dataclass
class ObservatoryTruth:
    """Ground truth of a synthetic or injected record.

    Attributes
    ----------
    clean : xarray.Dataset
        The data without interference (station, time).
    interference : xarray.Dataset
        Boolean per component and sample: True where interference was added.
    injections : pandas.DataFrame
        One row per injection: kind (interference/coincident), station(s), component,
        start index, width, amplitude (nT and in sigma when given), shape.
    """

    clean: xr.Dataset
    interference: xr.Dataset
    injections: pd.DataFrame


def _bay(t, t0, duration):
    """Substorm bay shape: fast onset, slower recovery (0..1..0)."""
    rise = 0.25 * duration
    shape = np.zeros_like(t)
    on = (t >= t0) & (t < t0 + rise)
    shape[on] = np.sin(0.5 * np.pi * (t[on] - t0) / rise) ** 2
    rec = t >= t0 + rise
    shape[rec] = np.exp(-(t[rec] - t0 - rise) / (0.5 * duration))
    return shape


def _shared_events(rng, t, *, days, sampling_period, n_substorms):
    """Return the natural events every station sees (drawn once, in a fixed order)."""
    ev = {"sq_amp": rng.uniform(10, 40, size=3), "sq_phase": rng.uniform(0, 2 * np.pi, size=3),
          "sc_time": 0.2 * t[-1], "sc_amp": rng.uniform(10, 40),
          "main_amp": rng.uniform(50, 200)}
    ev["bays"] = [(rng.uniform(0.05, 0.95) * t[-1], rng.uniform(1200, 5400),
                   rng.uniform(50, 400)) for _ in range(n_substorms)]
    min_period = max(3 * sampling_period, 30.0)
    ev["packets"] = [
        (rng.uniform(0, t[-1]), rng.uniform(1800, 7200), rng.uniform(max(150, min_period), 600),
         rng.uniform(1, 10), rng.uniform(0, 2 * np.pi))
        for _ in range(int(rng.integers(3, 8) * max(days, 0.2)))
    ]
    if sampling_period <= 10:
        ev["packets"] += [
            (rng.uniform(0, t[-1]), rng.uniform(600, 1800), rng.uniform(10, 45),
             rng.uniform(0.2, 2), rng.uniform(0, 2 * np.pi))
            for _ in range(int(6 * max(days, 0.2)))
        ]
    return ev


def _add_station(field, s, dist, t, ev, *, storm, rng, noise, sampling_period):
    """Station ``s``'s view of the shared events (delayed, attenuated) plus its own noise."""
    n = t.size
    delay = dist / 1000.0
    atten = np.exp(-dist / 1000.0)
    ts = t - delay
    lon_shift = dist * 3.0  # seconds of local-time shift per km (longitude)
    for c, scale in (("X", 1.0), ("Y", 0.4), ("Z", -0.6)):
        sq = sum(
            a * scale * np.cos(2 * np.pi * (ts + lon_shift) / (86400 / (h + 1)) + p)
            for h, (a, p) in enumerate(zip(ev["sq_amp"], ev["sq_phase"], strict=False))
        )
        field[c][s] += sq
    if storm:
        sc_time = ev["sc_time"]
        sc = ev["sc_amp"] * expit((ts - sc_time) / 40.0)
        main = np.where(
            ts > sc_time + 1800,
            -ev["main_amp"] * (1 - np.exp(-(ts - sc_time - 1800) / 7200.0))
            * np.exp(-np.clip(ts - sc_time - 6 * 3600, 0, None) / (10 * 3600)),
            0.0,
        )
        field["X"][s] += sc + main
        field["Z"][s] += 0.3 * sc - 0.2 * main
    for t0, dur, amp in ev["bays"]:
        shape = _bay(ts, t0, dur) * amp * atten
        field["X"][s] -= shape
        field["Y"][s] += 0.3 * shape * (1 if s % 2 else -1)
        field["Z"][s] += 0.5 * shape
    for t0, dur, period, amp, phase in ev["packets"]:
        env = np.exp(-0.5 * ((ts - t0) / (dur / 4)) ** 2)
        wave = amp * atten * env * np.sin(2 * np.pi * ts / period + phase)
        field["X"][s] += wave
        field["Y"][s] += 0.7 * np.roll(wave, 1)
        field["Z"][s] += 0.2 * wave
    for c in ("X", "Y", "Z"):
        drift = np.cumsum(rng.normal(0, 0.002 * np.sqrt(sampling_period), n))
        field[c][s] += drift + rng.normal(0, noise, n)


def _components_of(field, components, noise, rng):
    """Absolute values of the requested components (F with its own sensor noise)."""
    n_s, n = field["X"].shape
    data = {}
    absolute = {c: field[c] + _BASE[c] + 50.0 * np.arange(n_s)[:, None] for c in ("X", "Y", "Z")}
    for c in components:
        if c in ("X", "Y", "Z"):
            data[c] = absolute[c]
        elif c == "H":
            data[c] = np.hypot(absolute["X"], absolute["Y"])
        else:  # F: scalar magnetometer with its own noise
            f = np.sqrt(absolute["X"] ** 2 + absolute["Y"] ** 2 + absolute["Z"] ** 2)
            data[c] = f + rng.normal(0, 1, f.shape) * noise[:, None]
    return data


def synthetic_observatories(
    *,
    stations=("AAA", "BBB", "CCC", "DDD"),
    distances_km=(0.0, 150.0, 300.0, 450.0),
    days=1.0,
    sampling_period=60.0,
    components=("X", "Y", "Z", "F"),
    start="2024-03-01T00:00:00",
    noise_nT=0.1,
    storm=True,
    n_substorms=3,
    seed=0,
):
    """Multi-station magnetograms of a common natural field, with per-station noise.

    Parameters
    ----------
    stations : sequence of str
        Station codes.
    distances_km : sequence of float
        Distance of each station from the source region of substorms and pulsations; the
        natural amplitude decays as ``exp(-d / 1000 km)`` and arrives ``d / 100 km`` seconds
        later.
    days : float
        Length of the record.
    sampling_period : float
        Seconds between samples (60 or 1 are typical).
    components : sequence of str
        Subset of X, Y, Z, H, F.
    start : str
        First sample time (UTC).
    noise_nT : float or sequence of float
        Instrument noise standard deviation per station.
    storm : bool
        Include a storm (sudden commencement at 20 % of the record).
    n_substorms : int
        Number of substorm bays.
    seed : int
        Random seed; the same seed gives the same record.

    Returns
    -------
    xarray.Dataset
        Dimensions (station, time) with ``attrs['sampling_period_s']``; values in nT.
    """
    if len(stations) != len(distances_km):
        msg = f"{len(stations)} stations but {len(distances_km)} distances"
        raise ValidationError(msg)
    unknown = [c for c in components if c not in ("X", "Y", "Z", "H", "F")]
    if unknown:
        msg = f"unknown component(s) {unknown}; choose from X, Y, Z, H, F"
        raise ValidationError(msg)
    rng = np.random.default_rng(seed)
    n = int(round(days * 86400 / sampling_period))
    if n < 10:
        msg = f"record too short: {n} samples"
        raise ValidationError(msg)
    t = np.arange(n) * sampling_period
    noise = np.broadcast_to(np.asarray(noise_nT, dtype=float), (len(stations),))
    n_s = len(stations)
    field = {c: np.zeros((n_s, n)) for c in ("X", "Y", "Z")}

    events = _shared_events(rng, t, days=days, sampling_period=sampling_period,
                            n_substorms=n_substorms)
    for s, dist in enumerate(distances_km):
        _add_station(field, s, dist, t, events, storm=storm, rng=rng, noise=noise[s],
                     sampling_period=sampling_period)
    data = _components_of(field, components, noise, rng)
    times = np.datetime64(start, "ns") + (t * 1e9).astype("timedelta64[ns]")
    ds = xr.Dataset(
        {c: (("station", "time"), data[c], {"units": "nT"}) for c in components},
        coords={"station": list(stations), "time": times},
        attrs={"sampling_period_s": float(sampling_period), "synthetic_seed": seed},
    )
    ds["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
    return ds


def _shape(kind, width, rng):
    if kind == "spike":
        return np.ones(width)
    if kind == "dipole":
        x = np.linspace(-1.5, 1.5, max(width, 2))
        y = -x * np.exp(-(x**2))
        return y / np.max(np.abs(y))
    if kind == "decay":
        return np.exp(-np.arange(width) / max(width / 3.0, 1.0))
    msg = f"unknown interference shape {kind!r}; choose spike, dipole or decay"
    raise ValidationError(msg)


def inject_interference(
    data,
    *,
    station,
    starts,
    widths,
    amplitudes,
    components=None,
    shape="spike",
    signs=None,
    seed=0,
):
    """Add one-station interference at given places; returns (corrupted, truth).

    Parameters
    ----------
    data : xarray.Dataset
        Aligned clean data (station, time).
    station : str
        Station that receives the interference.
    starts, widths : sequence of int
        First sample index and length (samples) of each injection.
    amplitudes : sequence of float
        Peak amplitude in nT of each injection.
    components : sequence of str, optional
        Components hit by each injection (default: every component).
    shape : str
        ``spike``, ``dipole`` or ``decay``.
    signs : sequence of {-1, 1}, optional
        Polarity of each injection (random if omitted).
    seed : int
        Seed for random polarities.

    Returns
    -------
    (xarray.Dataset, xarray.Dataset, pandas.DataFrame)
        The corrupted data, the truth (True on injected samples) and one row per injection.
    """
    return _inject(data, stations=[station], starts=starts, widths=widths,
                   amplitudes=amplitudes, components=components, shape=shape, signs=signs,
                   seed=seed, kind="interference", gains=None)


def inject_coincident(data, *, stations, starts, widths, amplitudes, gains=None,
                      components=None, shape="spike", signs=None, seed=0):
    """Add the same disturbance to several stations at the same samples (a natural-like event).

    ``gains`` scales the amplitude per station (default 1 for all). The truth marks these
    samples as *not* interference: the cleaning must keep them.

    Parameters
    ----------
    data : xarray.Dataset
        Aligned clean data (station, time).
    stations : sequence of str
        Stations that see the disturbance.
    starts, widths, amplitudes, components, shape, signs, seed :
        As :func:`inject_interference`.
    gains : sequence of float, optional
        Amplitude factor per station.

    Returns
    -------
    (xarray.Dataset, xarray.Dataset, pandas.DataFrame)
        The data with the disturbances, the truth (no interference marked) and one row per
        injection.
    """
    return _inject(data, stations=list(stations), starts=starts, widths=widths,
                   amplitudes=amplitudes, components=components, shape=shape, signs=signs,
                   seed=seed, kind="coincident", gains=gains)


def _inject(data, *, stations, starts, widths, amplitudes, components, shape, signs, seed,
            kind, gains):
    rng = np.random.default_rng(seed)
    starts = np.asarray(starts, dtype=int)
    widths = np.broadcast_to(np.asarray(widths, dtype=int), starts.shape)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=float), starts.shape)
    if signs is None:
        signs = rng.choice([-1.0, 1.0], size=starts.shape)
    signs = np.broadcast_to(np.asarray(signs, dtype=float), starts.shape)
    comps = list(components) if components else list(data.data_vars)
    names = [str(s) for s in data["station"].values]
    for st in stations:
        if st not in names:
            msg = f"unknown station {st!r}; the data has {names}"
            raise ValidationError(msg)
    gains = np.ones(len(stations)) if gains is None else np.asarray(gains, dtype=float)
    n_t = data.sizes["time"]
    if np.any(starts < 0) or np.any(starts + widths > n_t):
        msg = f"injections must lie inside the record of {n_t} samples"
        raise ValidationError(msg)
    out = data.copy(deep=True)
    truth = xr.Dataset(
        {c: (("station", "time"), np.zeros((data.sizes["station"], n_t), dtype=bool))
         for c in comps},
        coords={"station": data["station"], "time": data["time"]},
    )
    rows = []
    for i, (a, w, amp, sign) in enumerate(zip(starts, widths, amplitudes, signs, strict=False)):
        pulse = sign * amp * _shape(shape, w, rng)
        for j, st in enumerate(stations):
            s = names.index(st)
            for c in comps:
                out[c].values[s, a:a + w] += gains[j] * pulse[:w]
                if kind == "interference":
                    truth[c].values[s, a:a + w] = True
        rows.append({"kind": kind, "stations": ";".join(stations), "start": int(a),
                     "width": int(w), "amplitude_nT": float(amp), "sign": float(sign),
                     "shape": shape, "index": i})
    return out, truth, pd.DataFrame(rows)
