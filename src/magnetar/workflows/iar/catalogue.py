"""IAR catalogue of many nights on Dask: raw series -> spectrogram -> U-Net -> f_n, delta_f.

``run_catalogue`` turns years of 100 Hz search-coil files (miniSEED, IAGA-2002, ``.npy``)
into one table with a row per night: whether Ionospheric Alfven Resonance fringes were
seen, for how long, their spacing delta_f (median, spread) and how many fringes. It runs on a
local Dask cluster (``workers``) or an existing one (``scheduler``); Dask schedules, this
module only cuts the work:

1. one task per file: band-pass and Welch spectrogram (:func:`.run.file_spectrogram`),
   written to ``out/spectra/`` (a few MB per day; the raw series is never held twice);
2. one task per batch of consecutive nights: the night's columns gathered from the spectra
   of the files that cover it (a night crosses midnight, so usually two daily files), the
   U-Net run on the batch at once (the model is loaded once per worker), the resonance
   parameters, a per-night netCDF (and figure on request) and a per-night JSON row.

Resumable: a file whose spectrum exists and a night whose row exists (for the same
options, model and threshold) are not redone, so an interrupted run continues where it
stopped. The catalogue (``catalogue.csv``, ``catalogue.nc``) is rebuilt from the rows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ... import __version__
from ..._dask import close_client, compute, open_client
from ..._utils import atomic_path, check_number, output_folder, unique_stems, write_text_atomic
from ...config import save_config
from ...errors import FileFormatError, MagnetarError, ValidationError

__all__ = ["CatalogueConfig", "run_catalogue"]

_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


@dataclass(frozen=True)
class CatalogueConfig:
    """Options of ``magnetar iar catalogue``.

    Spectrogram: ``low``/``high`` band-pass (Hz, Butterworth ``order``, zero phase),
    ``segment_s``, ``nfft``, ``overlap`` (Welch), ``fmin``/``fmax`` crop (and never beyond
    the filter's flat band). Nights: ``night_start``/``night_end`` (UT), ``min_fraction``
    (nights with less data are listed as such, not analysed). Parameters:
    ``delta_f_range`` (Hz) and ``smooth`` (:func:`magnetar.processing.resonance_parameters`);
    a night has IARs when a spacing is measured in at least ``min_columns`` columns
    (10 minutes at 100-s columns). ``batch_nights`` nights go through the U-Net at once.
    ``sampling_rate`` is needed for ``.npy`` and text files (their start is the date in
    their name, 00:00 UT).
    """

    low: float = 0.5
    high: float = 10.0
    order: int = 4
    segment_s: float = 100.0
    nfft: int = 4096
    overlap: float = 0.5
    fmin: float = 0.5
    fmax: float = 10.0
    night_start: str = "18:00"
    night_end: str = "06:00"
    min_fraction: float = 0.5
    delta_f_range: tuple = (0.1, 1.5)
    smooth: int = 5
    min_columns: int = 6
    batch_nights: int = 8
    sampling_rate: float | None = None

    def __post_init__(self):
        check_number(self.segment_s, option="segment_s", minimum=0, inclusive=False)
        check_number(self.nfft, option="nfft", minimum=16, integer=True)
        check_number(self.overlap, option="overlap", minimum=0, maximum=0.95)
        check_number(self.order, option="order", minimum=1, maximum=12, integer=True)
        check_number(self.low, option="low", minimum=0, inclusive=False)
        check_number(self.high, option="high", minimum=self.low, inclusive=False)
        check_number(self.min_fraction, option="min_fraction", minimum=0, maximum=1)
        check_number(self.min_columns, option="min_columns", minimum=1, integer=True)
        check_number(self.batch_nights, option="batch_nights", minimum=1, integer=True)
        from .run import _check_clock

        _check_clock(self.night_start, "night_start")
        _check_clock(self.night_end, "night_end")

    def spectrogram_options(self):
        """Return the options of the spectrogram step."""
        return {k: getattr(self, k) for k in ("low", "high", "order", "segment_s", "nfft",
                                              "overlap", "fmin", "fmax", "sampling_rate")}


def _start_from_name(path):
    match = _DATE.search(Path(path).name)
    if match is None:
        msg = (".npy and text files carry no time: put the date in the file name "
               "(e.g. site_20200101.npy, first sample at 00:00 UT)")
        raise FileFormatError(msg, path=path)
    return "-".join(match.groups())


def _file_spectrum(path, stem, config, spectra_dir):
    """Task 1: one file's spectrogram (kept for resuming); returns its time span."""
    from .run import file_spectrogram

    target = Path(spectra_dir) / f"{stem}.nc"
    status = "done before"
    if not target.exists():
        try:
            start = None
            if Path(path).suffix.lower() in (".npy", ".txt", ".csv", ".dat", ".asc"):
                start = _start_from_name(path)
            spec = file_spectrogram(path, start=start, **config.spectrogram_options())
        except MagnetarError as err:
            return {"file": str(path), "status": f"failed: {err}"}
        with atomic_path(target, suffix=".nc") as tmp:
            spec.to_dataset(name="spectrogram").to_netcdf(tmp)
        status = "ok"
    with xr.open_dataset(target) as ds:
        times = ds["time"].values
    return {"file": str(path), "status": status, "spectrum": str(target),
            "first": str(times[0]), "last": str(times[-1])}


@functools.lru_cache(maxsize=2)
def _model(path):
    """Return the U-Net and its threshold, loaded once per worker process."""
    from ...training.segmentation import load_segmentation

    model, cfg, _ = load_segmentation(path)
    model.eval()
    return model, cfg.threshold


def _night_spectrogram(date, spectra, config):
    from ...processing import select_night

    parts = []
    for path in spectra:
        with xr.open_dataset(path) as ds:
            part = select_night(ds["spectrogram"], date, start=config.night_start,
                                end=config.night_end).load()
        if part.sizes["time"]:
            parts.append(part)
    if not parts:
        return None
    spec = xr.concat(parts, dim="time", join="outer").sortby("time")
    _, first = np.unique(spec["time"].values, return_index=True)
    return spec.isel(time=np.sort(first))


def _coverage(spec, config):
    from ...processing._spectral import night_coverage

    return night_coverage(spec, start=config.night_start, end=config.night_end,
                          step_s=config.segment_s)


def _row(date, spec, params, config, coverage, model_name):
    delta = params["delta_f"].values
    ok = np.isfinite(delta)
    n_f = params["n_fringes"].values
    present = int(ok.sum()) >= config.min_columns
    return {
        "night": date, "status": "ok", "coverage": round(coverage, 4),
        "iar_present": bool(present),
        "iar_hours": float(ok.sum() * config.segment_s / 3600),
        "delta_f_median_hz": float(np.median(delta[ok])) if ok.any() else None,
        "delta_f_p10_hz": float(np.percentile(delta[ok], 10)) if ok.any() else None,
        "delta_f_p90_hz": float(np.percentile(delta[ok], 90)) if ok.any() else None,
        "fringes_median": float(np.median(n_f[ok])) if ok.any() else 0.0,
        "fringes_max": int(n_f.max()) if n_f.size else 0,
        "first_iar": str(spec["time"].values[ok][0]) if ok.any() else None,
        "last_iar": str(spec["time"].values[ok][-1]) if ok.any() else None,
        "model": model_name,
    }


def _night_batch(dates, spectra_by_date, config, model_path, fingerprint, out_dir, figures):
    """Task 2: the nights of a batch through the U-Net; per-night files and rows."""
    from ...processing import resonance_parameters
    from .run import model_grid, predict_nights, to_model_grid

    nights_dir = Path(out_dir) / "nights"
    df, dt = model_grid(model_path)
    rows, todo = [], []
    for date in dates:
        row_path = nights_dir / f"{date}.json"
        if row_path.exists():
            row = json.loads(row_path.read_text())
            if row.get("fingerprint") == fingerprint:
                rows.append(row)
                continue
        spec = _night_spectrogram(date, spectra_by_date[date], config)
        coverage = 0.0 if spec is None else _coverage(spec, config)
        if spec is None or coverage < config.min_fraction:
            rows.append(_save_row(row_path, {"night": date, "status": "insufficient data",
                                             "coverage": round(coverage, 4)}, fingerprint))
            continue
        todo.append((date, to_model_grid(spec, df=df, dt=dt), coverage, row_path))
    if not todo:
        return rows
    model, threshold = _model(str(model_path))
    by_shape = {}
    for item in todo:  # nights of one shape share a forward pass
        by_shape.setdefault(item[1].shape, []).append(item)
    for group in by_shape.values():
        stack = xr.concat([xr.DataArray(s.values, dims=("frequency", "time"),
                                        coords={"frequency": s["frequency"].values})
                           for _, s, _, _ in group], dim="night")
        pred = predict_nights(model, stack, threshold=threshold, batch_size=len(group))
        for i, (date, spec, coverage, row_path) in enumerate(group):
            night = pred.isel(night=i).assign_coords(time=spec["time"].values)
            params = resonance_parameters(night["mask"], night["probability"],
                                          delta_f_range=config.delta_f_range,
                                          smooth=config.smooth)
            _write_night(nights_dir, date, spec, night, params, figures)
            row = _row(date, spec, params, config, coverage, Path(model_path).name)
            rows.append(_save_row(row_path, row, fingerprint))
    return rows


def _save_row(path, row, fingerprint):
    row = {**row, "fingerprint": fingerprint}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(row, indent=1))
    return row


