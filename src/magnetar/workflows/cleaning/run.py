"""``run_clean``: files in, cleaned files, tables and figures out (what the CLI calls)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ... import __version__
from ..._utils import atomic_path, output_folder, write_text_atomic
from ...config import save_config
from ...errors import ValidationError
from ...io import read_stations, write_iaga2002, write_imagcdf
from ...processing import align_stations, highpass, noise_sigma_daily, sampling_period_of
from .config import CleaningConfig
from .method import clean_observatories

__all__ = ["run_clean", "write_cleaning_outputs"]

LOGGER = logging.getLogger(__name__)


def _write_csv(frame, path, **kwargs):
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, **kwargs)
    return path


FORMATS = ("iaga2002", "imagcdf")


def _check_formats(formats):
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        msg = f"--format must be among {', '.join(FORMATS)}; got {','.join(formats)}"
        raise ValidationError(msg)


def write_cleaning_outputs(result, out_dir, *, stations=None, inputs=(), figures=True,
                           sigma_daily=None, formats=("iaga2002",)):
    """Write every output of a cleaning run into ``out_dir``.

    Parameters
    ----------
    result : CleaningResult
        What :func:`~.method.clean_observatories` returned.
    out_dir : path-like
        Output folder (created).
    stations : dict of str to xarray.Dataset, optional
        The stations as read: their header and the elements that were not cleaned go into
        the per-station files.
    inputs : sequence of path-like
        Input files: an output path equal to one of them is refused.
    figures : bool
        Write PNG figures.
    sigma_daily : xarray.Dataset, optional
        Noise sigma per day, written as a table and a figure.
    formats : sequence of str
        Per-station cleaned files: "iaga2002" and/or "imagcdf".

    Returns
    -------
    dict
        Name -> written path.
    """
    _check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {Path(p).resolve() for p in inputs}

    def target(name):
        path = out_dir / name
        if path.resolve() in inputs:
            msg = f"output {path} would overwrite an input file; choose another --out"
            raise ValidationError(msg)
        return path

    written = {}
    for name in result.cleaned["station"].values:
        written.update(_write_station(result, str(name), (stations or {}).get(str(name)),
                                      target, formats))
    written.update(_write_tables(result, target, sigma_daily))
    if figures:
        written.update(_write_figures(result, target, sigma_daily))
    written["config"] = save_config(
        result.config, target("config.toml"), section="clean",
        header=f"Resolved configuration of this run (magnetar {__version__}); "
               "re-run with: magnetar clean FILES --config config.toml",
    )
    return written


def _station_dataset(cleaned, comps, name, base):
    """One station's cleaned elements, with the uncleaned ones and the header as read."""
    ds = cleaned.sel(station=name, drop=True)
    station_ds = ds[comps].copy()
    if base is None:
        station_ds.attrs = {"iaga_code": name, "format": "IAGA-2002"}
        return ds, station_ds
    base = base.reindex(time=ds["time"].values)
    for var in base.data_vars:
        if var not in comps:
            station_ds[var] = base[var]
    station_ds = station_ds[[v for v in base.data_vars if v in station_ds]]
    station_ds.attrs = dict(base.attrs)
    for var in station_ds.data_vars:
        station_ds[var].attrs = dict(base[var].attrs)
    return ds, station_ds


def _write_station(result, name, base, target, formats):
    cleaned = result.cleaned
    comps = list(result.sigma["component"].values)
    ext = "sec" if float(cleaned.attrs.get("sampling_period_s", 60.0)) < 60 else "min"
    ds, station_ds = _station_dataset(cleaned, comps, name, base)
    replaced = int(sum(np.isin(ds[f"{c}_flag"].values, (1, 2)).sum() for c in comps))
    note = (
        f"Cleaned by magnetar {__version__}: rule={result.config.rule}, "
        f"k={result.config.threshold:g}, min_stations={result.config.min_stations}, "
        f"tolerance={result.config.tolerance}; {replaced} samples of {','.join(comps)} "
        "replaced; originals in cleaned.nc."
    )
    written = {}
    if "iaga2002" in formats:
        start = str(np.datetime_as_string(ds["time"].values[0], unit="D")).replace("-", "")
        path = target(f"{name.lower()}{start}clean.{ext}")
        written[f"iaga_{name}"] = write_iaga2002(station_ds, path, extra_comments=[note],
                                                 overwrite=True)
    if "imagcdf" in formats:
        stamp = np.datetime_as_string(ds["time"].values[0], unit="s").replace("-", "")
        stamp = stamp.replace("T", "_").replace(":", "")[: 13 if ext == "min" else 15]
        station_ds.attrs.setdefault("iaga_code", name)
        path = target(f"{name.lower()}_{stamp}_2.cdf")  # level 2: spikes removed
        written[f"imagcdf_{name}"] = write_imagcdf(station_ds, path, publication_level="2",
                                                   overwrite=True)
    return written


