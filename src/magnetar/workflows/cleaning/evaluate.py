"""Injection experiment: how well the cleaning finds and repairs known interference.

Known spikes (amplitudes in multiples of the station's noise sigma, 1-5 samples long) are
added to ONE station at random, well-separated times, and coincident disturbances to ALL
stations at other times. The cleaning runs on the corrupted data (sigma estimated from it, as
in real use) and is scored against the truth:

* recall of single-station spikes by amplitude, separately in quiet and disturbed intervals
  (disturbed: the uncorrupted data of another station exceeds k sigma within the filter's
  reach of the spike, which is the published rule's blind spot);
* coincident disturbances wrongly removed;
* RMS error of the replaced samples against the uncorrupted data;
* false alarms per day on the untouched data.

The same corrupted data can be given to MagPy's ``flag_outlier`` (optional extra
``magnetar[compare]``) for a side-by-side comparison.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ...processing._filters import butter_highpass, highpass_array, sampling_period_of
from ...processing._noise import noise_sigma_array
from ...synthetic import inject_coincident, inject_interference
from .config import CleaningConfig
from .method import clean_observatories

__all__ = ["injection_experiment", "magpy_flag_outlier", "summarise_experiment"]


def _positions(n_t, count, *, rng, margin, spacing, taken=()):
    """Random, well separated start indices (sigma estimation needs sparse spikes)."""
    chosen = list(taken)
    out = []
    attempts = 0
    while len(out) < count and attempts < 100 * count:
        attempts += 1
        a = int(rng.integers(margin, n_t - margin))
        if all(abs(a - b) >= spacing for b in chosen):
            chosen.append(a)
            out.append(a)
    return np.array(sorted(out), dtype=int)


def magpy_flag_outlier(data, *, threshold=4.0, components=None):
    """Run MagPy's ``flag_outlier`` per station; returns a boolean mask like the data.

    MagPy flags outliers from the inter-quartile range in sliding windows, station by station;
    it has no notion of coincidence between stations.
    """
    from ..._utils import import_quietly_configuring, require

    require("magpy", extra="compare", feature="The MagPy comparison")
    flagging = import_quietly_configuring("magpy.core.flagging")
    stream_module = import_quietly_configuring("magpy.stream")
    KEYLIST, DataStream = stream_module.KEYLIST, stream_module.DataStream  # noqa: N806

    comps = list(components or data.data_vars)
    keymap = dict(zip(comps, ["x", "y", "z", "f"], strict=False))
    period = sampling_period_of(data)
    times = data["time"].values
    obj_times = times.astype("datetime64[us]").astype(object)
    mask = {c: np.zeros((data.sizes["station"], data.sizes["time"]), dtype=bool) for c in comps}
    for s, name in enumerate(data["station"].values):
        arrays = [np.asarray([]) for _ in KEYLIST]
        arrays[0] = obj_times
        for c in comps:
            arrays[KEYLIST.index(keymap[c])] = data[c].sel(station=name).values.astype(float)
        stream = DataStream(
            header={"DataSamplingRate": period, "SensorID": f"{name}_var", "StationID": str(name)},
            ndarray=np.asarray(arrays, dtype=object),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flags = flagging.flag_outlier(stream, keys=[keymap[c] for c in comps],
                                          threshold=threshold)
        inverse = {v: k for k, v in keymap.items()}
        for flag in flags.flagdict.values():
            a = np.searchsorted(times, np.datetime64(flag["starttime"], "ns"))
            b = np.searchsorted(times, np.datetime64(flag["endtime"], "ns"), side="right")
            for key in flag["components"]:
                if key in inverse:
                    mask[inverse[key]][s, a:b] = True
    return mask


def injection_experiment(
    data,
    *,
    station,
    config=None,
    rules=("published", "sharp"),
    amplitudes_sigma=(3.0, 6.0, 20.0, 100.0),
    max_width=5,
    n_runs=10,
    per_run=12,
    coincident_per_run=4,
    coincident_sigma=(20.0, 100.0),
    spacing=400,
    seed=0,
    magpy_threshold=None,
):
    """Inject known interference many times and score the cleaning (see module docstring).

    Parameters
    ----------
    data : xarray.Dataset
        Aligned, uncorrupted stations (station, time).
    station : str
        Station receiving the one-station spikes.
    config : CleaningConfig, optional
        Base configuration; each entry of ``rules`` is run with it.
    amplitudes_sigma : sequence of float
        Spike amplitudes in multiples of the station's noise sigma.
    max_width : int
        Spikes are 1..max_width samples long.
    n_runs, per_run, coincident_per_run : int
        Repetitions, spikes per repetition, coincident disturbances per repetition.
    spacing : int
        Minimum distance in samples between injections (keeps the sigma estimate honest).
    seed : int
        Random seed.
    magpy_threshold : float, optional
        If given, MagPy's ``flag_outlier`` runs on the same data with this threshold.

    Returns
    -------
    dict
        ``spikes`` (DataFrame, one row per spike and method), ``coincident`` (DataFrame),
        ``false_alarms`` (dict per method: events per day on untouched data), ``runtime_s``
        (dict per method), ``sigma`` (noise sigma per component of ``station``).
    """
    config = config or CleaningConfig()
    setup = _setup(data, station, config)
    rng = np.random.default_rng(seed)
    methods = [f"magnetar-{r}" for r in rules] + ([] if magpy_threshold is None else ["magpy"])
    spikes, coincident = [], []
    runtime = dict.fromkeys(methods, 0.0)
    options = {"max_width": max_width, "per_run": per_run, "spacing": spacing,
               "amplitudes_sigma": amplitudes_sigma, "coincident_sigma": coincident_sigma,
               "coincident_per_run": coincident_per_run}
    for run in range(n_runs):
        corrupted, injected = _inject(setup, rng, seed * 1000 + run * 100, **options)
        flags = _run_methods(corrupted, setup, config, rules, methods, magpy_threshold,
                             runtime)
        more_spikes, more_coincident = _score(setup, injected, flags, run)
        spikes += more_spikes
        coincident += more_coincident
    return {
        "spikes": pd.DataFrame(spikes),
        "coincident": pd.DataFrame(coincident, columns=["run", "method", "component",
                                                         "amplitude_sigma", "width", "removed"]),
        "false_alarms": _false_alarms(setup, config, rules, methods, magpy_threshold),
        "runtime_s": runtime,
        "sigma": dict(zip(setup.comps, setup.sigma[:, setup.s_idx].tolist(), strict=False)),
        "days": setup.days,
    }


def _setup(data, station, config):
    """Return what every run shares: the data, its high-pass, sigma and natural activity."""
    comps = list(config.components or data.data_vars)
    data = data[comps]
    names = [str(s) for s in data["station"].values]
    period = sampling_period_of(data)
    cutoff_s = config.cutoff_for(period)
    sos = butter_highpass(cutoff=1 / cutoff_s, sampling_period=period, order=config.order)
    x = np.stack([data[c].transpose("station", "time").values for c in comps])
    hp = highpass_array(x, sos=sos, max_gap=config.max_gap,
                        padlen=int(round(cutoff_s / period)))
    sigma = noise_sigma_array(hp, window=config.sigma_window, trim=config.sigma_trim)
    reach = int(round(cutoff_s / period))
    return SimpleNamespace(
        data=data, comps=comps, names=names, station=station, s_idx=names.index(station),
        x=x, sigma=sigma, natural=np.abs(hp) > config.threshold * sigma[..., None],
        reach=reach, n_t=data.sizes["time"], days=data.sizes["time"] * period / 86400.0,
        margin=max(reach, config.sigma_window))


def _inject(setup, rng, seed, *, max_width, per_run, spacing, amplitudes_sigma,
            coincident_sigma, coincident_per_run):
    """One run's one-station spikes and coincident pulses: the corrupted data and the truth."""
    n_t, comps, s_idx = setup.n_t, setup.comps, setup.s_idx
    starts = _positions(n_t - max_width, per_run, rng=rng, margin=setup.margin,
                        spacing=spacing)
    widths = rng.integers(1, max_width + 1, size=starts.size)
    amps = np.resize(np.asarray(amplitudes_sigma, float), starts.size)
    rng.shuffle(amps)
    comp_i = rng.integers(0, len(comps), size=starts.size)
    corrupted = setup.data
    for j, (a, w, amp, ci) in enumerate(zip(starts, widths, amps, comp_i, strict=False)):
        corrupted, _, _ = inject_interference(
            corrupted, station=setup.station, starts=[a], widths=[w],
            amplitudes=[amp * setup.sigma[ci, s_idx]], components=[comps[ci]], seed=seed + j)
    c_starts = _positions(n_t - max_width, coincident_per_run, rng=rng, margin=setup.margin,
                          spacing=spacing, taken=starts)
    c_widths = rng.integers(1, max_width + 1, size=c_starts.size)
    c_amps = rng.choice(np.asarray(coincident_sigma, float), size=c_starts.size)
    c_comp = rng.integers(0, len(comps), size=c_starts.size)
    for j, (a, w, amp, ci) in enumerate(zip(c_starts, c_widths, c_amps, c_comp, strict=False)):
        gains = rng.uniform(0.6, 1.0, size=len(setup.names))
        corrupted, _, _ = inject_coincident(
            corrupted, stations=setup.names, starts=[a], widths=[w],
            amplitudes=[amp * setup.sigma[ci].mean()], gains=gains, components=[comps[ci]],
            seed=seed + 50 + j)
    injected = {"spikes": list(zip(starts, widths, amps, comp_i, strict=False)),
                "coincident": list(zip(c_starts, c_widths, c_amps, c_comp, strict=False))}
    return corrupted, injected


