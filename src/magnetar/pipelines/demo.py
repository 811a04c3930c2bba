"""``magnetar demo``: the main job on embedded defaults, with real data when it is present.

With no network and no data folder it runs on the project's own synthetic observatories (known
truth, so it prints how well the cleaning did). When the registered Barrow/Deadhorse files are
in the local data folder (``MAGNETAR_DATA_DIR``), it also cleans one real window of them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np

from .. import datasets
from .._utils import write_text_atomic
from ..errors import DataNotFoundError
from ..synthetic import inject_coincident, inject_interference, synthetic_observatories
from .observatory_cleaning import CleaningConfig, clean_observatories
from .run_cleaning import run_clean, write_cleaning_outputs

__all__ = ["run_demo"]

LOGGER = logging.getLogger(__name__)
REAL_WINDOW = "2022-03-09_2022-03-14"
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
    """Run the demo; returns a dict of what was written and measured."""
    out_dir = Path(out_dir)
    report = {}
    config = CleaningConfig(k=6.0, rule="sharp")
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
        real, written = run_clean(paths, out_dir / "brw_ded", CleaningConfig(k=6.0, rule="sharp"),
                                  progress=progress)
        report["real"] = {
            "outputs": str(out_dir / "brw_ded"),
            "window": REAL_WINDOW,
            "events": real.events["class"].value_counts().to_dict(),
            "figures": [str(p) for k, p in written.items() if k.startswith("figure")],
        }
    report["grids"] = _demo_grids(out_dir / "grids")
    write_text_atomic(out_dir / "demo_report.json", json.dumps(report, indent=2, default=str))
    return report


def _demo_grids(out_dir):
    """Marine grid workflow: synthetic seafloor (needs the GPTS file) and the NE Brazil grid."""
    from ..errors import MissingDependencyError
    from .grid_preprocessing import PreprocessConfig, run_preprocess, run_synth_seafloor

    report = {}
    try:
        timescale = datasets.fetch("gpts/timescales.txt", download=False)
    except DataNotFoundError as err:
        LOGGER.info("polarity time scale not available locally (%s)", err)
        return "skipped: set MAGNETAR_DATA_DIR to the shared data folder"
    written = run_synth_seafloor(out_dir / "seafloor", n=3, seed=0, timescale_path=timescale)
    report["seafloor"] = {"outputs": str(out_dir / "seafloor"),
                          "figure": str(written.get("figure"))}
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