def _write_tables(result, target, sigma_daily):
    path = target("cleaned.nc")
    with atomic_path(path, suffix=".nc") as tmp:
        result.cleaned.to_netcdf(tmp)
    written = {"netcdf": path}
    written["events"] = _write_csv(result.events, target("events.csv"), index=False)
    written["summary"] = _write_csv(result.summary, target("summary.csv"))
    written["sigma"] = _write_csv(result.sigma.to_pandas(), target("sigma.csv"))
    if result.sync is not None:
        written["sync"] = _write_csv(result.sync, target("sync.csv"), index=False)
    if sigma_daily is not None:
        frame = sigma_daily.to_dataframe().reset_index()
        written["sigma_daily"] = _write_csv(frame, target("sigma_daily.csv"), index=False)
    return written


def _write_figures(result, target, sigma_daily):
    from ...plot import plot_cleaning, plot_sigma_daily, save_figure

    written = {}
    for comp in result.sigma["component"].values:
        fig = plot_cleaning(result.cleaned, comp, events=result.events)
        written[f"figure_{comp}"] = save_figure(fig, target(f"magnetograms_{comp}.png"))
    if sigma_daily is not None:
        written["figure_sigma"] = save_figure(plot_sigma_daily(sigma_daily),
                                              target("sigma_daily.png"))
    return written


def run_clean(paths, out_dir, config=None, *, figures=True, progress=False,
              formats=("iaga2002",)):
    """Read IAGA-2002 or ImagCDF files of several stations, clean them, write all outputs.

    Parameters
    ----------
    paths : sequence of path-like
        IAGA-2002 files (one element per file, several days, ``.gz``/``.zip`` all fine) or
        ImagCDF files (``.cdf``).
    out_dir : path-like
        Output folder (created).
    config : CleaningConfig, optional
    figures : bool
        Write PNG figures.
    progress : bool
        Progress bars.
    formats : sequence of str
        Per-station output formats: "iaga2002" and/or "imagcdf".

    Returns
    -------
    (CleaningResult, dict of written paths)
    """
    config = config or CleaningConfig()
    _check_formats(formats)
    output_folder(out_dir)
    stations = read_stations(paths, progress=progress)
    if len(stations) < 2:
        msg = (
            f"the coincidence rule needs at least two stations; the files hold only "
            f"{', '.join(stations)}"
        )
        raise ValidationError(msg)
    data = align_stations(stations, components=config.components)
    LOGGER.info("cleaning %d stations x %d samples (%s)", data.sizes["station"],
                data.sizes["time"], ", ".join(data.data_vars))
    result = clean_observatories(data, config, progress=progress)
    # same filter settings as the cleaning itself, so the daily sigma matches its sigma
    cutoff = 1 / config.cutoff_for(sampling_period_of(data))
    hp = highpass(data, cutoff=cutoff, order=config.order,
                  zero_phase=config.zero_phase, max_gap=config.max_gap)
    daily = noise_sigma_daily(hp, window=config.sigma_window, trim=config.sigma_trim)
    written = write_cleaning_outputs(result, out_dir, stations=stations, inputs=paths,
                                     figures=figures, sigma_daily=daily, formats=formats)
    text = result.summary.to_string()
    write_text_atomic(Path(out_dir) / "summary.txt", text + "\n")
    return result, written


def summary_lines(result):
    """Short human summary of a result (for the CLI)."""
    events = result.events
    counts = events["class"].value_counts().to_dict() if len(events) else {}
    replaced = int(sum(np.isin(result.cleaned[f"{c}_flag"].values, (1, 2)).sum()
                       for c in result.sigma["component"].values))
    lines = [
        f"{len(events)} events: {counts.get('interference', 0)} interference (replaced), "
        f"{counts.get('natural', 0)} natural (kept), "
        f"{counts.get('undetermined', 0)} undetermined (kept); {replaced} samples replaced",
        pd.DataFrame(result.summary).to_string(),
    ]
    return lines
