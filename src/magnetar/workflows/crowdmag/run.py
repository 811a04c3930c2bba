"""CrowdMag denoising: clean tiles -> corrupted on the fly -> autoencoder -> sparse phone data.

Steps: :func:`build_tile_corpus` (clean anomaly tiles from the Britain aeromagnetic survey,
the EMAG2v3 tiles and synthetic seafloor grids, each split west/east so the test tiles come
from a spatially separate region), :func:`run_train`, :func:`run_evaluate` (the model against
nearest/linear/Gaussian/spline/thin-plate gap filling on the same corrupted tiles), :func:`run_search`
(Optuna over the published hyperparameter table) and :func:`run_denoise` (CrowdMag files ->
anomalies -> sparse tiles -> reconstruction).

"randomization" (the published hyperparameter, 100-200) is read here as the number of random
tile positions drawn from each source grid: the size of the clean corpus, which corruption
then multiplies epoch by epoch.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..._utils import (
    atomic_path,
    check_number,
    output_folder,
    progress_bar,
    unique_stems,
    write_text_atomic,
)
from ...config import check_table, save_config
from ...errors import MagnetarError, ValidationError
from ...grids._surveys import KM_PER_DEGREE, local_km

__all__ = [
    "AEConfig",
    "build_tile_corpus",
    "device_noise",
    "evaluate_methods",
    "grid_points_to_tile",
    "paired_comparison",
    "pixel_noise",
    "run_denoise",
    "run_evaluate",
    "run_search",
    "run_train",
]

LOGGER = logging.getLogger(__name__)
SOURCES = ("britain", "emag2v3", "seafloor")
EMAG2V3_TILES = (675, 782, 1164, 1299)


#: The CrowdMag workflow's training defaults: the configuration docs/crowdmag.md reports
#: (errors weighted in nT like the evaluation's MAE; the thin-plate residual network).
TRAIN_DEFAULTS = {"loss_units": "nT"}
THIN_PLATE = (0.05, 0.5)


@dataclass
class AEConfig:
    """The CrowdMag workflow's options (the training options are in ``train``).

    tile_km, tile_px : tile side in km and in pixels (spacing = tile_km / tile_px)
    randomization : random tiles drawn per source grid (training; a third as many for test)
    sources : clean sources among britain, emag2v3, seafloor
    oversample : ``{source: factor}`` multiplying ``randomization`` for a source's grids
        (default: ten times as many Britain tiles: the one real survey at the test
        region's resolution and texture, and a single grid against four of each other
        source; overlapping tiles still differ in their corruption every epoch)
    test_fraction, val_fraction : eastern (northern) fraction of every source kept for
        testing, and the fraction before it kept for validation (spatially separate)
    eval_source : source of the held-out test tiles reported (real survey data: britain)
    """

    tile_km: float = 60.0
    tile_px: int = 32
    randomization: int = 150
    sources: tuple[str, ...] = SOURCES
    oversample: dict = field(default_factory=lambda: {"britain": 10})
    test_fraction: float = 0.3
    val_fraction: float = 0.15
    eval_source: str = "britain"
    seed: int = 0
    train: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown or not self.sources:
            msg = f"sources must be a non-empty subset of {SOURCES}; got {self.sources}"
            raise ValidationError(msg)
        bad = {k: v for k, v in self.oversample.items() if k not in SOURCES or not v > 0}
        if bad:
            msg = f"oversample needs {{source: factor > 0}} over {SOURCES}; got {bad}"
            raise ValidationError(msg)
        if self.tile_km <= 0 or self.tile_px < 8 or self.randomization < 1:
            msg = (f"need tile_km > 0, tile_px >= 8 and randomization >= 1; got "
                   f"{self.tile_km}, {self.tile_px}, {self.randomization}")
            raise ValidationError(msg)
        from ..._utils import check_allocation

        factor = max([1.0, *self.oversample.values()])
        tiles = 4 / 3 * self.randomization * factor * len(self.sources)
        check_allocation(tiles * self.tile_px**2 * 4 * 3, option="--randomization, --tile-px",
                         what=f"about {tiles:,.0f} tiles of {self.tile_px} x {self.tile_px}")
        if self.train:
            from ...training.reconstruction import TrainConfig

            check_table(TrainConfig, self.train, key="train")

    @property
    def spacing_km(self):
        """Pixel size in km."""
        return self.tile_km / self.tile_px

    def train_config(self):
        """Return the :class:`magnetar.training.reconstruction.TrainConfig` of this workflow.

        ``train`` overrides the workflow's defaults (:data:`TRAIN_DEFAULTS`: errors in nT,
        the reported configuration) and for ``conv_masked_ae`` the thin-plate prior weights
        :data:`THIN_PLATE` unless ``model_kwargs`` names its own (``()`` for none); the dense
        model gets the tile size.
        """
        from ...training.reconstruction import TrainConfig

        cfg = TrainConfig(**{**TRAIN_DEFAULTS, **self.train})
        if cfg.model == "dense_ae":
            cfg.model_kwargs = {**cfg.model_kwargs, "tile": self.tile_px}
        elif cfg.model == "conv_masked_ae" and "thin_plate" not in cfg.model_kwargs:
            cfg.model_kwargs = {**cfg.model_kwargs, "thin_plate": THIN_PLATE}
        return cfg


def _britain_grid(spacing_km):
    from ...grids import survey_grid

    return survey_grid("britain", spacing_km=spacing_km).values


def emag2v3_grid(label, spacing_km):
    """Return a registered EMAG2v3 tile on a square lattice of ``spacing_km``.

    The tiles are cut at different latitudes and node spacings (2 to 4 arc-minutes), so
    each is read with its coordinates (:func:`magnetar.io.read_emag2v3_tile`), projected
    (local equirectangular: a degree of longitude is ``cos(latitude)`` of one of
    latitude), interpolated onto a square lattice at its finer native spacing, then
    block-averaged to ``spacing_km``. (Before session 17 every tile was taken to be at
    3.7 km: tile 675 at 7.6 x 6.3 km was shrunk twofold.)

    Parameters
    ----------
    label : int
        Tile label (675, 782, 1164, 1299).
    spacing_km : float
        Node spacing of the result.

    Returns
    -------
    numpy.ndarray
        The tile in nT, north up.
    """
    from ... import datasets
    from ...grids._surveys import KM_PER_DEGREE
    from ...io import read_emag2v3_tile
    from ...training import resample_grid

    tile = read_emag2v3_tile(datasets.fetch(f"grids/emag2v3_tiles/gts/example_{label}.png"))
    lat, lon = tile["latitude"].values, tile["longitude"].values
    y_km = (lat - lat[0]) * KM_PER_DEGREE
    x_km = (lon - lon[0]) * KM_PER_DEGREE * np.cos(np.radians(lat.mean()))
    native = min(abs(y_km[1] - y_km[0]), abs(x_km[1] - x_km[0]))
    on_km = tile.assign_coords(latitude=y_km, longitude=x_km).interp(
        latitude=np.arange(0, y_km[-1] + native / 2, native),
        longitude=np.arange(0, x_km[-1] + native / 2, native))
    return resample_grid(on_km.values, spacing=native, new_spacing=spacing_km)


def _emag2v3_grids(spacing_km):
    return [emag2v3_grid(label, spacing_km) for label in EMAG2V3_TILES]


def _seafloor_grids(spacing_km, seed, n=4, size=160):
    from ...synthetic import SeafloorConfig, synthetic_seafloor

    cfg = SeafloorConfig(shape=(size, size), spacing_km=spacing_km, noise_nT=0.0)
    return [synthetic_seafloor(cfg, seed=seed + i)["anomaly"].values for i in range(n)]


def source_grids(config):
    """``{source: [2-D arrays in nT at config.spacing_km]}`` for the configured sources."""
    grids = {}
    for source in config.sources:
        if source == "britain":
            grids[source] = [_britain_grid(config.spacing_km)]
        elif source == "emag2v3":
            grids[source] = _emag2v3_grids(config.spacing_km)
        else:
            grids[source] = _seafloor_grids(config.spacing_km, config.seed)
    return grids


def _regions(values, *, val_fraction, test_fraction, buffer):
    """Training, validation and test parts of a grid along its longer axis, buffered."""
    from ...training import split_columns

    axis = 0 if values.shape[0] > values.shape[1] else 1
    rest, test = split_columns(values, test_fraction=test_fraction, buffer=buffer, axis=axis)
    train, val = split_columns(rest, test_fraction=val_fraction / (1 - test_fraction),
                               buffer=buffer, axis=axis)
    return train, val, test


def build_tile_corpus(config, *, grids=None):
    """Build the clean tile corpus in spatially separate regions.

    Each source grid is cut along its longer axis into a training region, a validation
    region (``val_fraction``: early stopping and every design choice) and a test region
    (``test_fraction``, east or north), one tile width apart. Training tiles are drawn at
    random (``randomization`` times the source's ``oversample``; they overlap, and differ
    in their corruption every epoch); validation and test tiles are the region's
    non-overlapping tiles, so no test pixel is in two test tiles. Validation and test tiles
    carry a block (2 x 2 tiles of one grid) for the block bootstrap of
    :func:`paired_comparison`.

    Parameters
    ----------
    config : AEConfig
        Tile size, sources, fractions and seed.
    grids : dict, optional
        ``{source: [2-D arrays in nT]}`` instead of :func:`source_grids`.

    Returns
    -------
    dict
        ``train``, ``val``, ``test`` arrays ``(N, px, px)`` in nT; ``test_by_source``,
        ``val_by_source``, ``test_blocks_by_source`` and ``val_blocks_by_source`` (block
        label per tile).
    """
    from ...training import cut_tiles

    grids = source_grids(config) if grids is None else grids
    px = config.tile_px
    parts = {"train": [], "val": [], "test": []}
    by_source = {"val": {}, "test": {}}
    blocks_by_source = {"val": {}, "test": {}}
    for k, (source, arrays) in enumerate(grids.items()):
        n_each = max(1, round(config.randomization * config.oversample.get(source, 1)))
        held = {"val": ([], []), "test": ([], [])}
        for i, values in enumerate(arrays):
            train, val, test = _regions(values, val_fraction=config.val_fraction,
                                        test_fraction=config.test_fraction, buffer=px)
            parts["train"].append(cut_tiles(train, size=px, n=n_each,
                                            seed=config.seed + 1000 * k + i))
            for name, region in (("val", val), ("test", test)):
                tiles, pos = cut_tiles(region, size=px, stride=px, return_positions=True)
                held[name][0].append(tiles)
                held[name][1].extend(f"{source}:{i}:{r // (2 * px)}:{c // (2 * px)}"
                                     for r, c in pos)
        for name, (tiles, blocks) in held.items():
            by_source[name][source] = np.concatenate(tiles)
            blocks_by_source[name][source] = np.array(blocks, dtype=object)
            parts[name].append(by_source[name][source])
    out = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    if len(out["train"]) < 10 or len(out["val"]) == 0:
        msg = (f"{len(out['train'])} training and {len(out['val'])} validation tiles of {px} "
               "px; use smaller tiles (--tile-km) or a larger randomization")
        raise ValidationError(msg)
    return {**out, "test_by_source": by_source["test"], "val_by_source": by_source["val"],
            "test_blocks_by_source": blocks_by_source["test"],
            "val_blocks_by_source": blocks_by_source["val"]}


def run_train(out_dir, config, *, corpus=None, resume=False, progress=False):
    """Train the configured autoencoder; writes checkpoints, history, config and a figure.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    config : AEConfig
        Corpus and training options.
    corpus : dict, optional
        Tiles to use instead of building them.
    resume : bool
        Continue from ``last.pt``.
    progress : bool
        Progress bars.

    Returns
    -------
    (torch.nn.Module, list of dict, dict)
        The best model, the history and the written paths.
    """
    from ...training.reconstruction import fit

    out_dir = Path(out_dir)
    corpus = build_tile_corpus(config) if corpus is None else corpus
    model, history = fit(corpus["train"], corpus["val"], config.train_config(),
                         out_dir=out_dir, resume=resume, progress=progress)
    save_config(config, out_dir / "crowdmag.config.toml", section="crowdmag")
    written = {"checkpoint": out_dir / "best.pt", "history": out_dir / "history.json"}
    from ...plot import can_plot, plot_history, save_figure

    if not can_plot():  # figures are optional: results are written
        return model, history, written
    written["figure"] = save_figure(plot_history(history), out_dir / "learning_curve.png")
    return model, history, written


def _per_tile_metrics(truth, estimate):
    """Metrics of each tile: a DataFrame with one row per tile."""
    from ...training import reconstruction_metrics

    return pd.DataFrame([reconstruction_metrics(t, e)
                         for t, e in zip(truth, estimate, strict=True)])


REALISTIC = (  # walking/driving tracks with the measured phone pixel noise (30-137 nT)
    {"name": "tracks 95 %", "mask_fraction": 0.95, "noise_nT": (30.0, 140.0)},
    {"name": "tracks 99 %", "mask_fraction": 0.99, "noise_nT": (30.0, 140.0)},
    {"name": "tracks 99.9 %", "mask_fraction": 0.999, "noise_nT": (30.0, 140.0)},
)


def _corrupted_sets(tiles, fractions, conditions, corruption, seed):
    """Yield (label, corrupted, known): random masks per fraction, then the conditions."""
    from ...training import corrupt
    from ...training.reconstruction import corrupt_tiles

    for fraction in fractions:
        c, k = corrupt_tiles(tiles, corruption, seed=seed + int(fraction * 1000),
                             mask_fraction=fraction)
        yield fraction, c, k
    for i, cond in enumerate(conditions):
        rng = np.random.default_rng([seed, i, 17])
        noise = rng.uniform(*cond["noise_nT"], size=len(tiles))  # one device per tile
        c, k = corrupt(tiles, mask_fraction=cond["mask_fraction"], noise_nT=noise,
                       heavy_tail=corruption.heavy_tail, mask_kind="tracks", seed=seed + 7 + i)
        yield cond["name"], c, k


def evaluate_methods(model, tiles, *, fractions=(0.25, 0.5, 0.75), corruption=None,
                     baselines=("nearest", "linear", "gaussian", "spline", "thin_plate"), seed=0,
                     tta=True, per_tile=False, conditions=()):
    """Metrics of the model and of each baseline on the same corrupted tiles.

    tta : the model's dihedral test-time augmentation (:func:`magnetar.training.reconstruct`).
    per_tile : also return ``{(mask_fraction, method): DataFrame}`` of each tile's metrics.
    conditions : realistic corruptions (e.g. :data:`REALISTIC`: track-shaped masks with a
        per-tile noise level drawn from a range), reported under their ``name`` in the
        ``mask_fraction`` column.

    Returns
    -------
    pandas.DataFrame
        One row per (mask_fraction, method); metrics averaged over tiles (KL and Wasserstein
        between each tile's value distribution and its reconstruction's).
    """
    from ...grids import inpaint
    from ...training.reconstruction import CorruptionConfig, reconstruct

    corruption = corruption or CorruptionConfig()
    rows, tiles_metrics = [], {}
    for fraction, c, k in _corrupted_sets(tiles, fractions, conditions, corruption, seed):
        estimates = {"autoencoder": reconstruct(model, c, k, tta=tta)}
        for method in baselines:
            estimates[method] = inpaint(c, k, method=method)
        for method, est in estimates.items():
            metrics = _per_tile_metrics(tiles, est)
            tiles_metrics[fraction, method] = metrics
            rows.append({"mask_fraction": fraction, "method": method,
                         **metrics.mean().astype(float).to_dict()})
    table = pd.DataFrame(rows)
    return (table, tiles_metrics) if per_tile else table


def paired_comparison(per_tile, *, fraction=0.5, metrics=("mae", "wasserstein"),
                      n_boot=2000, seed=0, blocks=None):
    """Return the autoencoder against the best baseline (lowest mean) for each metric, tile by tile.

    Returns ``{metric: {"baseline", "mean_difference", "ci95", "fraction_better"}}``: the mean
    of the per-tile differences autoencoder - baseline (negative: the autoencoder is better)
    with a 95 % percentile-bootstrap interval over tiles (``n_boot`` resamples, seeded) and the
    fraction of tiles on which the autoencoder is better. The two methods were scored on the
    same corrupted tiles, so the paired differences carry no corruption noise. With
    ``blocks`` (one label per tile, e.g. ``test_blocks_by_source``) the bootstrap resamples
    blocks of neighbouring tiles instead of tiles (a block bootstrap: neighbours are not
    independent); ``n_blocks`` is then reported.
    """
    rng = np.random.default_rng(seed)
    groups = None
    if blocks is not None:
        labels, inverse = np.unique(np.asarray(blocks, dtype=str), return_inverse=True)
        groups = [np.flatnonzero(inverse == i) for i in range(labels.size)]
    methods = [m for f, m in per_tile if f == fraction and m != "autoencoder"]
    out = {}
    for metric in metrics:
        best = min(methods, key=lambda m: per_tile[fraction, m][metric].mean())
        diff = (per_tile[fraction, "autoencoder"][metric]
                - per_tile[fraction, best][metric]).to_numpy()
        if groups is None:
            boots = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(axis=1)
        else:
            boots = np.array([diff[np.concatenate([groups[g] for g in rng.integers(
                0, len(groups), len(groups))])].mean() for _ in range(n_boot)])
        out[metric] = {"baseline": best, "mean_difference": float(diff.mean()),
                       "ci95": [float(v) for v in np.percentile(boots, [2.5, 97.5])],
                       "fraction_better": float(np.mean(diff < 0)),
                       **({"n_blocks": len(groups)} if groups is not None else {})}
    return out


def _held_out(corpus, config, split):
    """Return the tiles of ``config.eval_source`` in the split's region and their blocks."""
    if split not in ("test", "validation"):
        msg = f"split must be 'test' or 'validation', got {split!r}"
        raise ValidationError(msg)
    corpus = build_tile_corpus(config) if corpus is None else corpus
    key = "test" if split == "test" else "val"
    tiles = corpus.get(f"{key}_by_source", {}).get(config.eval_source, corpus[key])
    return tiles, corpus.get(f"{key}_blocks_by_source", {}).get(config.eval_source)