def _write_night(folder, date, spec, night, params, figures):
    ds = xr.Dataset({"spectrogram": spec, "probability": night["probability"],
                     "mask": night["mask"]})
    ds = ds.merge(params.assign_coords(fringe=np.arange(1, params.sizes["fringe"] + 1)))
    with atomic_path(folder / f"{date}.nc", suffix=".nc") as tmp:
        ds.to_netcdf(tmp)
    if figures:
        from ...plot import plot_iar_night, save_figure

        save_figure(plot_iar_night(spec, night["mask"], params=params), folder / f"{date}.png")


def _nights_of(spans, config):
    """Each night any file touches -> the spectra that cover it."""
    from ...processing._spectral import _clock, night_length

    t_start = _clock(config.night_start, "start")
    length = night_length(config.night_start, config.night_end)
    nights = {}
    for span in spans:
        first, last = pd.Timestamp(span["first"]), pd.Timestamp(span["last"])
        for day in pd.date_range((first - pd.Timedelta(days=1)).normalize(),
                                 last.normalize(), freq="D"):
            n0 = day + t_start
            if n0 < last and n0 + length > first:
                nights.setdefault(day.date().isoformat(), []).append(span["spectrum"])
    return dict(sorted(nights.items()))


def _fingerprint(options):
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_catalogue(paths, out_dir, config=None, *, model=None, workers=1, scheduler=None,
                  client=None, figures=False, progress=False):
    """Catalogue of IAR nights from raw time-series files (module docstring).

    Parameters
    ----------
    paths : sequence of path-like
        100 Hz (or any rate) search-coil files: miniSEED, IAGA-2002, ``.npy`` (with the
        date in the name and ``config.sampling_rate``).
    out_dir : path-like
        ``catalogue.csv``, ``catalogue.nc``, ``files.csv`` (each file's status),
        ``nights/<date>.nc`` (spectrogram, probability, mask, f_n, delta_f),
        ``nights/<date>.json`` (the row), ``spectra/``, ``config.toml``.
    config : CatalogueConfig, optional
    model : path-like, optional
        Segmentation checkpoint (default: the shipped U-Net).
    workers, scheduler, client :
        A local Dask cluster of ``workers`` processes, an existing scheduler, or a client.
    figures : bool
        A PNG per night.
    progress : bool
        Progress bars.

    Returns
    -------
    pandas.DataFrame
        The catalogue, one row per night.
    """
    config = config or CatalogueConfig()
    if model is None:
        from ...pretrained import pretrained_path

        model = pretrained_path("iar_unet16.pt")
    model = Path(model)
    if not model.is_file():
        msg = f"--model {model}: no such checkpoint"
        raise ValidationError(msg)
    paths = [Path(p) for p in paths]
    if not paths:
        msg = "no input files given"
        raise ValidationError(msg)
    out_dir = output_folder(out_dir)
    stems = unique_stems(paths, clean=lambda name: Path(name).stem.replace(".", "_"))
    fingerprint = _fingerprint({"config": asdict(config), "model": str(model),
                                "model_bytes": model.stat().st_size})
    spectra_dir = Path(out_dir) / "spectra" / _fingerprint(config.spectrogram_options())
    spectra_dir.mkdir(parents=True, exist_ok=True)
    import dask

    own_client = client is None
    if own_client:
        client = open_client(workers=workers, scheduler=scheduler)
    try:
        tasks = [dask.delayed(_file_spectrum)(str(p), stems[str(p)], config, str(spectra_dir))
                 for p in paths]
        spans = compute(tasks, client, progress=progress, what="spectrograms")
        good = [s for s in spans if "spectrum" in s]
        nights = _nights_of(good, config)
        dates = list(nights)
        batches = [dates[i:i + config.batch_nights]
                   for i in range(0, len(dates), config.batch_nights)]
        tasks = [dask.delayed(_night_batch)(batch, {d: nights[d] for d in batch}, config,
                                            str(model), fingerprint, str(out_dir), figures)
                 for batch in batches]
        rows = [row for batch in compute(tasks, client, progress=progress, what="nights")
                for row in batch]
    finally:
        if own_client:
            close_client(client)
    return _write_catalogue(rows, spans, config, model, out_dir)


def _write_catalogue(rows, spans, config, model, out_dir):
    table = pd.DataFrame(rows).drop(columns=["fingerprint"], errors="ignore")
    if len(table):
        table = table.sort_values("night", ignore_index=True)
    with atomic_path(Path(out_dir) / "catalogue.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    ds = xr.Dataset.from_dataframe(table.set_index("night")) if len(table) else xr.Dataset()
    for name in ds.data_vars:
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    ds.attrs.update({"model": str(model), "magnetar_version": __version__,
                     "min_columns": config.min_columns})
    with atomic_path(Path(out_dir) / "catalogue.nc", suffix=".nc") as tmp:
        ds.to_netcdf(tmp)
    with atomic_path(Path(out_dir) / "files.csv", suffix=".csv") as tmp:
        pd.DataFrame(spans).to_csv(tmp, index=False)
    save_config(config, Path(out_dir) / "config.toml", section="catalogue",
                header=f"Options of this IAR catalogue (magnetar {__version__}); model {model}")
    failed = [s for s in spans if s["status"].startswith("failed")]
    if failed and len(failed) == len(spans):
        msg = f"every file failed (see {Path(out_dir) / 'files.csv'}); first: {failed[0]['status']}"
        raise ValidationError(msg)
    return table
