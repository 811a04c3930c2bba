"""Dense one-station interference on real Barrow/Deadhorse data: every rule and MagPy.

Injections as in issue 23: one-station spikes of 1-3 samples at 6x, 20x and 100x the
station's median |first difference| (per component), one every 20-40 samples, random sign,
plus two-station (natural) pulses of 1-3 samples at both stations (gains 0.6-1.0). Each
rule runs on the corrupted data (sigma estimated from it, as in real use). Scored:

* recall: share of spikes with any sample replaced (flag 1 or 2), and with any sample flagged
  (1, 2 or 4), split into quiet and disturbed intervals. Disturbed: the uncorrupted station's
  local activity (sliding 61-sample std of its high-passed series, any component) exceeds 3x
  its median over the window.
* natural pulses touched (any sample of either station replaced);
* on the untouched data: replaced samples per station-day (and flagged ones);
* the streaming peer rule (``stream``: statistics learned from the window's first day, the
  rest pushed an hour at a time) beside the batch peer rule scored on the same streamed
  span (``peer_streamed_span``);
* what any one-station detector faces: each 20x spike's amplitude over the local robust
  sigma (+-60 samples) of the untouched data's peer-residual spike statistic D, quiet and
  disturbed (a spike at a local SNR of 2-3 looks like the station's own activity); beside
  it (``review_z_20x``) each 20x spike's statistic under the rule's review test
  (:func:`~magnetar.processing._interpolation.interpolation_z` of the corrupted station's
  high-passed series at the spike: its departure from a two-sided interpolator learnt
  around it, in local sigmas), and (``review_z_residual_20x``) the same of the peer
  residual, the series the rule reviews;
* the ceiling of that statistic in disturbed intervals
  (``review_frontier_20x_disturbed``): for a threshold that would keep a given share of the
  disturbed 20x spikes (each at its own position and width, an oracle's advantage), the
  share of the untouched data's disturbed samples (every third, each component, largest over
  widths 1-3) the same threshold would also mark.

Writes benchmarks/results/cleaning_dense.json. Run: .venv/bin/python benchmarks/validate_cleaning_dense.py
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.io import read_stations  # noqa: E402
from magnetar.processing import align_stations  # noqa: E402
from magnetar.processing._filters import butter_highpass, highpass_array  # noqa: E402
from magnetar.workflows.cleaning import (  # noqa: E402
    CleaningConfig,
    StreamingPeerCleaner,
    clean_observatories,
)

WINDOWS = ("2021-12-17", "2022-02-10", "2022-03-09")
COMPS = ("X", "Y", "Z")
AMPLITUDES = (6, 20, 100)
RULES = ("peer", "published", "sharp")
STREAMED = ("stream", "peer_streamed_span")  # scored from the window's second day on


def load(window):
    names = [n for n in datasets.list_files("observatory/brw_ded/geomag")
             if window in n and n[29] in "XYZ"]
    return align_stations(read_stations([datasets.fetch(n) for n in names]),
                          components=list(COMPS))


def inject(x, rng, *, station, amplitude, unit):
    """Dense one-station spikes and sparse two-station pulses; returns data and truth."""
    y = x.copy()
    n_c, n_s, n_t = x.shape
    spikes, natural = [], []
    t = 300
    while t < n_t - 300:
        c, w = int(rng.integers(n_c)), int(rng.integers(1, 4))
        if np.isfinite(y[c, station, t:t + w]).all():
            if rng.random() < 0.1:  # natural: both stations, comparable amplitude
                a = amplitude * unit[c] * rng.choice([-1, 1])
                for s in range(n_s):
                    y[c, s, t:t + w] += a * rng.uniform(0.6, 1.0)
                natural.append((c, t, w))
            else:
                y[c, station, t:t + w] += amplitude * unit[c] * rng.choice([-1, 1])
                spikes.append((c, t, w))
        t += 20 + int(rng.integers(0, 21))
    return y, spikes, natural


def disturbed_mask(x, period):
    sos = butter_highpass(cutoff=1 / max(600.0, 30 * period), sampling_period=period, order=4)
    hp = highpass_array(x, sos=sos, max_gap=10, padlen=30)
    z = np.nan_to_num(hp)
    mean = ndimage.uniform_filter1d(z, 61, axis=-1)
    std = np.sqrt(np.maximum(ndimage.uniform_filter1d(z * z, 61, axis=-1) - mean**2, 0))
    active = std > 3 * np.median(std, axis=-1, keepdims=True)
    return active.any(axis=0)  # (station, time)


def highpassed(data, config=None):
    """Return the rule's high-passed series of ``data``: (component, station, time)."""
    from magnetar.workflows._pipeline import Pipeline
    from magnetar.workflows.cleaning.method import build_cleaning_pipeline

    pipeline = build_cleaning_pipeline(config or CleaningConfig())
    ctx = Pipeline(pipeline.steps[:pipeline.names.index("highpass") + 1]).run({"data": data})
    return ctx["hp"][[ctx["comps"].index(c) for c in COMPS]]