def run_evaluate(checkpoint, out_dir, config, *, corpus=None, fractions=(0.25, 0.5, 0.75),
                 baselines=("nearest", "linear", "gaussian", "spline", "thin_plate"), tta=True,
                 realistic=True, split="test"):
    """Evaluate a checkpoint against the baselines on held-out tiles.

    Writes ``evaluation.csv``, ``evaluation.json`` (with :func:`paired_comparison` at every
    condition) and figures. Design choices are made with ``split="validation"`` (the
    validation region's non-overlapping tiles); the test region is scored once.

    Parameters
    ----------
    checkpoint : path-like
        Autoencoder checkpoint.
    out_dir : path-like
        Output folder.
    config : AEConfig
        Corpus options.
    corpus : dict, optional
        Tiles to use instead of building them.
    fractions : sequence of float
        Masking fractions.
    baselines : sequence of str
        Interpolators compared.
    tta : bool
        Average the dihedral transforms.
    realistic : bool
        Also score :data:`REALISTIC` (track masks at 95-99.9 % missing, 30-140 nT noise).
    split : {"test", "validation"}
        Region scored.

    Returns
    -------
    (pandas.DataFrame, dict)
        Per tile, fraction and method the metrics; the written paths.
    """
    from ...training.reconstruction import corrupt_tiles, load_checkpoint, reconstruct

    out_dir = Path(out_dir)
    model, train_cfg, _ = load_checkpoint(checkpoint)
    tiles, blocks = _held_out(corpus, config, split)
    conditions = REALISTIC if realistic else ()
    table, per_tile = evaluate_methods(model, tiles, fractions=fractions, baselines=baselines,
                                       corruption=train_cfg.corruption, seed=config.seed,
                                       tta=tta, per_tile=True, conditions=conditions)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "evaluation.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    at_half = table[table.mask_fraction == 0.5].set_index("method")
    verdict = {}
    if "autoencoder" in at_half.index:
        others = at_half.drop(index="autoencoder")
        verdict = {m: bool(at_half.loc["autoencoder", m] < others[m].min())
                   for m in ("mae", "wasserstein")}
    labels = [*fractions, *(c["name"] for c in conditions)] if baselines else []
    paired = {str(label): paired_comparison(per_tile, fraction=label, seed=config.seed,
                                            blocks=blocks) for label in labels}
    summary = {"checkpoint": str(checkpoint), "eval_source": config.eval_source,
               "split": split, "n_test_tiles": len(tiles), "tta": tta,
               "test_tiles": f"non-overlapping, from the {split} region; block bootstrap over "
                             "2 x 2 tiles" if blocks is not None else "as given",
               "beats_all_baselines_at_50pct": verdict,
               "paired_difference_at_50pct": paired.get("0.5", {}),
               "paired_differences": paired, "conditions": list(conditions),
               "table": table.to_dict(orient="records")}
    write_text_atomic(out_dir / "evaluation.json", json.dumps(summary, indent=1))
    written = {"csv": out_dir / "evaluation.csv", "json": out_dir / "evaluation.json"}
    from ...plot import can_plot, plot_reconstructions, save_figure

    if not can_plot():  # figures are optional: results are written
        return table, written
    c, k = corrupt_tiles(tiles[:4], train_cfg.corruption, seed=config.seed, mask_fraction=0.5)
    fig = plot_reconstructions(tiles[:4], c, reconstruct(model, c, k, tta=tta))
    written["figure"] = save_figure(fig, out_dir / "reconstructions.png")
    return table, written


