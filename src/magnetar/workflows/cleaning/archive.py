"""Archive-scale cleaning on Dask: years of many observatories, one UTC day per task.

``clean_archive`` cleans many days of many stations with the peer rule without holding the
archive in memory, on a local Dask cluster (``workers``) or an existing one (``scheduler``).
Dask schedules; nothing here is a scheduler. What is written here is the decomposition, which
no library knows: how a day must be surrounded by its neighbours so that cleaning it alone
decides exactly as one in-memory run over the whole archive would
(:func:`~.method.clean_observatories` with ``period_s=86400``; tested).

1. *Ingest* (one task per input file): IAGA-2002 or ImagCDF files are read once and written
   as one array per station, day and element into ``out/work`` (read back memory-mapped).
2. *Own statistics* (one task per day): high-pass (the day's high-passed samples are
   written to ``work/hp``), the spike statistic's robust sigma, its hits (``work/hits``, as
   flat indices: the samples the peer fits leave out) and the choice of peers of that day,
   and the day's synchronisation check.
3. *Residual statistics* (per day): the peer prediction, fitted once (the day's predicted
   samples are written to ``work/prediction``), the residual's sigmas.
4. *Decisions* (per day): spikes, classes and replacements for the day's samples only,
   from the statistics, high-passed series and predictions of the day and its neighbours;
   per-day outputs written by the worker.

Each pass reads its day with a halo on both sides (:func:`_halos`): the own pass a settling
length of the high-pass filter (its slowest pole decays to 1e-13 within one), the residual
pass one prediction block, the decision pass a settling length for refiltering the slow
part around replaced samples, each plus the spike rule's reach. Filtering and fitting are
done once per sample, not once per pass. Memory per task is bounded by one day plus its
halo, whatever the archive's length. Statistics travel between tasks (a few hundred kB per
day); series go through the work folder: the raw archive (removed at the end) and each
day's high-passed series, prediction and own hits, removed as soon as the last decision
that reads them is made, so that only a few days of them exist at a time.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ... import __version__
from ..._dask import close_client, compute, open_client
from ..._utils import atomic_path, check_number, output_folder, write_text_atomic
from ...config import save_config
from ...errors import FileFormatError, ValidationError
from ...processing._peer import Periods, _dependency_margin, peer_events
from ...processing._sync import sync_check
from .._pipeline import Pipeline
from .config import CleaningConfig
from .method import (
    _step_highpass,
    _step_validate,
    build_cleaning_pipeline,
    peer_options,
    summary_table,
)
from .run import FORMATS

__all__ = [
    "ArchiveLayout",
    "archive_halo",
    "clean_archive",
    "clean_ingested",
    "ingest_dataset",
    "make_layout",
]

LOGGER = logging.getLogger(__name__)
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class ArchiveLayout:
    """The ingested archive: where its arrays are and the time grid they share.

    Attributes
    ----------
    work : str
        Folder of the per-station, per-day arrays (``raw/<station>/<day>/<file>_<element>.npy``).
    stations, components : tuple of str
        Station codes (in the order first met) and the components cleaned.
    step_ns : int
        Sampling period in nanoseconds.
    first_ns, last_ns : int
        First and last sample of the archive (any station), ns since 1970.
    headers : tuple of (str, str)
        Each station's header attributes as read (JSON), for its output files.
    """

    work: str
    stations: tuple
    components: tuple
    step_ns: int
    first_ns: int
    last_ns: int
    headers: tuple

    @property
    def days(self):
        """Return the UTC days the archive covers (days since 1970)."""
        return list(range(self.first_ns // DAY_NS, self.last_ns // DAY_NS + 1))

    @property
    def per_day(self):
        """Return the number of samples in a day."""
        return DAY_NS // self.step_ns

    def index(self, ns):
        """Sample index on the archive's axis of a time (ns since 1970)."""
        return (ns - self.first_ns) // self.step_ns

    @property
    def n_samples(self):
        """Return the number of samples on the archive's axis."""
        return self.index(self.last_ns) + 1


def archive_halo(config, sampling_period):
    """Return the most samples any of a day's tasks reads on each side of the day.

    See :func:`_halos`: the largest of the three passes' halos.
    """
    return max(_halos(config, sampling_period).values())