def _run_methods(corrupted, setup, config, rules, methods, magpy_threshold, runtime):
    """Each rule (and MagPy) on the corrupted data: method -> (replaced mask, cleaned)."""
    comps = setup.comps
    flags = {}
    for rule, method in zip(rules, methods, strict=False):
        cfg = dataclasses.replace(config, rule=rule, components=tuple(comps))
        t0 = time.perf_counter()
        result = clean_observatories(corrupted, cfg)
        runtime[method] += time.perf_counter() - t0
        fl = np.stack([result.cleaned[f"{c}_flag"].transpose("station", "time").values
                       for c in comps])
        cleaned = np.stack([result.cleaned[c].transpose("station", "time").values
                            for c in comps])
        flags[method] = (np.isin(fl, (1, 2)), cleaned)
    if magpy_threshold is not None:
        t0 = time.perf_counter()
        mp = magpy_flag_outlier(corrupted, threshold=magpy_threshold, components=comps)
        runtime["magpy"] += time.perf_counter() - t0
        flags["magpy"] = (np.stack([mp[c] for c in comps]), None)
    return flags


def _score(setup, injected, flags, run):
    """Rows for every injected spike and pulse and every method."""
    s_idx, x, sigma = setup.s_idx, setup.x, setup.sigma
    others = [p for p in range(len(setup.names)) if p != s_idx]
    spikes, coincident = [], []
    for a, w, amp, ci in injected["spikes"]:
        lo, hi = max(a - setup.reach, 0), min(a + w + setup.reach, setup.n_t)
        disturbed = bool(setup.natural[ci, others, lo:hi].any())
        for method, (mask, cleaned) in flags.items():
            full = bool(mask[ci, s_idx, a:a + w].all())
            rms = np.nan
            if cleaned is not None and full:
                err = cleaned[ci, s_idx, a:a + w] - x[ci, s_idx, a:a + w]
                rms = float(np.sqrt(np.mean(err**2)))
            spikes.append({
                "run": run, "method": method, "component": setup.comps[ci],
                "amplitude_sigma": float(amp), "width": int(w), "disturbed": disturbed,
                "detected": bool(mask[ci, s_idx, a:a + w].any()), "fully_replaced": full,
                "rms_nT": rms, "rms_sigma": rms / sigma[ci, s_idx],
            })
    for a, w, amp, ci in injected["coincident"]:
        for method, (mask, _) in flags.items():
            coincident.append({"run": run, "method": method, "component": setup.comps[ci],
                               "amplitude_sigma": float(amp), "width": int(w),
                               "removed": bool(mask[ci, :, a:a + w].any())})
    return spikes, coincident