SEARCH_SPACE = {
    "epochs": [20, 35, 50],
    "hidden_layers": [1, 2],
    "loss": ["mae", "mse"],
    "optimizer": ["sgd", "adam"],
    "tile_km": [60.0, 120.0],
    "encoding": [32, 64, 96],
    "randomization": [100, 150, 200],
    "mask_fraction": [0.25, 0.5, 0.75],
    "model": ["dense_ae", "conv_masked_ae"],
}
OBJECTIVES = ("mae", "wasserstein", "mae+wasserstein")


def _trial_config(p, cfg, *, epochs_scale, seed):
    """Return the training config of one search trial."""
    from ...training.reconstruction import TrainConfig

    if p["model"] == "dense_ae":
        kwargs = {"tile": cfg.tile_px, "encoding": p["encoding"],
                  "hidden": (512,) * p["hidden_layers"]}
    else:  # the conv AE has no dense bottleneck: encoding and hidden layers do not apply
        kwargs = {"thin_plate": THIN_PLATE}
    return TrainConfig(
        model=p["model"], model_kwargs=kwargs,
        epochs=max(1, round(p["epochs"] * epochs_scale)), loss=p["loss"],
        optimizer=p["optimizer"], lr=1e-3 if p["optimizer"] == "adam" else 1e-2, seed=seed,
        corruption={"mask_fraction": p["mask_fraction"], "noise_nT": 10.0, "heavy_tail": 0.1})