def review_series(data):
    """Return the untouched or corrupted data's high-passed series and its peer residual."""
    from magnetar.processing._peer import peer_prediction
    from magnetar.workflows.cleaning.method import peer_options

    config = CleaningConfig()
    hp = highpassed(data, config)
    opts = peer_options(config, float(data.attrs["sampling_period_s"]))
    return {"own": hp, "residual": hp - peer_prediction(hp, lags=opts["lags"],
                                                         block=opts["block"])}


def residual_departure(residual):
    """The spike departure D of a peer residual (default options)."""
    from magnetar.processing._peer import spike_statistic

    config = CleaningConfig()
    return spike_statistic(residual, max_width=config.max_width, flank=config.flank)[0]


def _review_z(x, index):
    from magnetar.processing._interpolation import interpolation_z

    config = CleaningConfig()
    return interpolation_z(x, index, order=2 * config.flank, window=config.mad_window)


def review_statistic(series, spikes, station, disturbed, out):
    """Append each spike's review statistic (interpolation departure, local sigmas).

    ``out[name][interval]`` for each series of :func:`review_series` of the corrupted data.
    """
    c, t, w = (np.array(a) for a in zip(*spikes, strict=True))
    for name, x in series.items():
        z = _review_z(x, (w - 1, c, np.full(c.size, station), t))
        for (_, ti, wi), zi in zip(spikes, z, strict=True):
            key = "disturbed" if disturbed[station, ti:ti + wi].any() else "quiet"
            out[name][key].append(float(zi))


def untouched_review(series, station, disturbed, out, *, every=3, max_width=3):
    """Append the review statistic of the untouched data at its disturbed samples.

    Every ``every``-th disturbed sample of ``station`` (300 samples from either end), each
    component, the largest over candidate widths 1 to ``max_width``: what a threshold on
    the statistic would also mark where no spike was injected.
    """
    t = np.nonzero(disturbed[station])[0]
    t = t[(t >= 300) & (t < disturbed.shape[-1] - 300)][::every]
    n_c = next(iter(series.values())).shape[0]
    for name, x in series.items():
        z = np.full((n_c, t.size), -np.inf)
        for w in range(max_width):
            for c in range(n_c):
                idx = (np.full(t.size, w), np.full(t.size, c), np.full(t.size, station), t)
                z[c] = np.maximum(z[c], _review_z(x, idx))
        out[name].extend(z.ravel().tolist())


def frontier(spike_z, untouched_z, *, recalls=(0.63, 0.8, 0.9, 0.95), thresholds=(4, 6)):
    """Share of untouched disturbed samples a threshold on the statistic marks, per recall."""
    s, u = np.asarray(spike_z), np.asarray(untouched_z)
    rows = {f"recall_{r}": {"threshold": round(float(np.quantile(s, 1 - r)), 2)}
            for r in recalls}
    rows.update({f"threshold_{t}": {"threshold": t, "recall": round(float((s >= t).mean()), 3)}
                 for t in thresholds})
    for row in rows.values():
        row["untouched_share_marked"] = round(float((u >= row["threshold"]).mean()), 4)
    return {"n_spikes": int(s.size), "n_untouched": int(u.size), **rows}


def local_snr(d, spikes, unit, station, disturbed, out):
    """Append each spike's amplitude over the local sigma of the untouched residual's D."""
    for c, t, w in spikes:
        seg = d[w - 1, c, station, max(t - 60, 0):t + 60]
        seg = seg[np.isfinite(seg)]
        sigma = 1.4826 * np.median(np.abs(seg - np.median(seg)))
        key = "disturbed" if disturbed[station, t:t + w].any() else "quiet"
        out[key].append(float(20 * unit[c] / sigma))