def _halos(config, sampling_period):
    """Return the samples each pass reads around its day to decide as one in-memory run.

    ``settle`` is the zero-phase high-pass filter's settling length (30 time constants of
    its slowest pole: its response falls to e^-30 ~ 1e-13 within it); ``reach`` is how far
    the spike rule looks (flanks, block MAD, tolerance, padding, lags). The own pass
    filters the raw data (a settling length beyond the samples it uses); the residual pass
    fits the first and last blocks of its neighbours whole (one prediction block); the
    decision pass needs its replacement mask a settling length around the day, where the
    slow part is refiltered. The later passes read the high-passed series and the
    prediction the earlier ones wrote, so they need no settling length of their own.
    """
    cutoff = config.cutoff_for(sampling_period) / sampling_period
    tau = cutoff / (2 * math.pi * math.sin(math.pi / (2 * config.order)))
    settle = math.ceil(30 * tau)
    block = peer_options(config, sampling_period)["block"]
    reach = _reach(config)
    return {"own": settle + reach, "residual": block + reach, "decide": settle + 2 * reach}


def _reach(config):
    return (_dependency_margin(config.mad_window, config.flank, config.max_width,
                               config.tolerance) + config.pad + config.lags + 8)


# ---------------------------------------------------------------------------- ingest
def _ingest_file(number, path, raw_dir):
    """Read one file; write one array per (station, day, element); describe what it held."""
    from ...io import read_magnetogram

    return ingest_dataset(read_magnetogram(path), raw_dir, number=number, source=str(path))