def run_search(out_dir, config, *, n_trials=20, sampler="random", epochs_scale=1.0,
               fixed=(), progress=False, objective="mae"):
    """Optuna search over the published table (dense or conv AE) on the validation region.

    ``sampler``: "random" or "grid" (the full grid of :data:`SEARCH_SPACE`, or the first
    ``n_trials`` of it). ``epochs_scale`` shrinks every trial's epochs (quick looks).
    Writes ``search.csv`` (one row per trial) and ``search.json`` (the best configuration)
    through :func:`magnetar.training.search.run_search`. ``fixed`` names parameters of the
    space ("tile_km", "randomization") the user set: they keep ``config``'s value instead of
    being searched. Every trial is scored on the non-overlapping tiles of the validation
    region (:func:`build_tile_corpus`; the same tiles for every trial of one tile size),
    corrupted the same way (50 % masking, 10 nT, seeded): ``objective`` "mae", "wasserstein"
    (the distributional distance of the study) or their sum.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    config : AEConfig
        Corpus and fixed options.
    n_trials : int
        Trials.
    sampler : {"random", "grid"}
        Optuna sampler.
    epochs_scale : float
        Factor on each trial's epochs.
    fixed : sequence of str
        Options not searched.
    progress : bool
        Progress bars.
    objective : {"mae", "wasserstein", "mae+wasserstein"}
        Validation score minimised (nT).

    Returns
    -------
    (pandas.DataFrame, dict)
        The trials table and the best configuration.
    """
    from ...training import corrupt, search
    from ...training.reconstruction import fit, reconstruct

    check_number(epochs_scale, option="--epochs-scale", minimum=0, maximum=1, inclusive=False)
    if objective not in OBJECTIVES:
        msg = f"objective (--objective) must be one of {', '.join(OBJECTIVES)}; got {objective!r}"
        raise ValidationError(msg)
    grids_by_km = {}

    def score(p):
        cfg = AEConfig(**{**asdict(config), "tile_km": p["tile_km"],
                          "randomization": p["randomization"]})
        if p["tile_km"] not in grids_by_km:
            grids_by_km[p["tile_km"]] = source_grids(cfg)
        corpus = build_tile_corpus(cfg, grids=grids_by_km[p["tile_km"]])
        train = _trial_config(p, cfg, epochs_scale=epochs_scale, seed=config.seed)
        model, _ = fit(corpus["train"], corpus["val"], train)
        c, k = corrupt(corpus["val"], mask_fraction=0.5, noise_nT=10.0, seed=config.seed)
        scores = _per_tile_metrics(corpus["val"], reconstruct(model, c, k)).mean()
        return float(sum(scores[m] for m in objective.split("+")))

    unknown = [k for k in fixed if k not in ("tile_km", "randomization")]
    if unknown:
        msg = f"only tile_km and randomization can be fixed in a search, got {unknown}"
        raise ValidationError(msg)
    space = {k: ([getattr(config, k)] if k in fixed else v) for k, v in SEARCH_SPACE.items()}
    return search.run_search(score, space, out_dir, n_trials=n_trials,
                             direction="minimize", sampler=sampler, seed=config.seed,
                             score_name=f"validation_{objective}_nT_at_50pct",
                             extra={"epochs_scale": epochs_scale, "fixed": list(fixed),
                                    "objective": objective},
                             progress=progress)