def _false_alarms(setup, config, rules, methods, magpy_threshold):
    """Interference events per day on the untouched data, per method."""
    per_series = len(setup.comps) * len(setup.names)
    out = {}
    for rule, method in zip(rules, methods, strict=False):
        cfg = dataclasses.replace(config, rule=rule, components=tuple(setup.comps))
        result = clean_observatories(setup.data, cfg)
        n_int = int((result.events["class"] == "interference").sum())
        out[method] = {"events": n_int, "per_day": n_int / setup.days,
                       "per_day_per_series": n_int / setup.days / per_series}
    if magpy_threshold is not None:
        from ...processing._coincidence import detect_runs

        mp = magpy_flag_outlier(setup.data, threshold=magpy_threshold, components=setup.comps)
        runs = detect_runs(np.stack([mp[c] for c in setup.comps]))[0].size
        out["magpy"] = {"events": runs, "per_day": runs / setup.days,
                        "per_day_per_series": runs / setup.days / per_series}
    return out


def summarise_experiment(results):
    """Aggregate one or more :func:`injection_experiment` outputs into plain numbers."""
    spikes = pd.concat([r["spikes"] for r in results], ignore_index=True)
    coinc = pd.concat([r["coincident"] for r in results], ignore_index=True)
    out = {}
    for method, group in spikes.groupby("method"):
        entry = {}
        for label, sub in (("quiet", group[~group.disturbed]),
                           ("disturbed", group[group.disturbed]), ("all", group)):
            recall = sub.groupby("amplitude_sigma")["detected"].agg(["mean", "size"])
            entry[f"recall_{label}"] = {
                f"{amp:g}": {"recall": round(float(row["mean"]), 4), "n": int(row["size"])}
                for amp, row in recall.iterrows()
            }
        rms = group["rms_sigma"].dropna()
        entry["rms_replaced_sigma_median"] = float(rms.median()) if len(rms) else None
        entry["rms_replaced_nT_median"] = (float(group["rms_nT"].dropna().median())
                                           if len(rms) else None)
        c = coinc[coinc.method == method]
        entry["coincident_removed"] = int(c["removed"].sum())
        entry["coincident_total"] = int(len(c))
        fa_events = sum(r["false_alarms"][method]["events"] for r in results)
        days = sum(r["days"] for r in results)
        entry["false_alarms_per_day"] = fa_events / days
        entry["runtime_s"] = sum(r["runtime_s"][method] for r in results)
        out[method] = entry
    return out
