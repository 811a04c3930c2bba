"""``magnetar demo``: the four workflows on embedded defaults, with real data when present.

With no network and no data folder it runs on the project's own synthetic data, whose truth
is known, so the report says how well each step did:

- observatory cleaning of synthetic observatories (and, with the registered Barrow/Deadhorse
  files in ``MAGNETAR_DATA_DIR``, of one real window of them);
- IAR detection on synthetic nights with the shipped U-Net (``iar_unet16.pt``): masks, IoU
  against the truth and the peak-detection baseline, f_n(t) and delta_f(t);
- marine grids: synthetic seafloor, preprocessing, and the linear-anomaly map of a synthetic
  grid with the shipped classifier (needs the registered polarity time scale);
- CrowdMag: a small masked autoencoder trained for a few epochs on clean tiles, compared with
  the gap-filling baselines, then applied to the CrowdMag recordings (needs the data folder).

Each part that lacks its data or optional dependency is reported as skipped, with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np

from . import datasets
from ._utils import atomic_path, require, write_text_atomic
from .errors import DataNotFoundError, MissingDependencyError
from .synthetic import inject_coincident, inject_interference, synthetic_observatories
from .workflows.cleaning import CleaningConfig, clean_observatories, run_clean
from .workflows.cleaning.run import write_cleaning_outputs

__all__ = ["run_demo"]

LOGGER = logging.getLogger(__name__)
REAL_WINDOW = "2022-03-09_2022-03-14"
DEMO_IAR_SEED = 424_242
DEMO_LMA_SEED = 31_337
CROWDMAG_DEMO_AREAS = ("Downtown Anchorage", "Thunderbird", "Boulder")
REAL_FILES = [
    f"observatory/brw_ded/geomag{st}{el}_{REAL_WINDOW}.csv"
    for st in ("BRW", "DED") for el in ("X", "Y", "Z")
]


def _synthetic_case(seed=7):
    # 1-second data, as in the published study: 6 hours of 4 stations
    data = synthetic_observatories(days=0.25, sampling_period=1.0, seed=seed,
                                   components=("X", "Y", "Z"), n_substorms=2)
    rng = np.random.default_rng(seed)
    n_t = data.sizes["time"]
    starts = np.sort(rng.choice(np.arange(1000, n_t - 1000, 1500), size=10, replace=False))
    corrupted, truth, _ = inject_interference(
        data, station="BBB", starts=starts, widths=rng.integers(1, 4, starts.size),
        amplitudes=rng.uniform(5, 50, starts.size), components=["X", "Z"], seed=seed)
    c_starts = np.array([s + 700 for s in starts[::3]])
    corrupted, _, _ = inject_coincident(
        corrupted, stations=["AAA", "BBB", "CCC", "DDD"], starts=c_starts, widths=2,
        amplitudes=20.0, gains=[1.0, 0.9, 0.8, 0.7], components=["X"], seed=seed)
    return data, corrupted, truth, c_starts


def run_demo(out_dir="demo-output", *, progress=True):
    """Run the demo; returns a dict of what was written and measured.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        What was written and measured (also ``demo_report.json``).
    """
    out_dir = Path(out_dir)
    report = {}
    config = CleaningConfig()  # the peer rule
    clean, corrupted, truth, c_starts = _synthetic_case()
    result = clean_observatories(corrupted, config, progress=progress)
    written = write_cleaning_outputs(result, out_dir / "synthetic", figures=True)
    flags = {c: result.cleaned[f"{c}_flag"].values for c in ("X", "Y", "Z")}
    hit = sum(int((np.isin(flags[c], (1, 2)) & truth[c].values).sum()) for c in ("X", "Z"))
    total = sum(int(truth[c].values.sum()) for c in ("X", "Z"))
    kept = all(not np.isin(flags["X"][:, a:a + 2], (1, 2)).any() for a in c_starts)
    err = np.concatenate([
        (result.cleaned[c].values - clean[c].values)[truth[c].values] for c in ("X", "Z")])
    report["synthetic"] = {
        "outputs": str(out_dir / "synthetic"),
        "interference_samples_replaced": f"{hit}/{total}",
        "coincident_events_kept": bool(kept),
        "rms_error_of_replaced_nT": float(np.sqrt(np.nanmean(err**2))),
        "figures": [str(p) for k, p in written.items() if k.startswith("figure")],
    }
    try:
        paths = [datasets.fetch(name, download=False) for name in REAL_FILES]
    except DataNotFoundError as err:
        LOGGER.info("real data not available locally (%s); synthetic demo only", err)
        report["real"] = "skipped: set MAGNETAR_DATA_DIR to the shared data folder"
    else:
        real, written = run_clean(paths, out_dir / "brw_ded", CleaningConfig(), progress=progress)
        replaced = sum(int(np.isin(real.cleaned[f"{c}_flag"].values, (1, 2)).sum())
                       for c in real.sigma["component"].values)
        report["real"] = {
            "outputs": str(out_dir / "brw_ded"),
            "window": REAL_WINDOW,
            "events": real.events["class"].value_counts().to_dict(),
            "samples_replaced": replaced,
            "figures": [str(p) for k, p in written.items() if k.startswith("figure")],
        }
    report["grids"] = _demo_grids(out_dir / "grids")
    for name, part in (("iar", _demo_iar), ("lma", _demo_lma), ("crowdmag", _demo_crowdmag)):
        try:
            report[name] = part(out_dir / name, progress=progress)
        except (DataNotFoundError, MissingDependencyError) as err:
            LOGGER.info("%s part of the demo skipped: %s", name, err)
            report[name] = f"skipped: {err}"
        LOGGER.info("demo %s: %s", name, report[name])
    write_text_atomic(out_dir / "demo_report.json", json.dumps(report, indent=2, default=str))
    return report


def _demo_grids(out_dir):
    """Marine grid workflow: synthetic seafloor (needs the GPTS file) and the NE Brazil grid."""
    from .workflows.lma.preprocess import PreprocessConfig, run_preprocess, run_synth_seafloor

    report = {}
    try:
        timescale = datasets.fetch("gpts/timescales.txt", download=False)
    except DataNotFoundError as err:
        LOGGER.info("polarity time scale not available locally (%s)", err)
        return "skipped: set MAGNETAR_DATA_DIR to the shared data folder"
    written = run_synth_seafloor(out_dir / "seafloor", n=3, seed=0, timescale_path=timescale)
    report["seafloor"] = {"outputs": str(out_dir / "seafloor"),
                          "figures": [str(v) for k, v in written.items() if k.startswith("figure")]}
    config = PreprocessConfig(outliers=1.5, svd_energy=0.98, diffuse=True, rho=6.0)
    synth = out_dir / "seafloor" / "seafloor_00000.nc"
    try:
        written = run_preprocess(synth, out_dir / "seafloor_preprocessed.nc", config)
    except MissingDependencyError as err:
        return {**report, "preprocess": f"skipped: {err}"}
    report["seafloor_preprocess_figure"] = str(written.get("figure"))
    if importlib.util.find_spec("verde") is not None:
        try:
            brazil = datasets.fetch("grids/emag2_v2_ne_brazil_xyz.txt", download=False)
        except DataNotFoundError:
            return report
        cfg = PreprocessConfig(outliers=1.5, regrid_spacing=0.05, regrid_method="cubic",
                               svd_energy=0.98, diffuse=True, rho=6.0)
        written = run_preprocess(brazil, out_dir / "ne_brazil.nc", cfg)
        report["ne_brazil_figure"] = str(written.get("figure"))
    return report


def _demo_iar(out_dir, *, progress=True):
    """Run the IAR part of the demo on synthetic nights.

    Synthetic nights -> shipped U-Net -> masks and resonance
    parameters, scored against the generator's truth and the peak-detection baseline.
    """
    require("torch", extra="ml", feature="The IAR demo")
    from .pretrained import pretrained_path
    from .synthetic import IARConfig, synthetic_iar_nights
    from .training.segmentation import load_segmentation
    from .workflows.iar.run import evaluate_nights, run_params

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nights = synthetic_iar_nights(3, IARConfig(), seed=DEMO_IAR_SEED, progress=progress)
    model, cfg, _ = load_segmentation(pretrained_path("iar_unet16.pt"), device="cpu")
    metrics, pred = evaluate_nights(model, nights, threshold=cfg.threshold)
    pred["spectrogram"] = nights["spectrogram"]
    pred["truth"] = nights["mask"]
    pred["true_delta_f"] = nights["delta_f"]
    with atomic_path(out_dir / "prediction.nc", suffix=".nc") as tmp:
        pred.to_netcdf(tmp)
    _, written = run_params(out_dir / "prediction.nc", out_dir / "resonance.csv")
    return {"outputs": str(out_dir), "nights": int(nights.sizes["night"]),
            "nights_with_iar": int(nights["has_iar"].sum()),
            "unet_iou": metrics["unet"]["iou"], "baseline_iou": metrics["baseline"]["iou"],
            "unet_f1_within_2_rows": metrics["unet"]["f1_rows2"],
            "baseline_f1_within_2_rows": metrics["baseline"]["f1_rows2"],
            "delta_f_median_abs_error_hz": metrics["delta_f_median_abs_error_hz"],
            "figures": [str(v) for k, v in written.items() if k.startswith("figure")]}


def _demo_lma(out_dir, *, progress=True):
    """Run the linear-anomaly part of the demo on a synthetic grid.

    A synthetic seafloor grid with ship-track gaps mapped by the shipped linear-anomaly
    classifier (the structure-tensor coherence baseline, ``lma_coherence.pt``: small enough
    to ship and train on a CPU). Scored against the generator's truth: accuracy on its
    labelled windows (published 70/30 rule) and the linear share of the mapped area.
    """
    require("torch", extra="ml", feature="The linear-anomaly demo")
    require("verde", extra="grids", feature="The linear-anomaly demo")
    from dataclasses import replace

    from .grids import sliding_windows
    from .pretrained import pretrained_path
    from .synthetic import synthetic_seafloor, window_labels
    from .training import classification_metrics
    from .training.classification import predict_proba
    from .workflows.lma.run import _diffused, _model_and_config, _write_map, predict_grid

    timescale = datasets.fetch("gpts/timescales.txt", download=False)
    model, config = _model_and_config(pretrained_path("lma_coherence.pt"), device="cpu")
    ds = synthetic_seafloor(config.seafloor_config(nonlinear_fraction=(0.3, 0.5)),
                            seed=DEMO_LMA_SEED, timescale_path=timescale)
    grid = _diffused(ds["anomaly"], config) if config.diffuse else ds["anomaly"]
    plain = replace(config, diffuse=False)  # diffused once, here
    windows, table = sliding_windows(grid, size=config.size, stride=config.stride,
                                     min_valid=0.0, clip=config.clip)
    truth = window_labels(ds["linear"].values, size=config.size, stride=config.stride)
    labelled = truth["label"].to_numpy() >= 0
    metrics = classification_metrics(truth["label"].to_numpy()[labelled],
                                     predict_proba(model, windows[labelled]))
    result = predict_grid(grid, model, config=plain, stride=25, progress=progress)
    result["anomaly"] = ds["anomaly"]
    result["linear_truth"] = ds["linear"].astype(np.int8)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_map(result, out_dir / "map.nc")
    mapped = result["linear"].values >= 0
    figure = None
    if importlib.util.find_spec("matplotlib") is not None:
        from .plot import plot_lma_map, save_figure

        fig = plot_lma_map(result)
        fig.axes[0].contour(ds["easting"], ds["northing"], ds["linear"].astype(float),
                            levels=[0.5], colors="gold", linewidths=1.5)
        fig.axes[0].set_title("anomaly; hatched: predicted non-linear; gold: true boundary")
        figure = save_figure(fig, out_dir / "map.png")
    return {"outputs": str(out_dir),
            "window_accuracy": metrics["accuracy"], "labelled_windows": int(labelled.sum()),
            "linear_percentage": result.attrs["linear_percentage"],
            "true_linear_percentage_of_mapped_area":
                100 * float(ds["linear"].values[mapped].mean()),
            "figure": str(figure)}


def _demo_crowdmag(out_dir, *, progress=True):
    """Run the CrowdMag part of the demo with a small autoencoder.

    A small masked autoencoder (thin-plate prior channels) trained briefly on clean tiles
    (Britain survey, EMAG2v3, synthetic seafloor), compared with the gap-filling baselines
    at 50 % masking, then applied to the CrowdMag recordings of the data folder.
    """
    require("torch", extra="ml", feature="The CrowdMag demo")
    require("verde", extra="grids", feature="The CrowdMag demo")
    from .workflows.crowdmag.run import AEConfig, build_tile_corpus, evaluate_methods, run_denoise
    from .workflows.crowdmag.run import run_train as train_ae

    for name in ("surveys/britain-magnetic.csv.xz", "gpts/timescales.txt"):
        datasets.fetch(name, download=False)  # DataNotFoundError -> skipped, no download
    out_dir = Path(out_dir)
    # the reported configuration (docs/crowdmag.md), with a small corpus and 8 epochs
    config = AEConfig(randomization=30, train={
        "model": "conv_masked_ae", "model_kwargs": {"thin_plate": (0.05, 0.5)}, "epochs": 8,
        "lr": 2e-3, "lr_schedule": "cosine", "loss_units": "nT", "seed": 0, "device": "cpu"})
    corpus = build_tile_corpus(config)
    model, _, written = train_ae(out_dir / "model", config, corpus=corpus, progress=progress)
    # 48 held-out tiles keep the demo short ('magnetar crowdmag evaluate' scores them all)
    test = corpus["test"][np.random.default_rng(0).permutation(len(corpus["test"]))[:48]]
    table = evaluate_methods(model, test, fractions=(0.5,))
    with atomic_path(out_dir / "evaluation.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    files = [datasets.fetch(name, download=False) for name in datasets.list_files("crowdmag/")
             if any(k in name for k in CROWDMAG_DEMO_AREAS)]
    # phone recordings span a few km: 2 km tiles (as in docs/crowdmag.md)
    denoised = run_denoise(files, out_dir / "denoised", checkpoint=written["checkpoint"],
                           tile_km=2.0)
    return {"outputs": str(out_dir),
            "mae_nT_at_50pct_masking": table.set_index("method")["mae"].to_dict(),
            "recordings_denoised": int(len(denoised))}