def grid_points_to_tile(anomalies, *, tile_km, tile_px):
    """Bin point anomalies into a tile centred on their median position.

    Returns
    -------
    (values, samples, coords)
        ``values`` (px, px) block means in nT (NaN where empty), ``samples`` the number of
        measurements in each pixel (``samples > 0`` is the known mask), and the
        ``latitude``/``longitude`` of the pixel centres (1-D, approximate for small tiles).
    """
    lon = anomalies["longitude"].values
    lat = anomalies["latitude"].values
    v = anomalies["anomaly"].values
    lon0, lat0 = float(np.median(lon)), float(np.median(lat))
    x, y = local_km(lon, lat, lon0, lat0)
    spacing = tile_km / tile_px
    edges = (np.arange(tile_px + 1) - tile_px / 2) * spacing
    inside = (np.abs(x) < tile_km / 2) & (np.abs(y) < tile_km / 2) & np.isfinite(v)
    total, _, _ = np.histogram2d(y[inside], x[inside], bins=[edges, edges], weights=v[inside])
    count, _, _ = np.histogram2d(y[inside], x[inside], bins=[edges, edges])
    values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    centres = (edges[:-1] + edges[1:]) / 2
    coords = {"latitude": lat0 + centres / KM_PER_DEGREE,
              "longitude": lon0 + centres / (KM_PER_DEGREE * math.cos(math.radians(lat0)))}
    return values, count.astype(int), coords


