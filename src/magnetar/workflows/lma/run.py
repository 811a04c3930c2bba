"""Marine linear magnetic anomalies: windows -> classifier -> calibrated region maps.

Steps: :func:`run_windows` (windows of a grid with centres: CSV to label),
:func:`run_label_export` (each window as PNG, original and diffused side by side, for
experts), :func:`run_train` (a registered classifier on labelled windows of real grids, or on
the synthetic seafloor corpus; blocked split by default; checkpoints, metrics, learning
curve), :func:`run_predict` (stride-s windows, central-cell assignment, neighbourhood
calibration: probability and class grids with the input's coordinates, linear percentage,
map), :func:`run_sweep` (linear percentage against window size), :func:`run_compare` (the
study's plain CNN vs transfer vs transfer on diffused grids, on synthetic grids with ship-
track gaps, over seeds), :func:`run_pretrain` (a backbone trained on the synthetic corpus, a
source of transfer that needs no download).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils import (
    atomic_path,
    check_number,
    output_file,
    output_folder,
    progress_bar,
    write_text_atomic,
)
from ...config import check_table, save_config
from ...errors import ValidationError
from .weak import EMAG2V3_TILES

__all__ = [
    "LMAConfig",
    "predict_grid",
    "run_compare",
    "run_label_export",
    "run_predict",
    "run_pretrain",
    "run_real_tiles",
    "run_sweep",
    "run_train",
    "run_windows",
    "synthetic_corpus",
]

LOGGER = logging.getLogger(__name__)


@dataclass
class LMAConfig:
    """Options of the linear-anomaly workflow.

    Options of the linear-anomaly workflow (saved beside every output as
    ``lma.config.json``).

    size, stride : training windows (the study: 250, 50); ``predict_stride`` for maps (10).
    min_valid : windows with fewer finite nodes are skipped.
    clip : percentiles of each window mapped to 0 and 1
        (:func:`magnetar.grids.normalise_windows`; (0, 100) = the study's plain min-max).
    diffuse : coherence-enhancing diffusion of the grid before windowing, with
        ``diffusion`` = (sigma, rho, time) (the study's transfer-on-diffused variant).
    split, fractions, block : see :func:`magnetar.grids.split_windows` (blocked default).
    n_grids, grid_size, spacing_km, tracks, track_maxdist_km, nonlinear_fraction, timescale :
        the synthetic corpus: grids of ``grid_size`` x ``grid_size`` nodes at
        ``spacing_km`` (3.7 km: the 2 arc-minute EMAG2v3 spacing the study windowed),
        surveyed along ``tracks`` ship tracks and regridded (nodes farther than
        ``track_maxdist_km`` from a track are gaps); ``half_rate`` (mm/yr) starts at 25 so
        that the oldest crust of such wide grids stays within the time scale.
    z_top : depth range (km below the observation level) of the seafloor's magnetised layer:
        (3, 5) at the sea surface; (7, 9) for EMAG2v3, observed 4 km above the geoid.
    inclination : range of the ambient field's inclination magnitude (degrees) per
        seafloor grid; when the range is wider than a point, the sign is drawn too and the
        remanence deviates from the field by N(0, 15) degrees of inclination and N(0, 20) of
        declination (apparent polar wander since the crust formed: anomaly skewness).
    clip_nT : when positive, every corpus grid is delivered as the EMAG2v3 PNG tiles are:
        clipped to +-clip_nT and quantised to 255 levels (0: off).
    geology_grids : forward-modelled continental scenes
        (:func:`magnetar.synthetic.synthetic_geology`, ``height_km`` above the ground) added
        to the corpus as non-linear windows, one group each.
    surveys : real continental aeromagnetic surveys (``britain``, ``rio``;
        :func:`magnetar.grids.survey_grid`) gridded at ``spacing_km``, continued up to
        ``height_km`` and added as non-linear windows (only where a window fits).
    neighbourhood, low, high : calibration (25, 0.3, 0.7 in the study).
    train : :class:`magnetar.training.classification.ClassifierConfig` as a dict.
    """

    size: int = 250
    stride: int = 50
    predict_stride: int = 10
    min_valid: float = 0.5
    clip: tuple[float, float] = (1.0, 99.0)
    diffuse: bool = False
    diffusion: tuple[float, float, float] = (1.0, 6.0, 5.0)
    split: str = "blocked"
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    block: int | None = None
    n_grids: int = 60
    grid_size: int = 500
    spacing_km: float = 3.7
    tracks: int = 150
    track_maxdist_km: float = 20.0
    timescale: str = "GTS2012"
    half_rate: tuple[float, float] = (25.0, 60.0)
    nonlinear_fraction: tuple[float, float] = (0.0, 0.8)
    z_top: tuple[float, float] = (3.0, 5.0)
    inclination: tuple[float, float] = (60.0, 60.0)
    clip_nT: float = 0.0
    geology_grids: int = 0
    surveys: tuple[str, ...] = ()
    height_km: float = 4.0
    seed: int = 0
    workers: int = 1
    neighbourhood: int = 25
    low: float = 0.3
    high: float = 0.7
    train: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.split not in ("blocked", "random"):
            msg = f"split must be 'blocked' or 'random', got {self.split!r}"
            raise ValidationError(msg)
        if self.size > self.grid_size:
            msg = f"window size {self.size} exceeds grid_size {self.grid_size}"
            raise ValidationError(msg)
        self.seafloor_config()  # the corpus grids' size, checked now (memory guard)
        from ..._utils import check_allocation, check_number

        check_number(self.n_grids, option="n_grids (--n-grids)", minimum=1, integer=True)
        per_grid = ((self.grid_size - self.size) // self.stride + 1) ** 2 * self.size**2 * 4
        grids = self.n_grids + self.geology_grids + len(self.surveys)
        check_allocation(grids * per_grid * (2 if self.diffuse else 1) * 2,
                         option="--n-grids, --grid-size, --size, --stride",
                         what=f"the windows of {grids} corpus grids")
        if self.train:  # the training table, checked key by key now, not after the corpus
            from ...training.classification import ClassifierConfig

            check_table(ClassifierConfig, self.train, key="train")

    def seafloor_config(self, **override):
        """Return the :class:`magnetar.synthetic.SeafloorConfig` of the synthetic corpus."""
        from ...synthetic import SeafloorConfig

        return SeafloorConfig(**{
            "shape": (self.grid_size, self.grid_size), "spacing_km": self.spacing_km,
            "tracks": self.tracks, "track_maxdist_km": self.track_maxdist_km,
            "timescale": self.timescale, "half_rate": self.half_rate,
            "nonlinear_fraction": self.nonlinear_fraction, "z_top": self.z_top, **override})

    def geology_config(self, **override):
        """Return the :class:`magnetar.synthetic.GeologyConfig` of the corpus's negatives."""
        from ...synthetic import GeologyConfig

        return GeologyConfig(**{"shape": (self.grid_size, self.grid_size),
                                "spacing_km": self.spacing_km, "height_km": self.height_km,
                                **override})

    def train_config(self, **override):
        """Return the classifier training config, with overrides."""
        from ...training.classification import ClassifierConfig

        return ClassifierConfig(**{**self.train, **override})


def _diffused(grid, config):
    """Return the grid diffused once.

    The grid coherence-diffused with the config's parameters, unless its attrs say it
    already is (``magnetar lma preprocess --diffuse`` records that): never diffused twice.
    """
    from ...grids import coherence_diffusion

    if "diffusion" in grid.attrs:
        LOGGER.warning("%s is already diffused (%s); not diffusing it again",
                       grid.attrs.get("source_file", "the grid"), grid.attrs["diffusion"])
        return grid
    sigma, rho, t = config.diffusion
    return coherence_diffusion(grid, sigma=sigma, rho=rho, time=t)


def _as_product(grid, config):
    """Return the grid as a clipped 8-bit product delivers it (``config.clip_nT``; 0: as is)."""
    if config.clip_nT <= 0:
        return grid
    c = config.clip_nT
    step = 2 * c / 255
    return grid.copy(data=np.round((np.clip(grid.values, -c, c) + c) / step) * step - c)


def _field_direction(inclination, seed):
    """Ambient and remanent directions of one seafloor grid (see ``LMAConfig.inclination``)."""
    lo, hi = inclination
    if lo == hi:
        return {"inclination": float(lo)}
    rng = np.random.default_rng([seed, 7])
    inc = float(rng.uniform(lo, hi) * rng.choice([-1, 1]))
    return {"inclination": inc, "declination": float(rng.normal(0, 10)),
            "remanent_inclination": float(np.clip(inc + rng.normal(0, 15), -90, 90)),
            "remanent_declination": float(rng.normal(0, 20))}


def _one_grid(args):
    seed, config = args
    from ...grids import sliding_windows
    from ...synthetic import synthetic_seafloor, window_labels

    sea = config.seafloor_config(**_field_direction(config.inclination, seed))
    ds = synthetic_seafloor(sea, seed=seed)
    variants = {"raw": _as_product(ds["anomaly"], config)}
    if config.diffuse:
        variants["diffused"] = _diffused(variants["raw"], config)
    out = {}
    for name, grid in variants.items():
        out[name], table = sliding_windows(grid, size=config.size, stride=config.stride,
                                           min_valid=0.0, clip=config.clip)
    labels = window_labels(ds["linear"].values, size=config.size, stride=config.stride)
    table = table.merge(labels, on=["row", "col"], how="left")
    return out, table.assign(group=seed)


def synthetic_corpus(config, *, seed=None, progress=False):
    """Labelled windows of ``config.n_grids`` synthetic seafloor grids with ship-track gaps.

    Plus, as non-linear windows, ``config.geology_grids`` forward-modelled continental scenes
    and the real ``config.surveys`` (each its own group, so blocked splits keep them apart).
    Returns ``(windows, table)``: ``windows`` maps "raw" (and "diffused" when
    ``config.diffuse``) to (N, size, size) arrays; ``table`` has row, col, centres, label
    (published 70/30 rule, -1 ambiguous), fraction and ``group`` (the grid's seed).
    """
    first = config.seed if seed is None else seed
    jobs = [(first + i, config) for i in range(config.n_grids)]
    if config.workers > 1:
        with ProcessPoolExecutor(config.workers) as pool:
            results = pool.map(_one_grid, jobs)
            results = list(progress_bar(results, enabled=progress, total=len(jobs),
                                        desc="synthetic grids", unit="grid"))
    else:
        results = [_one_grid(j) for j in progress_bar(jobs, enabled=progress,
                                                      desc="synthetic grids", unit="grid")]
    jobs = [(("geology", GEOLOGY_GROUP + first + i), config) for i in range(config.geology_grids)]
    jobs += [(("survey", name), config) for name in config.surveys]
    results += [r for r in (_negative_grid(j) for j in progress_bar(
        jobs, enabled=progress and bool(jobs), desc="non-oceanic grids", unit="grid"))
        if r is not None]
    windows = {k: np.concatenate([r[0][k] for r in results]) for k in results[0][0]}
    table = pd.concat([r[1] for r in results], ignore_index=True)
    return windows, table


GEOLOGY_GROUP = 10_000_000  # group ids of forward-modelled geology (seafloor grids: seeds)
SURVEY_GROUP = 20_000_000


def _negative_grid(job):
    """Windows of one non-oceanic grid (forward-modelled or a real survey), all label 0."""
    (kind, key), config = job
    from ...grids import sliding_windows
    from ...grids._surveys import SURVEYS, survey_grid
    from ...synthetic import synthetic_geology

    if kind == "geology":
        grid, group = synthetic_geology(config.geology_config(), seed=key)["anomaly"], key
    else:
        grid = survey_grid(key, spacing_km=config.spacing_km, height_km=config.height_km)
        group = SURVEY_GROUP + list(SURVEYS).index(key)
        if config.size > min(grid.shape):
            LOGGER.warning("survey %s (%d x %d nodes at %g km) is smaller than the %d-node "
                           "window; not used", key, *grid.shape, config.spacing_km,
                           config.size)
            return None
    variants = {"raw": _as_product(grid, config)}
    if config.diffuse:
        variants["diffused"] = _diffused(variants["raw"], config)
    out = {}
    for name, g in variants.items():
        out[name], table = sliding_windows(g, size=config.size, stride=config.stride,
                                           min_valid=config.min_valid, clip=config.clip)
    return out, table.assign(fraction=0.0, label=0, group=group)


def _subset(windows, table, split, name):
    idx = np.flatnonzero(split == name)
    return windows[idx], table["label"].to_numpy()[idx]


def train_and_test(windows, table, config, *, out_dir=None, train_override=None,
                   resume=False, progress=False):
    """Split, train and score the test split.

    Split (``config.split``), train, and score the test split; returns a dict with the
    test metrics, split sizes, history and the test probabilities.
    """
    from ...grids import split_windows
    from ...training import classification_metrics
    from ...training.classification import fit_classifier, predict_proba

    split = split_windows(table, method=config.split, fractions=config.fractions,
                          size=config.size, block=config.block, seed=config.seed)
    tc = config.train_config(**(train_override or {}))
    xs = {s: _subset(windows, table, split, s) for s in ("train", "val", "test")}
    for s, (x, _) in xs.items():
        if len(x) == 0:
            msg = f"the {config.split} split left no {s} windows; use more grids or data"
            raise ValidationError(msg)
    model, history = fit_classifier(*xs["train"], *xs["val"], tc, out_dir=out_dir,
                                    resume=resume, progress=progress)
    prob = predict_proba(model, xs["test"][0], batch_size=4 * tc.batch_size)
    metrics = classification_metrics(xs["test"][1], prob)
    sizes = {s: int(len(xs[s][0])) for s in xs}
    return {"metrics": metrics, "sizes": sizes, "history": history, "model": model,
            "split": split}


def run_train(out, config=None, *, grids=None, labels=None, resume=False, progress=False,
              figure=True):
    """Train a classifier and report its test metrics.

    Parameters
    ----------
    out : path-like
        Output folder.
    config : LMAConfig, optional
        Corpus, split and training options.
    grids, labels : lists of paths, optional
        Real grids and their label CSVs (:func:`magnetar.grids.read_window_labels`); without
        them the synthetic seafloor corpus is used.
    resume : bool
        Continue from the last checkpoint.
    progress, figure : bool
        Progress bars; learning-curve figure.

    Returns
    -------
    dict
        Test metrics and split sizes (as ``metrics.json``).
    """
    from ...grids import attach_labels, read_window_labels, sliding_windows
    from ...io import read_grid
    from ...io._grids import spacing_of

    config = config or LMAConfig()
    config.train_config()  # refuse bad training options before building the corpus
    out = output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "lma.config.toml")
    if grids:
        if not labels or len(labels) != len(grids):
            msg = "give one label CSV per grid (--labels)"
            raise ValidationError(msg)
        ws, tabs = [], []
        for i, (g, lab) in enumerate(zip(grids, labels, strict=True)):
            grid = read_grid(g)
            if config.diffuse:
                grid = _diffused(grid, config)
            w, t = sliding_windows(grid, size=config.size, stride=config.stride,
                                   min_valid=config.min_valid, clip=config.clip)
            t = attach_labels(t, read_window_labels(lab), tolerance=spacing_of(grid) / 2)
            ws.append(w)
            tabs.append(t.assign(group=i))
        windows = np.concatenate(ws)
        table = pd.concat(tabs, ignore_index=True)
    else:
        corpus, table = synthetic_corpus(config, progress=progress)
        windows = corpus["diffused" if config.diffuse else "raw"]
    result = train_and_test(windows, table, config, out_dir=out / "checkpoints",
                            resume=resume, progress=progress)
    report = {"metrics": result["metrics"], "sizes": result["sizes"],
              "split": config.split, "epochs_run": len(result["history"])}
    write_text_atomic(out / "metrics.json", json.dumps(report, indent=2))
    if figure:
        from ...plot import plot_history, save_figure

        save_figure(plot_history(result["history"]), out / "learning_curve.png")
    return report


def predict_grid(grid, model, *, config=None, stride=None, batch_size=128, calibrate=True,
                 calibration_mask=None, progress=False, edges="reflect"):
    """Classify every window of a grid and map the result.

    Classify every window of ``grid`` at ``stride`` and build the calibrated region map
    (:func:`magnetar.grids.region_map`). With ``edges="reflect"`` (default) the grid is
    first reflected across its edges (:func:`magnetar.grids.pad_edges`) so the map covers
    every node; ``"none"`` maps only the nodes that central window cells reach.
    """
    from ...grids import crop_map, iter_window_batches, pad_edges, region_map
    from ...training.classification import predict_proba

    config = config or LMAConfig()
    stride = stride or config.predict_stride
    if edges == "reflect":
        padded, crop = pad_edges(grid, size=config.size, stride=stride)
        if calibration_mask is not None:
            pads = [(c.start, padded.shape[i] - c.stop) for i, c in enumerate(crop.values())]
            calibration_mask = np.pad(np.asarray(calibration_mask, bool), pads)
        result = predict_grid(padded, model, config=config, stride=stride,
                              batch_size=batch_size, calibrate=calibrate,
                              calibration_mask=calibration_mask, progress=progress,
                              edges="none")
        return crop_map(result, crop)
    if edges != "none":
        msg = f"edges must be 'reflect' or 'none', got {edges!r}"
        raise ValidationError(msg)
    if config.diffuse:
        grid = _diffused(grid, config)
    values = grid.values
    ny, nx = values.shape
    nr = (ny - config.size) // stride + 1
    nc = (nx - config.size) // stride + 1
    prob = np.full((nr, nc), np.nan)
    batches = iter_window_batches(values, size=config.size, stride=stride,
                                  batch_size=batch_size, clip=config.clip)
    batches = progress_bar(batches, enabled=progress, total=-(-nr * nc // batch_size),
                           desc="windows", unit="batch")
    device = next(model.parameters()).device
    finite = np.isfinite(values)
    for rr, cc, w in batches:
        p = predict_proba(model, w, batch_size=batch_size, device=device)
        prob[rr, cc] = p
    # windows with too little data get no prediction
    from numpy.lib.stride_tricks import sliding_window_view

    valid = sliding_window_view(finite, (config.size, config.size))[::stride, ::stride]
    prob[valid.mean(axis=(-2, -1)) < config.min_valid] = np.nan
    return region_map(grid, prob, size=config.size, stride=stride, calibrate=calibrate,
                      neighbourhood=config.neighbourhood, low=config.low, high=config.high,
                      calibration_mask=calibration_mask)


DEFAULT_MODEL = "lma_texture.pt"  # shipped; chosen on the weak-labelled real windows


def resolve_model(model):
    """Return the checkpoint path of ``model``: a file, a shipped model's name, or None.

    Parameters
    ----------
    model : path-like or str or None
        A checkpoint file, the name of a shipped model (``lma_texture.pt``), or None for
        the default shipped model (:data:`DEFAULT_MODEL`).

    Returns
    -------
    pathlib.Path
        The checkpoint.
    """
    from ...pretrained import list_pretrained, pretrained_path

    if model is None:
        return pretrained_path(DEFAULT_MODEL)
    path = Path(model)
    if not path.exists() and str(model) in list_pretrained():
        return pretrained_path(str(model))
    return path


def _model_and_config(model_path, device=None):
    from ...config import load_config
    from ...training.classification import load_classifier

    model_path = resolve_model(model_path)
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _, _ = load_classifier(model_path, device=device)
    # beside a shipped model (NAME.lma.config.toml) or in the run folder of 'lma train'
    candidates = (model_path.with_suffix(".lma.config.toml"),
                  model_path.parent / "lma.config.toml",
                  model_path.parent.parent / "lma.config.toml")
    cfg_path = next((p for p in candidates if p.is_file()), None)
    config = load_config(LMAConfig, cfg_path) if cfg_path else LMAConfig()
    return model, config


def _predict_lazy(grid, model_path, *, config, stride, mask, calibrate, progress, dask):
    """Return the chunked (Dask) map of a lazy grid, reflected at its edges as in memory."""
    from ...grids import crop_map, pad_edges
    from .chunked import predict_grid_chunked

    padded, crop = pad_edges(grid, size=config.size, stride=stride)
    if mask is not None:
        mask = mask.pad({d: (c.start, padded.sizes[d] - c.stop) for d, c in crop.items()},
                        constant_values=False).assign_coords(padded.coords)
    return crop_map(predict_grid_chunked(padded, model_path, config=config, stride=stride,
                                         calibrate=calibrate, calibration_mask=mask,
                                         progress=progress, **dask), crop)


def run_predict(grid_path, model_path, out_path, *, stride=None, calibrate=True,
                mask_path=None, figure=True, progress=False, chunks=None, workers=1,
                scheduler=None):
    """Predict a grid file and write the map.

    Predict a grid file: writes OUT (netCDF: probability, calibrated probability, class),
    OUT.config.toml and a map PNG; returns the linear percentage.

    With ``chunks`` (nodes), ``workers`` > 1 or a ``scheduler``, the grid is read lazily and
    processed chunk by chunk on Dask (:mod:`.chunked`; grids larger than memory), giving the
    same map.

    Parameters
    ----------
    grid_path : path-like
        The grid.
    model_path : path-like
        Classifier checkpoint.
    out_path : path-like
        Output netCDF.
    stride : int, optional
        Prediction stride (default: the model's config).
    calibrate : bool
        Calibrate uncertain cells from their neighbours.
    mask_path : path-like, optional
        Grid, > 0 where calibration is off.
    figure, progress : bool
        Map PNG; progress bar.
    chunks, workers, scheduler :
        Grids larger than memory (:mod:`magnetar.workflows.lma.chunked`).

    Returns
    -------
    dict
        ``linear_percentage`` and ``out``.
    """
    from ...io import read_grid

    out_path = output_file(out_path, inputs=[grid_path], suffixes=(".nc",))
    model_path = resolve_model(model_path)
    if stride is not None:
        check_number(stride, option="--stride", minimum=1, integer=True)
    lazy = chunks is not None or workers > 1 or scheduler is not None
    if lazy:
        chunks = 2048 if chunks is None else chunks
        check_number(chunks, option="--chunks", minimum=64, integer=True)
    grid = read_grid(grid_path, chunks=chunks if lazy else None)
    model, config = _model_and_config(model_path)
    if min(grid.shape) < config.size:
        msg = (f"{grid_path}: the grid is {grid.shape[0]} x {grid.shape[1]} nodes, smaller "
               f"than the model's {config.size} x {config.size} window; regrid it finer or "
               "use a model trained on smaller windows")
        raise ValidationError(msg)
    mask = None
    if mask_path is not None:
        with np.errstate(invalid="ignore"):
            mask = read_grid(mask_path, chunks=chunks if lazy else None) > 0  # NaN: False
    if lazy:
        result = _predict_lazy(grid, model_path, config=config,
                               stride=stride or config.predict_stride, mask=mask,
                               calibrate=calibrate, progress=progress,
                               dask={"chunks": chunks, "workers": workers,
                                     "scheduler": scheduler})
    else:
        result = predict_grid(grid, model, config=config, stride=stride, calibrate=calibrate,
                              calibration_mask=None if mask is None else mask.values,
                              progress=progress)
    result["anomaly"] = grid
    _write_map(result, out_path)
    save_config(config, out_path.with_suffix(".config.toml"))
    if figure:
        from ...plot import plot_lma_map, save_figure

        step = max(1, -(-max(grid.shape) // 2000))  # a figure of at most ~2000 nodes a side
        shown = result.isel({d: slice(None, None, step) for d in grid.dims}).load()
        save_figure(plot_lma_map(shown), out_path.with_suffix(".png"))
    return {"linear_percentage": result.attrs["linear_percentage"], "out": str(out_path)}


def _write_map(result, path):
    """CF netCDF of a region map, atomically (``linear`` int8 with -1 as fill value)."""
    ds = result.copy()
    ds.attrs.update(Conventions="CF-1.8", title="magnetar linear-anomaly map")
    for v in ds.data_vars:
        ds[v].attrs.pop("source_file", None)
    encoding = {v: ({"zlib": True, "_FillValue": np.nan}
                    if np.issubdtype(ds[v].dtype, np.floating) else {"zlib": True})
                for v in ds.data_vars}
    encoding["linear"] = {"zlib": True, "_FillValue": np.int8(-1)}
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, encoding=encoding)
    return path


def run_sweep(grid_path, model_path, out, *, sizes=(150, 200, 250, 300, 350), stride=None,
              figure=True, progress=False):
    """Percentage of the area predicted linear against window size (CSV + figure).

    Parameters
    ----------
    grid_path, model_path : path-like
        The grid and the classifier checkpoint.
    out : path-like
        Output folder.
    sizes : sequence of int
        Window sizes tried.
    stride : int, optional
        Prediction stride.
    figure, progress : bool
        Figure; progress bar.

    Returns
    -------
    pandas.DataFrame
        ``window_size`` and ``linear_percentage``.
    """
    from ...io import read_grid

    grid = read_grid(grid_path)
    model, config = _model_and_config(model_path)
    rows = []
    for size in sizes:
        if size > min(grid.shape):
            LOGGER.warning("window size %d exceeds the grid %s: skipped", size, grid.shape)
            continue
        res = predict_grid(grid, model, config=replace(config, size=int(size),
                                                       grid_size=max(size, config.grid_size)),
                           stride=stride, progress=progress)
        rows.append({"window_size": int(size),
                     "linear_percentage": res.attrs["linear_percentage"]})
    table = pd.DataFrame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sweep.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    if figure and len(table):
        from ...plot import plot_window_sweep, save_figure

        save_figure(plot_window_sweep(table), out / "sweep.png")
    return table


def run_windows(grid_path, out_csv, *, size=250, stride=50, min_valid=0.5):
    """Write the windows of a grid as CSV.

    Write the windows of a grid (top-left node, centre, valid fraction, label -1) as a
    CSV to be labelled.

    Parameters
    ----------
    grid_path : path-like
        The grid.
    out_csv : path-like
        Output CSV.
    size, stride : int
        Window side and step (nodes).
    min_valid : float
        Windows with a smaller valid fraction are left out.

    Returns
    -------
    pandas.DataFrame
        The windows (as written).
    """
    from ...grids import sliding_windows
    from ...io import read_grid

    _, table = sliding_windows(read_grid(grid_path), size=size, stride=stride,
                               min_valid=min_valid, normalise=False)
    table["label"] = -1
    with atomic_path(out_csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def run_label_export(grid_path, out_dir, config=None, *, limit=None):
    """Export each window as a PNG for labelling.

    Each window as an 8-bit PNG, original (left) and diffused (right), for experts to
    label; ``windows.csv`` lists file name, centre and an empty label column.

    Parameters
    ----------
    grid_path : path-like
        The grid.
    out_dir : path-like
        Output folder.
    config : LMAConfig, optional
        Window size, stride, diffusion.
    limit : int, optional
        Windows exported at most.

    Returns
    -------
    pandas.DataFrame
        The exported windows (as ``windows.csv``).
    """
    from PIL import Image

    from ...grids import sliding_windows
    from ...io import read_grid

    config = config or LMAConfig()
    grid = read_grid(grid_path)
    original, table = sliding_windows(grid, size=config.size, stride=config.stride,
                                      min_valid=config.min_valid, clip=config.clip)
    diffused, _ = sliding_windows(_diffused(grid, config), size=config.size,
                                  stride=config.stride, min_valid=0.0, clip=config.clip)
    diffused = diffused[_positions(table, grid.shape, config)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    n = len(table) if limit is None else min(limit, len(table))
    for i in range(n):
        pair = np.concatenate([original[i][::-1], np.ones((config.size, 4)),
                               diffused[i][::-1]], axis=1)  # north up
        name = f"window_{i:05d}.png"
        with atomic_path(out_dir / name, suffix=".png") as tmp:
            Image.fromarray((255 * np.clip(pair, 0, 1)).astype(np.uint8)).save(tmp,
                                                                                  format="PNG")
        names.append(name)
    table = table.iloc[:n].assign(file=names, label="")
    with atomic_path(out_dir / "windows.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def _positions(table, shape, config):
    cols = (shape[1] - config.size) // config.stride + 1
    return (table["row"].to_numpy() // config.stride) * cols + table["col"].to_numpy() // \
        config.stride


def run_pretrain(out, config=None, *, backbone="resnet18", progress=False):
    """Pretrain a backbone on synthetic grids.

    Train ``backbone`` from scratch (all layers) on the synthetic corpus; its checkpoint
    is a transfer source (``weights_path``) that needs no download.

    Parameters
    ----------
    out : path-like
        Output folder.
    config : LMAConfig, optional
        Corpus and training options.
    backbone : str
        Registered backbone.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        As :func:`run_train`.
    """
    config = config or LMAConfig()
    train = {**config.train, "model": backbone,
             "model_kwargs": {"freeze": False, "weights": None}}
    return run_train(out, replace(config, train=train), progress=progress)


def _compare_variants(*, backbone, pretrained_path, pretrained_diffused_path, imagenet,
                      baseline, cnn, cnn_batch_norm, unfreeze, fine_tune_lr):
    """Return the arms of :func:`run_compare` as (name, input, training overrides)."""
    cnn_kwargs = {"batch_norm": True} if cnn_batch_norm else {}
    variants = [("cnn", "raw", {"model": "lma_cnn", "model_kwargs": cnn_kwargs})] if cnn else []
    if baseline:  # the classical references the study lacks: cheap, so on both inputs
        for name, model in (("coherence_baseline", "lma_coherence"),
                            ("texture_baseline", "lma_texture")):
            for kind in ("raw", "diffused"):
                variants.append((name, kind, {"model": model, "model_kwargs": {},
                                              "lr": 3e-2, "epochs": 150, "patience": 30}))
    if not fine_tune_lr > 0:
        msg = f"fine_tune_lr (--fine-tune-lr) must be > 0, got {fine_tune_lr}"
        raise ValidationError(msg)
    if pretrained_diffused_path is not None and pretrained_path is None:
        msg = "--pretrained-diffused needs --pretrained (the backbone for raw windows) too"
        raise ValidationError(msg)
    sources = []
    if pretrained_path is not None:
        on_diffused = pretrained_diffused_path or pretrained_path
        sources.append(("synthetic", {"raw": {"weights_path": str(pretrained_path)},
                                      "diffused": {"weights_path": str(on_diffused)}}))
    if imagenet:
        sources.append(("imagenet", dict.fromkeys(("raw", "diffused"),
                                                  {"weights": "imagenet"})))
    tuned = {"lr": fine_tune_lr} if unfreeze else {}
    for name, by_input in sources:
        for kind, kwargs in by_input.items():
            variants.append((f"transfer_{name}" + ("_finetuned" if unfreeze else ""), kind,
                             {"model": backbone,
                              "model_kwargs": {**kwargs, "freeze": not unfreeze}, **tuned}))
    return variants


def run_compare(out, config=None, *, seeds=(0, 1, 2), backbone="resnet18",
                pretrained_path=None, pretrained_diffused_path=None, imagenet=False,
                baseline=True, cnn=True, cnn_batch_norm=False, unfreeze=False,
                fine_tune_lr=1e-4, progress=False):
    """Run the study's three-way comparison on synthetic grids with ship-track gaps.

    For each seed (a new corpus and split): plain CNN on raw windows; transfer (frozen
    ``backbone`` from ``pretrained_path`` - a :func:`run_pretrain` checkpoint trained on
    other synthetic grids - and, with ``imagenet``, ImageNet weights) on raw windows; the
    same on diffused windows (from ``pretrained_diffused_path`` when given: a backbone
    pretrained on diffused grids, ``magnetar lma pretrain --diffuse``); with ``baseline``
    also the classical structure-tensor coherence classifier (``lma_coherence``) and the
    texture classifier (``lma_texture``) on raw and diffused windows (``cnn=False`` leaves the plain CNN out: the rest runs on a CPU in
    minutes; ``cnn_batch_norm`` gives it batch normalisation after each convolution).
    ``unfreeze`` fine-tunes the whole backbone in the transfer arms instead of training the
    head on frozen features (Adam at ``fine_tune_lr``, lower than the head's 1e-3 so the
    pretrained filters are adapted rather than overwritten; rows named ``..._finetuned``).
    Writes ``compare.csv`` and ``compare.json`` (mean and 95 % t-interval of test accuracy
    over seeds). ``compare.csv`` is rewritten after every arm, and a run into the same folder
    with the same options (``compare.options.json``) skips the arms already there: a stopped
    comparison resumes.

    Parameters
    ----------
    out : path-like
        Output folder.
    config : LMAConfig, optional
        Corpus, split and training options.
    seeds : sequence of int
        One corpus and split per seed.
    backbone, pretrained_path, pretrained_diffused_path, imagenet :
        The transfer arms (see above).
    baseline, cnn, cnn_batch_norm, unfreeze, fine_tune_lr :
        Which arms run and how (see above).
    progress : bool
        Progress bars.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        One row per seed and arm; the mean accuracy with its 95 % interval per arm.
    """
    config = replace(config or LMAConfig(), diffuse=True)
    variants = _compare_variants(
        backbone=backbone, pretrained_path=pretrained_path,
        pretrained_diffused_path=pretrained_diffused_path, imagenet=imagenet,
        baseline=baseline, cnn=cnn, cnn_batch_norm=cnn_batch_norm, unfreeze=unfreeze,
        fine_tune_lr=fine_tune_lr)
    if not variants:
        msg = "nothing to compare: give --pretrained or --imagenet, or keep the CNN or baseline"
        raise ValidationError(msg)
    out = Path(out)  # written only once the options are known to be valid
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "lma.config.toml")
    rows = _resumed_rows(out, {
        "config": asdict(config), "backbone": backbone, "pretrained": str(pretrained_path),
        "pretrained_diffused": str(pretrained_diffused_path), "imagenet": imagenet,
        "cnn_batch_norm": cnn_batch_norm, "unfreeze": unfreeze, "fine_tune_lr": fine_tune_lr})
    _run_arms(out, rows, seeds, variants, config, progress)
    keep = {(seed, name, kind) for seed in seeds for name, kind, _ in variants}
    table_out = pd.DataFrame([r for r in rows if (r["seed"], r["model"], r["input"]) in keep])
    summary = _compare_summary(table_out)
    write_text_atomic(out / "compare.json", json.dumps(
        {"summary": summary, "config": asdict(config), "backbone": backbone,
         "unfreeze": unfreeze, "fine_tune_lr": fine_tune_lr if unfreeze else None}, indent=2,
        default=str))
    return table_out, summary


def _run_arms(out, rows, seeds, variants, config, progress):
    """Train and test every arm not in ``rows`` yet; ``compare.csv`` after each."""
    done = {(r["seed"], r["model"], r["input"]) for r in rows}
    for seed in seeds:
        todo = [v for v in variants if (seed, v[0], v[1]) not in done]
        if not todo:
            continue
        seeded = replace(config, seed=1000 * (seed + 1))
        corpus, table = synthetic_corpus(seeded, progress=progress)
        for name, kind, override in todo:
            began = time.perf_counter()
            res = train_and_test(corpus[kind], table, seeded,
                                 train_override={**override, "seed": seed})
            m = res["metrics"]
            rows.append({"seed": seed, "model": name, "input": kind,
                         "accuracy": m["accuracy"], "f1": m["f1"], "roc_auc": m["roc_auc"],
                         "n_train": res["sizes"]["train"], "n_test": res["sizes"]["test"],
                         "epochs": len(res["history"]),
                         "seconds": time.perf_counter() - began})
            LOGGER.info("seed %d %s/%s: accuracy %.3f", seed, name, kind, m["accuracy"])
            with atomic_path(out / "compare.csv", suffix=".csv") as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)


def _resumed_rows(out, options):
    """Return the rows of an earlier comparison in ``out`` made with the same options."""
    path, csv = out / "compare.options.json", out / "compare.csv"
    text = json.dumps(options, sort_keys=True, default=str)
    same = path.exists() and path.read_text() == text and csv.exists()
    rows = pd.read_csv(csv).to_dict("records") if same else []
    if rows:
        LOGGER.info("resuming: %d arm(s) already in %s", len(rows), csv)
    write_text_atomic(path, text)
    return rows


def _compare_summary(table):
    """Mean test accuracy, F1 and ROC-AUC per (model, input) over seeds, with 95 % t-intervals.

    ``ci95_half_width`` is the accuracy's (kept under that name); ``f1_ci95_half_width``
    and ``roc_auc_ci95_half_width`` the others'.
    """
    from scipy import stats

    def mean_half(values):
        values = values[np.isfinite(values)]
        if len(values) < 2:
            return float(np.mean(values)) if len(values) else float("nan"), float("nan")
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        return float(values.mean()), float(half)

    summary = []
    for (name, kind), g in table.groupby(["model", "input"], sort=False):
        row = {"model": name, "input": kind, "seeds": len(g)}
        for metric in ("accuracy", "f1", "roc_auc"):
            if metric not in g:
                continue
            mean, half = mean_half(g[metric].to_numpy(dtype=float))
            row[f"{metric}_mean"] = mean
            row["ci95_half_width" if metric == "accuracy" else f"{metric}_ci95_half_width"] = half
        summary.append(row)
    return summary


PICK_FILES = ("gpts/AtlanticOcean/Merkouriev+DeMets_2008_GJI.gmt",
              "gpts/AtlanticOcean/Merkouriev+DeMets_2014_GJI.gmt",
              "gpts/PacificOcean/DeMets+Traylen_2000_Tectonophys.gmt",
              "gpts/PacificOcean/Klitgord+Mammerickx_1982_JGR.gmt",
              "gpts/PacificOcean/Nakanishi++_1992_GJI.gmt",
              "gpts/PacificOcean/Wilder_2003_Thesis.gmt")


def run_real_tiles(model_path, out, *, tiles=EMAG2V3_TILES, stride=None,
                   figure=True, progress=False):
    """Map the EMAG2v3 tiles and compare them with the picks.

    Map the georeferenced EMAG2v3 tiles (resampled to 2 arc-minutes) and compare with the
    published isochron picks: per tile the linear percentage and
    :func:`magnetar.io.pick_agreement`. Writes one netCDF (+ PNG with the picks) per tile
    and ``real_tiles.json``.

    Parameters
    ----------
    model_path : path-like
        Classifier checkpoint.
    out : path-like
        Output folder.
    tiles : sequence of int
        EMAG2v3 tile labels.
    stride : int, optional
        Prediction stride.
    figure, progress : bool
        Figures; progress bar.

    Returns
    -------
    dict
        Per tile the linear percentage and the pick agreement.
    """
    from ... import datasets
    from ...io import pick_agreement, read_picks
    from .weak import real_tile

    model, config = _model_and_config(model_path)
    picks = pd.concat([read_picks(datasets.fetch(p)) for p in PICK_FILES], ignore_index=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for label in tiles:
        began = time.perf_counter()
        grid = real_tile(label)
        lat, lon = grid["latitude"].values, grid["longitude"].values
        LOGGER.info("tile %s: %d x %d nodes at 2 arc-minutes, mapping", label, *grid.shape)
        result = predict_grid(grid, model, config=config, stride=stride, progress=progress)
        LOGGER.info("tile %s: %.1f %% linear (%.0f s)", label,
                    result.attrs["linear_percentage"], time.perf_counter() - began)
        result["anomaly"] = grid
        _write_map(result, out / f"emag2v3_{label}.nc")
        agreement = pick_agreement(result, picks)
        report[str(label)] = {"linear_percentage": result.attrs["linear_percentage"],
                              "south": float(lat[0]), "north": float(lat[-1]),
                              "west": float(lon[0]), "east": float(lon[-1]), **agreement}
        if figure:
            from ...plot import plot_lma_map, save_figure

            fig = plot_lma_map(result)
            inside = picks[(picks.lat.between(lat[0], lat[-1]))
                           & (picks.lon.between(lon[0], lon[-1]))]
            for ax in fig.axes[:1]:
                ax.plot(inside.lon, inside.lat, ".", color="gold", ms=2, label="picks")
            save_figure(fig, out / f"emag2v3_{label}.png")
    write_text_atomic(out / "real_tiles.json", json.dumps(report, indent=2))
    return report