def with_values(data, y):
    """Return ``data`` with its components replaced by ``y`` (component, station, time)."""
    ds = data.copy()
    for i, c in enumerate(COMPS):
        ds[c] = (("station", "time"), y[i], dict(data[c].attrs))
    return ds


def run_rule(data, y, rule, peer):
    ds = with_values(data, y)
    cfg = peer if rule == "peer" else CleaningConfig(rule=rule, k=3.0)
    t0 = time.perf_counter()
    result = clean_observatories(ds, cfg)
    dt = time.perf_counter() - t0
    flags = np.stack([result.cleaned[f"{c}_flag"].transpose("station", "time").values
                      for c in COMPS])
    return flags, dt


def run_stream(data, y, reference, peer):
    """The streaming peer rule: learned on the first ``reference`` samples, then pushed."""
    import xarray as xr

    ds = with_values(data, y)
    t0 = time.perf_counter()
    cleaner = StreamingPeerCleaner.from_reference(ds.isel(time=slice(0, reference)),
                                                  peer)
    step = max(int(3600 / float(data.attrs["sampling_period_s"])), 1)
    outs = [cleaner.push(ds.isel(time=slice(a, a + step)))
            for a in range(reference, ds.sizes["time"], step)] + [cleaner.flush()]
    streamed = xr.concat([o for o in outs if o is not None], dim="time", data_vars="all")
    dt = time.perf_counter() - t0
    flags = np.zeros(y.shape, dtype=np.int8)
    flags[..., reference:] = np.stack([streamed[f"{c}_flag"].transpose("station", "time").values
                                       for c in COMPS])
    return flags, dt


def run_method(m, data, y, reference, peer):
    if m == "magpy":
        return run_magpy(data, y)
    if m == "stream":
        return run_stream(data, y, reference, peer)
    return run_rule(data, y, "peer" if m == "peer_streamed_span" else m, peer)


def run_magpy(data, y):
    from magnetar.workflows.cleaning.evaluate import magpy_flag_outlier

    ds = with_values(data, y)
    t0 = time.perf_counter()
    mask = magpy_flag_outlier(ds, threshold=4.0, components=list(COMPS))
    dt = time.perf_counter() - t0
    return np.where(np.stack([mask[c] for c in COMPS]), 1, 0).astype(np.int8), dt


def score(flags, spikes, natural, station, disturbed, start=0):
    out = {"quiet": [0, 0, 0], "disturbed": [0, 0, 0]}
    spikes = [(c, t, w) for c, t, w in spikes if t >= start]
    natural = [(c, t, w) for c, t, w in natural if t >= start]
    for c, t, w in spikes:
        key = "disturbed" if disturbed[station, t:t + w].any() else "quiet"
        seg = flags[c, station, t:t + w]
        out[key][0] += 1
        out[key][1] += bool(np.isin(seg, (1, 2)).any())
        out[key][2] += bool(np.isin(seg, (1, 2, 4)).any())
    touched = sum(bool(np.isin(flags[c, :, t:t + w], (1, 2)).any()) for c, t, w in natural)
    return out, touched, len(natural)