def device_noise(files):
    """Estimate a device's white-noise level.

    White-noise level (nT per sample) of a device from its stationary recordings (phone
    lying still: the "office" files): the median over files of
    :func:`magnetar.processing.noise_level` of the total field. Returns ``(median,
    per_file)``.
    """
    from ...io import read_crowdmag
    from ...processing import noise_level

    if not files:
        msg = "device_noise needs at least one stationary recording"
        raise ValidationError(msg)
    per_file = {str(f): noise_level(read_crowdmag(f)["total"].values) for f in files}
    return float(np.median(list(per_file.values()))), per_file


def pixel_noise(device_noise_nT, *, samples_per_pixel):
    """Return the noise of a tile pixel averaging several samples.

    Noise (nT) of a tile pixel that averages ``samples_per_pixel`` independent samples of
    a device with ``device_noise_nT`` per sample: the corruption level to train with.
    """
    if not samples_per_pixel >= 1 or not device_noise_nT >= 0:
        msg = ("need samples_per_pixel >= 1 and device_noise_nT >= 0; got "
               f"{samples_per_pixel}, {device_noise_nT}")
        raise ValidationError(msg)
    return float(device_noise_nT) / math.sqrt(samples_per_pixel)


DEFAULT_MODEL = "crowdmag_conv_ae.pt"  # shipped (model card beside it)