def ingest_dataset(ds, raw_dir, *, number, source):
    """Write one station's dataset (dimension time) into an archive's work folder.

    Parameters
    ----------
    ds : xarray.Dataset
        One station (``iaga_code`` and ``sampling_period_s`` attributes), any span.
    raw_dir : path-like
        The archive's ``work/raw`` folder.
    number : int
        A number unique to this piece (pieces of the same station and day are merged).
    source : str
        Where it came from (for messages).

    Returns
    -------
    dict
        What the piece held (station, cadence, elements, span, header) for :func:`make_layout`.
    """
    from ...io._iaga2002 import _station_code

    path = source
    code = _station_code(ds, path)
    period = float(ds.attrs.get("sampling_period_s", np.nan))
    if not np.isfinite(period) or period <= 0 or (86400.0 / period) % 1:
        msg = f"{path}: sampling period {period} s does not divide a day"
        raise FileFormatError(msg)
    step = int(round(period * 1e9))
    times = ds["time"].values.astype("datetime64[ns]").astype(np.int64)
    if np.any(times % step):
        msg = f"{path}: sample times are not on the {period:g} s grid from midnight"
        raise FileFormatError(msg)
    day = times // DAY_NS
    held = {}
    for d in np.unique(day):
        rows = np.flatnonzero(day == d)
        slot = (times[rows] - d * DAY_NS) // step
        folder = Path(raw_dir) / code / str(int(d))
        folder.mkdir(parents=True, exist_ok=True)
        for name in ds.data_vars:
            values = ds[name].values[rows].astype(np.float64)
            if not np.isfinite(values).any():
                continue
            arr = np.full(DAY_NS // step, np.nan)
            arr[slot] = values
            with atomic_path(folder / f"{number:06d}_{name}.npy", suffix=".npy") as tmp:
                np.save(tmp, arr)
            held.setdefault(name, 0)
            held[name] += 1
    header = {k: (v if isinstance(v, (str, int, float)) else str(v))
              for k, v in ds.attrs.items()}
    return {"station": code, "step_ns": step, "elements": list(held), "path": str(path),
            "first": int(times[0]), "last": int(times[-1]), "header": header}


def make_layout(described, work, components=None):
    """Return the archive's :class:`ArchiveLayout` from what :func:`ingest_dataset` returned."""
    steps = {d["step_ns"] for d in described}
    if len(steps) != 1:
        listed = "; ".join(f"{d['path']} {d['step_ns'] / 1e9:g} s" for d in described)
        msg = f"the files have different sampling periods: {listed}"
        raise ValidationError(msg)
    stations, elements, headers = [], {}, {}
    for d in described:
        if d["station"] not in stations:
            stations.append(d["station"])
            headers[d["station"]] = d["header"]
        elements.setdefault(d["station"], [])
        elements[d["station"]] += [e for e in d["elements"] if e not in elements[d["station"]]]
    if len(stations) < 2:
        msg = f"the coincidence rule needs at least two stations; the files hold only {stations}"
        raise ValidationError(msg)
    if components:
        lacking = {s: [c for c in components if c not in elements[s]] for s in stations}
        lacking = {s: c for s, c in lacking.items() if c}
        if lacking:
            msg = f"component(s) missing at some stations: {lacking}"
            raise ValidationError(msg)
        comps = list(components)
    else:
        comps = [e for e in elements[stations[0]] if all(e in elements[s] for s in stations)]
        if not comps:
            msg = f"the stations share no component: {elements}"
            raise ValidationError(msg)
    return ArchiveLayout(
        work=str(work), stations=tuple(stations), components=tuple(comps),
        step_ns=steps.pop(), first_ns=min(d["first"] for d in described),
        last_ns=max(d["last"] for d in described),
        headers=tuple((s, json.dumps(headers[s])) for s in stations),
    )


def _load(layout, g0, g1):
    """Return samples g0..g1 of every component and station, (component, station, time)."""
    out = np.full((len(layout.components), len(layout.stations), g1 - g0), np.nan)
    t0 = layout.first_ns + g0 * layout.step_ns
    t1 = layout.first_ns + g1 * layout.step_ns
    raw = Path(layout.work) / "raw"
    for d in range(t0 // DAY_NS, (t1 - 1) // DAY_NS + 1):
        day_first = layout.index(d * DAY_NS)  # may be negative on the first day
        lo, hi = max(g0, day_first), min(g1, day_first + layout.per_day)
        for s, station in enumerate(layout.stations):
            folder = raw / station / str(d)
            for c, comp in enumerate(layout.components):
                for piece in sorted(folder.glob(f"*_{comp}.npy")):
                    arr = np.load(piece, mmap_mode="r")[lo - day_first:hi - day_first]
                    have = out[c, s, lo - g0:hi - g0]
                    both = np.isfinite(have) & np.isfinite(arr)
                    if np.any(np.abs(have[both] - arr[both]) > 1e-6):
                        msg = (f"station {station} {comp} on day {_date(d)}: two input files "
                               "disagree where they overlap")
                        raise FileFormatError(msg)
                    out[c, s, lo - g0:hi - g0] = np.where(np.isfinite(have), have, arr)
    return out


def _date(day):
    return str(np.datetime64(int(day), "D"))


# ---------------------------------------------------------------------------- one day
@dataclass(frozen=True)
class _Window:
    times: np.ndarray
    core: tuple
    periods: Periods
    g0: int
    g1: int


def _window(layout, day, halo):
    """Return the samples a day's task reads: the day and ``halo`` samples on each side."""
    c0 = max(layout.index(day * DAY_NS), 0)
    c1 = min(layout.index((day + 1) * DAY_NS), layout.n_samples)
    g0, g1 = max(c0 - halo, 0), min(c1 + halo, layout.n_samples)
    times = (layout.first_ns + np.arange(g0, g1) * layout.step_ns).astype("datetime64[ns]")
    days = range((layout.first_ns + g0 * layout.step_ns) // DAY_NS,
                 (layout.first_ns + (g1 - 1) * layout.step_ns) // DAY_NS + 1)
    starts = [max(layout.index(d * DAY_NS), 0) - g0 for d in days]
    periods = Periods(np.array(starts, dtype=np.int64), np.array(list(days), dtype=np.int64))
    return _Window(times=times, core=(c0 - g0, c1 - g0), periods=periods, g0=g0, g1=g1)


def _dataset(layout, win):
    """Return the raw data of a window as the cleaning pipeline takes it."""
    values = _load(layout, win.g0, win.g1)
    return xr.Dataset(
        {comp: (("station", "time"), values[i], {"units": "nT"})
         for i, comp in enumerate(layout.components)},
        coords={"station": list(layout.stations), "time": win.times},
        attrs={"sampling_period_s": layout.step_ns / 1e9},
    )


def _save_day(layout, kind, day, array):
    """Write one day's array of a pass atomically (``work/<kind>/<day>.npy``)."""
    folder = Path(layout.work) / kind
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{day}.npy", suffix=".npy") as tmp:
        np.save(tmp, array)


def _save_core(layout, kind, day, core, values):
    """Write a pass's series over the day's own samples ``core`` (``work/<kind>/<day>.npy``)."""
    _save_day(layout, kind, day, np.ascontiguousarray(values[..., core[0]:core[1]]))


def _day_span(layout, day):
    """Return the archive's samples ``c0..c1`` of a day."""
    return (max(layout.index(day * DAY_NS), 0),
            min(layout.index((day + 1) * DAY_NS), layout.n_samples))


def _load_saved(layout, kind, win):
    """Return an earlier pass's series over a window, from the days' saved cores."""
    out = None
    for d in win.periods.labels.tolist():
        c0, c1 = _day_span(layout, d)
        lo, hi = max(c0, win.g0), min(c1, win.g1)
        arr = np.load(Path(layout.work) / kind / f"{d}.npy", mmap_mode="r")
        if out is None:  # every day of a kind has the same leading shape and type
            out = np.full(arr.shape[:-1] + (win.g1 - win.g0,), np.nan, dtype=arr.dtype)
        out[..., lo - win.g0:hi - win.g0] = arr[..., lo - c0:hi - c0]
    return out


def _save_hits(layout, day, core, hits):
    """Write the day's own spike hits (few) as flat indices of its (width, ..., day) array."""
    _save_day(layout, "hits", day, np.flatnonzero(hits[..., core[0]:core[1]]))


def _load_hits(layout, win, max_width):
    """Return the own spike hits over a window, (width, component, station, time)."""
    out = np.zeros((max_width, len(layout.components), len(layout.stations),
                    win.g1 - win.g0), dtype=bool)
    for d in win.periods.labels.tolist():
        c0, c1 = _day_span(layout, d)
        w, c, s, t = np.unravel_index(np.load(Path(layout.work) / "hits" / f"{d}.npy"),
                                      out.shape[:-1] + (c1 - c0,))
        t = t + c0 - win.g0
        keep = (t >= 0) & (t < out.shape[-1])
        out[w[keep], c[keep], s[keep], t[keep]] = True
    return out


def _merge_stats(results):
    stats = {}
    for res in results:
        for name, table in res["stats"].items():
            stats.setdefault(name, {}).update(table)
    return stats


def _own_statistics(layout, day, config):
    """Task 2: high-pass the day (kept on disk), its sigma, its peers, its synchronisation."""
    win = _window(layout, day, _halos(config, layout.step_ns / 1e9)["own"])
    data = _dataset(layout, win)
    ctx = {"data": data}
    ctx.update(_step_validate(ctx, config=config))
    ctx.update(_step_highpass(ctx, config=config))
    _save_core(layout, "hp", day, win.core, ctx["hp"])
    # the spike statistic and the peers need the day and the spike rule's reach only: the
    # rest of the halo is there for the filter to settle
    reach = _reach(config)
    lo, hi = max(win.core[0] - reach, 0), min(win.core[1] + reach, ctx["hp"].shape[-1])
    stats = {}
    found = peer_events(ctx["hp"][..., lo:hi], **peer_options(config, ctx["period"]),
                        periods=win.periods.within(lo, hi), stats=stats, until="own")
    # the day's own spike hits (its own sigma) for the peer fits
    _save_hits(layout, day, (win.core[0] - lo, win.core[1] - lo), found["hits"])
    keep = {name: {day: table[day]} for name, table in stats.items() if day in table}
    sync = None
    core = data.isel(time=slice(*win.core))
    if core.sizes["time"] >= 4 * config.sync_max_lag + 4:
        sync = sync_check(core, component=config.sync_component or ctx["comps"][0],
                          max_lag=config.sync_max_lag)
        sync.insert(0, "day", _date(day))
    return {"day": day, "stats": keep, "sync": sync}


def _residual_statistics(layout, day, config, own):
    """Task 3: the day's peer prediction (kept on disk) and its residual's sigmas."""
    period = layout.step_ns / 1e9
    win = _window(layout, day, _halos(config, period)["residual"])
    stats = _merge_stats(own)
    found = peer_events(_load_saved(layout, "hp", win), **peer_options(config, period),
                        periods=win.periods, stats=stats, until="residual", core=win.core,
                        own_hits=_load_hits(layout, win, config.max_width))
    _save_core(layout, "prediction", day, win.core, found["prediction"])
    keep = {name: {day: stats[name][day]} for name in ("sigma_res", "sigma")}
    return {"day": day, "stats": keep}


def _decide_day(layout, day, config, own, residual, out_dir, formats):
    """Task 4: clean the day's samples; write the day's files; return its events."""
    win = _window(layout, day, _halos(config, layout.step_ns / 1e9)["decide"])
    data = _dataset(layout, win)
    context = {"periods": win.periods, "stats": _merge_stats(list(own) + list(residual)),
               "estimate": set(), "core": win.core,
               "prediction": _load_saved(layout, "prediction", win)}
    steps = build_cleaning_pipeline(config, peer_context=context).steps
    # the high-pass is the own pass's (written to disk); the raw data enter as they are
    pipeline = Pipeline([(name, step) for name, step in steps if name != "highpass"])
    x = np.stack([data[c].values for c in layout.components])
    ctx = pipeline.run({"data": data, "x": x, "hp": _load_saved(layout, "hp", win)})
    lo, hi = win.core
    cleaned = ctx["cleaned_ds"].isel(time=slice(lo, hi))
    events = ctx["events_df"]
    written = _write_day(layout, day, cleaned, events, config, out_dir, formats)
    replaced = {comp: int(np.isin(cleaned[f"{comp}_flag"].values, (1, 2)).sum())
                for comp in layout.components}
    return {"day": day, "events": events, "replaced": replaced, "written": written}


def _write_day(layout, day, cleaned, events, config, out_dir, formats):
    from ...io import write_iaga2002, write_imagcdf

    stamp = _date(day).replace("-", "")
    folder = Path(out_dir) / "days"
    folder.mkdir(parents=True, exist_ok=True)
    cleaned.attrs["magnetar_day"] = _date(day)
    path = folder / f"cleaned_{stamp}.nc"
    with atomic_path(path, suffix=".nc") as tmp:
        cleaned.to_netcdf(tmp)
    written = [str(path)]
    headers = dict(layout.headers)
    ext = "sec" if layout.step_ns < 60 * 10**9 else "min"
    for name in layout.stations:
        ds = cleaned.sel(station=name, drop=True)[list(layout.components)]
        ds.attrs = {**json.loads(headers[name]), "iaga_code": name}
        n_rep = sum(int(np.isin(cleaned[f"{c}_flag"].sel(station=name).values, (1, 2)).sum())
                    for c in layout.components)
        note = (f"Cleaned by magnetar {__version__} (archive path): rule=peer, "
                f"k={config.threshold:g}; {n_rep} samples replaced; originals in "
                f"days/cleaned_{stamp}.nc.")
        if "iaga2002" in formats:
            target = Path(out_dir) / "iaga" / f"{name.lower()}{stamp}clean.{ext}"
            target.parent.mkdir(exist_ok=True)
            written.append(str(write_iaga2002(ds, target, extra_comments=[note],
                                              overwrite=True)))
        if "imagcdf" in formats:
            target = Path(out_dir) / "imagcdf" / f"{name.lower()}_{stamp}_2.cdf"
            target.parent.mkdir(exist_ok=True)
            written.append(str(write_imagcdf(ds, target, publication_level="2",
                                             overwrite=True)))
    return written


# ---------------------------------------------------------------------------- driver
def _check(config, workers, formats):
    if config.rule != "peer":
        msg = (f"the archive path implements the peer rule only; rule={config.rule!r} needs "
               "the in-memory path (leave out --workers/--scheduler)")
        raise ValidationError(msg)
    if config.apply_sync:
        msg = ("apply_sync is not available on the archive path: it reports the "
               "synchronisation per day in sync.csv; correct the timing and re-run")
        raise ValidationError(msg)
    if not config.zero_phase:
        msg = "the archive path uses the zero-phase filter (zero_phase=true)"
        raise ValidationError(msg)
    check_number(workers, option="--workers", minimum=1, integer=True)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        msg = f"--format must be among {', '.join(FORMATS)}; got {','.join(formats)}"
        raise ValidationError(msg)


def clean_archive(paths, out_dir, config=None, *, workers=1, scheduler=None, client=None,
                  formats=("iaga2002",), progress=False, keep_work=False):
    """Clean many days of many observatories day by day on Dask (module docstring).

    Parameters
    ----------
    paths : sequence of path-like
        IAGA-2002 or ImagCDF files, any number of days and stations, in any order.
    out_dir : path-like
        Output folder: ``days/cleaned_YYYYMMDD.nc`` (cleaned values, originals and flags),
        per-station files per day (``iaga/``, ``imagcdf/``), the merged ``events.csv``,
        ``summary.csv``, ``sigma_daily.csv``, ``sync.csv`` and ``config.toml``.
    config : CleaningConfig, optional
        The peer rule's options; ``period_s`` is set to one day.
    workers : int
        Local Dask workers (processes of one thread); 1 runs in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (its workers must see ``out_dir``).
    client : distributed.Client, optional
        A client to use instead of starting one.
    formats : sequence of str
        Per-station daily files: "iaga2002" and/or "imagcdf" (netCDF is always written).
    progress : bool
        Progress bars.
    keep_work : bool
        Keep the ingested arrays (``out_dir/work``) after a successful run.

    Returns
    -------
    dict
        ``events`` (DataFrame), ``summary``, ``sigma_daily``, ``sync``, ``layout`` and
        ``written`` (name -> path).
    """
    import dask

    config = replace(config or CleaningConfig(), period_s=86400.0)
    _check(config, workers, formats)
    paths = [Path(p) for p in paths]
    if not paths:
        msg = "no input files given"
        raise ValidationError(msg)
    out_dir = output_folder(out_dir)
    _refuse_overwriting(paths, out_dir)
    work = Path(out_dir) / "work"
    own_client = client is None
    if own_client:
        client = open_client(workers=workers, scheduler=scheduler)
    try:
        ingest = [dask.delayed(_ingest_file)(i, str(p), str(work / "raw"))
                  for i, p in enumerate(paths)]
        layout = make_layout(compute(ingest, client, progress=progress, what="reading"), work,
                             config.components)
        out = clean_ingested(layout, out_dir, config, client=client, formats=formats,
                             progress=progress)
    finally:
        if own_client and client is not None:
            close_client(client)
    if not keep_work:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return out


def _pick(result, key):
    return {"day": result["day"], key: result[key]}


def clean_ingested(layout, out_dir, config, *, client=None, formats=("iaga2002",),
                   progress=False):
    """Clean an ingested archive (:class:`ArchiveLayout`) day by day; see :func:`clean_archive`.

    Only per-day summaries come back to this process: the high-passed series and the
    predictions pass from the task that makes them to the tasks that use them through the
    work folder.
    """
    import dask

    config = replace(config, period_s=86400.0)
    days = layout.days
    LOGGER.info("%d stations x %d days (%s)", len(layout.stations), len(days),
                ", ".join(layout.components))
    near = {d: _near(d, days, layout, config) for d in days}
    own = _per_day(days, lambda d: dask.delayed(_own_statistics)(layout, d, config))
    res = _per_day(days, lambda d: dask.delayed(_residual_statistics)(
        layout, d, config, [own[e] for e in near[d]]))
    decided = _per_day(days, lambda d: dask.delayed(_decide_day)(
        layout, d, config, [own[e] for e in near[d]], [res[e] for e in near[d]],
        str(out_dir), tuple(formats)))
    dropped = _per_day(days, lambda d: dask.delayed(_drop_derived)(
        layout, d, [decided[e] for e in near[d]]))
    decided = [decided[d] for d in days]
    sigmas = [dask.delayed(_pick)(res[d], "stats") for d in days]
    results = compute(decided + list(own.values()) + sigmas + list(dropped.values()), client,
                      progress=progress, what="cleaning")
    n = len(days)
    out = _write_archive_tables(layout, config, results[:n], results[n:2 * n],
                                results[2 * n:3 * n], out_dir)
    out["layout"] = layout
    return out


def _per_day(days, make):
    """Return ``{day: make(day)}``, the tasks of earlier days given a higher Dask priority.

    A cluster then finishes days roughly in order, so that each day's derived series are
    dropped soon after they are made (the synchronous scheduler keeps its own order).
    """
    import dask

    out = {}
    for d in days:
        with dask.annotate(priority=-int(d)):
            out[d] = make(d)
    return out


def _drop_derived(layout, day, readers):
    """Remove a day's high-passed series, prediction and hits (``readers`` are done).

    Every task that reads them is a day's decision in the day's reach, or comes before
    one; removed then, they rarely outlive the page cache, and the work folder holds the
    raw archive and a few days of derived series, whatever the archive's length.
    """
    del readers  # a dependency only
    for kind in ("hp", "prediction", "hits"):
        (Path(layout.work) / kind / f"{day}.npy").unlink(missing_ok=True)
    return day


def _refuse_overwriting(paths, out_dir):
    out = Path(out_dir).resolve()
    ours = {out / f"{n}.csv" for n in ("events", "summary", "sigma_daily", "replaced_daily",
                                        "sync")} | {out / "config.toml", out / "summary.txt"}
    for p in paths:
        p = p.resolve()
        if p in ours or any(part in p.parents for part in
                            (out / "days", out / "iaga", out / "imagcdf", out / "work")):
            msg = f"input {p} lies where this run writes its outputs; choose another --out"
            raise ValidationError(msg)


def _near(day, days, layout, config):
    """Days whose data a day's halo reaches."""
    halo_ns = archive_halo(config, layout.step_ns / 1e9) * layout.step_ns
    first = (day * DAY_NS - halo_ns) // DAY_NS
    last = ((day + 1) * DAY_NS - 1 + halo_ns) // DAY_NS
    return [d for d in days if first <= d <= last]


def _write_archive_tables(layout, config, decided, own, residual, out_dir):
    frames = [r["events"] for r in decided if len(r["events"])]
    events = (pd.concat(frames, ignore_index=True) if frames else decided[0]["events"])
    events = events.sort_values(["time", "station", "component"], kind="stable",
                                ignore_index=True)
    summary = summary_table(events, list(layout.stations))
    rows = []
    for r in residual:
        sigma = r["stats"]["sigma"][r["day"]]
        for c, comp in enumerate(layout.components):
            for s, station in enumerate(layout.stations):
                rows.append({"day": _date(r["day"]), "component": comp, "station": station,
                             "sigma_nT": float(sigma[c, s])})
    sigma_daily = pd.DataFrame(rows)
    syncs = [r["sync"] for r in own if r["sync"] is not None]
    sync = pd.concat(syncs, ignore_index=True) if syncs else None
    replaced = pd.DataFrame([{"day": _date(r["day"]), **r["replaced"]} for r in decided])
    written = {}
    for name, frame, index in (("events", events, False), ("summary", summary, True),
                               ("sigma_daily", sigma_daily, False),
                               ("replaced_daily", replaced, False), ("sync", sync, False)):
        if frame is None:
            continue
        path = Path(out_dir) / f"{name}.csv"
        with atomic_path(path, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=index)
        written[name] = path
    written["config"] = save_config(
        config, Path(out_dir) / "config.toml", section="clean",
        header=f"Resolved configuration of this archive run (magnetar {__version__})")
    write_text_atomic(Path(out_dir) / "summary.txt", summary.to_string() + "\n")
    for r in decided:
        for i, path in enumerate(r["written"]):
            written[f"day_{_date(r['day'])}_{i}"] = Path(path)
    return {"events": events, "summary": summary, "sigma_daily": sigma_daily, "sync": sync,
            "written": written}