def _peer_config(parser, items):
    """Return the CleaningConfig of ``--set NAME=VALUE`` items (a parser error if malformed)."""
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            options[name] = float(value) if "." in value else int(value)
        except ValueError:
            parser.error(f"--set {item!r}: expected NAME=NUMBER")
        if not sep or name not in {f.name for f in dataclasses.fields(CleaningConfig)}:
            parser.error(f"--set {item!r}: {name!r} is not a CleaningConfig option")
    try:
        return CleaningConfig(**options)
    except ValueError as err:  # ValidationError: a value the config refuses
        parser.error(f"--set: {err}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="peer,published,sharp,magpy",
                        help="comma-separated: peer, published, sharp, magpy, stream and "
                             "peer_streamed_span (the batch peer rule on stream's span)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "cleaning_dense.json"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a CleaningConfig option of the peer rule and the stream, e.g. "
                             "--set shape_factor=4 (repeatable; numbers only)")
    args = parser.parse_args(argv)
    peer = _peer_config(parser, args.set)  # the peer rule's and the stream's config
    methods = args.methods.split(",")
    if "magpy" in methods:
        try:
            import magpy  # noqa: F401
        except ImportError:
            methods.remove("magpy")
    totals = {m: {"recall": {}, "natural_touched": 0, "natural_total": 0,
                  "untouched_replaced": 0, "untouched_flagged": 0, "runtime_s": 0.0}
              for m in methods}
    station_days = dict.fromkeys(methods, 0.0)
    snr = {"quiet": [], "disturbed": []}
    review_z = {name: {"quiet": [], "disturbed": []} for name in ("own", "residual")}
    untouched_z = {"own": [], "residual": []}
    for window in WINDOWS:
        data = load(window)
        x = np.stack([data[c].transpose("station", "time").values for c in COMPS])
        period = float(data.attrs["sampling_period_s"])
        reference = int(round(86400 / period))  # the streaming rule learns on day one
        disturbed = disturbed_mask(x, period)
        series = review_series(data)
        d_untouched = residual_departure(series["residual"])
        for station in range(x.shape[1]):
            untouched_review(series, station, disturbed, untouched_z)
        for m in methods:
            start = reference if m in STREAMED else 0
            station_days[m] += (x.shape[-1] - start) * period / 86400 * x.shape[1]
            flags, dt = run_method(m, data, x, reference, peer)
            totals[m]["untouched_replaced"] += int(np.isin(flags[..., start:], (1, 2)).sum())
            totals[m]["untouched_flagged"] += int((flags[..., start:] == 4).sum())
        for station in range(x.shape[1]):
            unit = np.nanmedian(np.abs(np.diff(x[:, station], axis=-1)), axis=-1)
            for amp in AMPLITUDES:
                rng = np.random.default_rng(1000 * amp + 10 * station + WINDOWS.index(window))
                y, spikes, natural = inject(x, rng, station=station, amplitude=amp, unit=unit)
                if amp == 20:
                    local_snr(d_untouched, spikes, unit, station, disturbed, snr)
                    review_statistic(review_series(with_values(data, y)), spikes, station,
                                     disturbed, review_z)
                for m in methods:
                    flags, dt = run_method(m, data, y, reference, peer)
                    totals[m]["runtime_s"] += dt
                    counts, touched, n_natural = score(flags, spikes, natural, station,
                                                       disturbed,
                                                       reference if m in STREAMED else 0)
                    totals[m]["natural_touched"] += touched
                    totals[m]["natural_total"] += n_natural
                    for key, (n, rep, flg) in counts.items():
                        acc = totals[m]["recall"].setdefault(f"{amp}x", {}).setdefault(
                            key, [0, 0, 0])
                        acc[0] += n
                        acc[1] += rep
                        acc[2] += flg
    result = {"machine": describe(), "station_days": station_days, "methods": {}}
    for m, tot in totals.items():
        recall = {amp: {key: {"n": n, "replaced": round(rep / n, 4) if n else None,
                              "flagged_or_replaced": round(flg / n, 4) if n else None}
                        for key, (n, rep, flg) in parts.items()}
                  for amp, parts in tot["recall"].items()}
        result["methods"][m] = {
            "recall": recall,
            "natural_touched": tot["natural_touched"],
            "natural_total": tot["natural_total"],
            "untouched_replaced_per_station_day": round(tot["untouched_replaced"]
                                                        / station_days[m], 3),
            "untouched_flagged_per_station_day": round(tot["untouched_flagged"]
                                                       / station_days[m], 3),
            "runtime_s": round(tot["runtime_s"], 2),
        }
    for name, values in (("local_snr_20x", snr), ("review_z_20x", review_z["own"]),
                         ("review_z_residual_20x", review_z["residual"])):
        result[name] = {
            key: {"n": len(v), "quantiles_10_25_50_75": np.percentile(v, [10, 25, 50, 75])
                  .round(2).tolist(), "share_below_4": round(float(np.mean(np.array(v) < 4)), 3),
                  "share_below_6": round(float(np.mean(np.array(v) < 6)), 3)}
            for key, v in values.items()}
    result["review_frontier_20x_disturbed"] = {
        name: frontier(review_z[name]["disturbed"], untouched_z[name]) for name in untouched_z}
    result["config_peer"] = dataclasses.asdict(peer)
    path = Path(args.out)
    path.write_text(json.dumps(result, indent=1))
    shown = ("methods", "local_snr_20x", "review_z_20x", "review_z_residual_20x",
             "review_frontier_20x_disturbed")
    print(json.dumps({k: result[k] for k in shown}, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