def run_denoise(files, out_dir, *, checkpoint=None, tile_km=None, observatories=(), tta=True,
                progress=False, support_px=2.0, max_abs_nT=5000.0):
    """CrowdMag files -> anomalies -> sparse tile -> reconstruction, one netCDF per file.

    Returns a table (one row per file) with anomaly statistics before and after the
    corrections and the tile coverage; writes ``denoise_summary.csv`` and per-file figures.
    ``tta``: the model's dihedral test-time augmentation.

    Parameters
    ----------
    files : sequence of path-like
        CrowdMag CSV files.
    out_dir : path-like
        Output folder.
    checkpoint : path-like, optional
        Autoencoder checkpoint (default: the shipped :data:`DEFAULT_MODEL`).
    tile_km : float, optional
        Tile side (default: the one the model was trained with, else 120 km).
    observatories : sequence of path-like
        IAGA-2002 files for the external-field correction.
    tta : bool
        Average the dihedral transforms (their spread is the ``uncertainty``).
    progress : bool
        Progress bar.
    support_px : float
        Pixels farther than this from a known pixel are left empty (NaN): the model was
        trained to fill gaps, not to invent a map where nothing was measured.
    max_abs_nT : float
        Screening: anomalies (total - IGRF - disturbance - device offset) beyond this are
        removed (:func:`magnetar.processing.screen_points`).

    Returns
    -------
    pandas.DataFrame
        One row per file.
    """
    from ...training.reconstruction import load_checkpoint

    if checkpoint is None:
        from ...pretrained import pretrained_path

        checkpoint = pretrained_path(DEFAULT_MODEL)
    if tile_km is None:
        trained = _training_config(checkpoint)
        tile_km = trained.tile_km if trained is not None else 120.0
    check_number(tile_km, option="--tile-km", minimum=0, maximum=20000, inclusive=False)
    check_number(support_px, option="--support-px", minimum=0)
    check_number(max_abs_nT, option="--max-abs-nT", minimum=0, inclusive=False)
    out_dir = output_folder(out_dir)
    model, train_cfg, _ = load_checkpoint(checkpoint)
    tile_px = train_cfg.model_kwargs.get("tile", 32)
    trained = _training_spacing_km(checkpoint)  # read once, not per recording
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = unique_stems(files, clean=_safe_stem)
    rows, failed = [], []
    for path in progress_bar(files, enabled=progress, desc="denoising", unit="file"):
        try:
            row = _denoise_one(path, out_dir / stems[str(path)], model=model,
                               train_cfg=train_cfg, tile_km=tile_km, tile_px=tile_px,
                               observatories=observatories, tta=tta, checkpoint=checkpoint,
                               support_px=support_px, max_abs_nT=max_abs_nT,
                               trained=trained)
        except MagnetarError as err:
            failed.append(f"{Path(path).name}: {err}")
            rows.append({"file": Path(path).name, "status": f"failed: {err}"})
            continue
        rows.append({"file": Path(path).name, "status": "ok", **row})
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "denoise_summary.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    if failed:
        msg = (f"{len(failed)} of {len(rows)} recordings failed (each file's status is in "
               f"{out_dir / 'denoise_summary.csv'}); first: {failed[0]}")
        raise ValidationError(msg)
    return table


def _safe_stem(name):
    return Path(name).stem.replace(" ", "_").replace(",", "_")


def _training_config(checkpoint):
    """Return the AEConfig a checkpoint was trained with (beside it), or None."""
    checkpoint = Path(checkpoint)
    candidates = (checkpoint.with_suffix(".crowdmag.config.toml"),  # a shipped model
                  checkpoint.parent / "crowdmag.config.toml")  # a 'crowdmag train' run
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    from ...config import load_config

    try:
        return load_config(AEConfig, path, section="crowdmag")
    except MagnetarError:
        return None


def _training_spacing_km(checkpoint):
    """Return the pixel size (km) the checkpoint was trained at, from its config, or None."""
    cfg = _training_config(checkpoint)
    return None if cfg is None else cfg.tile_km / cfg.tile_px


def _reconstruct_tile(model, values, known, *, tta, support_px):
    """Return the reconstruction, its view spread and the support (NaN outside it)."""
    from scipy import ndimage

    from ...training.reconstruction import reconstruct

    recon, spread = reconstruct(model, values[None], known[None], tta=tta, spread=True)
    distance = ndimage.distance_transform_edt(~known) if known.any() else np.full(
        known.shape, np.inf)
    support = distance <= support_px
    return (np.where(support, recon[0], np.nan), np.where(support, spread[0], np.nan),
            support)


def _processing_record(anomalies, *, path, tile_km, tile_px, checkpoint, support_px, trained):
    """Return the netCDF attributes saying what was done to a recording and with what.

    ``trained`` is the checkpoint's training pixel size in km (None when unknown).
    """
    spacing = tile_km / tile_px
    if trained is not None and not 0.5 <= spacing / trained <= 2:
        LOGGER.warning("%s: pixels of %.3g km, but the model was trained at %.3g km: the "
                       "reconstruction is outside its training scale", path, spacing, trained)
    times = anomalies["time"].values
    keys = ("date_note", "observatory", "observatory_note", "observatory_distance_km",
            "external_coverage",
            "device_offset_nT", "device_offset_method", "core_field_model", "screened_range",
            "screened_mad", "screening")
    return {"source_file": str(path), "tile_km": tile_km, "checkpoint": str(checkpoint),
            "support_px": support_px,
            "training_scale": ("unknown (no crowdmag.config.toml beside the checkpoint)"
                               if trained is None else f"trained at {trained:g} km pixels, "
                               f"applied at {spacing:g} km"),
            "time_coverage_start": str(times.min()), "time_coverage_end": str(times.max()),
            "Conventions": "CF-1.8",
            **{k: anomalies.attrs[k] for k in keys if k in anomalies.attrs}}


def _denoise_one(path, stem, *, model, train_cfg, tile_km, tile_px, observatories, tta,
                 checkpoint, support_px, max_abs_nT, trained):
    """Denoise one recording: netCDF (and figure) beside ``stem``; return its summary row."""
    from ...io import read_crowdmag
    from ...processing import crustal_anomaly, noise_level, screen_points

    points = read_crowdmag(path)
    if points.sizes["point"] < 2:
        msg = f"{path}: one usable row; a map needs at least two positions"
        raise ValidationError(msg)
    anomalies = screen_points(crustal_anomaly(points, observatories=observatories),
                              max_abs_nT=max_abs_nT)
    if anomalies.sizes["point"] < 2:
        msg = (f"{path}: fewer than two measurements pass the screening "
               f"({anomalies.attrs['screening']})")
        raise ValidationError(msg)
    values, samples, coords = grid_points_to_tile(anomalies, tile_km=tile_km, tile_px=tile_px)
    known = samples > 0
    recon, spread, support = _reconstruct_tile(model, values, known, tta=tta,
                                               support_px=support_px)
    dims = ("latitude", "longitude")
    ds = xr.Dataset({"reconstruction": (dims, recon, {"units": "nT", "long_name":
                     f"reconstruction within {support_px:g} px of a measured pixel"}),
                     "uncertainty": (dims, spread, {"units": "nT", "long_name":
                                                    "spread of the dihedral views"}),
                     "support": (dims, support.astype(np.int8)),
                     "gridded": (dims, values, {"units": "nT"}),
                     "known": (dims, known.astype(np.int8)),
                     "samples": (dims, samples.astype(np.int32),
                                 {"long_name": "measurements averaged in the pixel"})},
                    coords=coords,
                    attrs=_processing_record(anomalies, path=path, tile_km=tile_km,
                                             tile_px=tile_px, checkpoint=checkpoint,
                                             support_px=support_px, trained=trained))
    target = stem.with_name(stem.name + ".nc")
    with atomic_path(target, suffix=".nc") as tmp:
        ds.to_netcdf(tmp)
    raw = anomalies["total"].values
    noise = noise_level(anomalies["anomaly"].values)
    n_pixel = float(np.median(samples[known]))
    from ...plot import can_plot, plot_crowdmag_tile, save_figure

    if can_plot():
        save_figure(plot_crowdmag_tile(anomalies, ds), stem.with_name(stem.name + ".png"))
    if anomalies.attrs.get("date_note"):
        LOGGER.warning("%s: %s", path, anomalies.attrs["date_note"])
    return {"points": anomalies.sizes["point"],
            "date_note": anomalies.attrs.get("date_note", ""),
            "screened_range": anomalies.attrs["screened_range"],
            "screened_mad": anomalies.attrs["screened_mad"],
            "total_median_nT": float(np.median(raw)),
            "core_field_nT": float(np.median(anomalies["core_field"])),
            "device_offset_nT": anomalies.attrs["device_offset_nT"],
            "observatory": anomalies.attrs["observatory"],
            "external_std_nT": float(np.std(anomalies["external"])),
            "raw_minus_core_std_nT": float(np.std(raw - anomalies["core_field"])),
            "anomaly_std_nT": float(np.std(anomalies["anomaly"])),
            "noise_nT": noise,
            # a pixel averages n samples: the noise the model meets there
            "samples_per_pixel": n_pixel,
            "pixel_noise_nT": pixel_noise(noise, samples_per_pixel=n_pixel),
            "training_noise_nT": train_cfg.corruption.noise_nT,
            "known_pixels": int(known.sum()), "support_pixels": int(support.sum()),
            "median_uncertainty_nT": float(np.nanmedian(spread)) if support.any() else None,
            "netcdf": str(target)}
