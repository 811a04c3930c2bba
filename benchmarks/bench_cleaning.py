"""Benchmark: 4 stations x 4 components x one day of 1-second data, batch and streaming.

The four real 1-second days (WIC 2022-08-10, WIC example day 2023-07-12, SXY 2020-03-03,
NXY 2015-02-04) are aligned by time of day as if simultaneous. Measures throughput, peak
memory (tracemalloc) and streaming latency, and MagPy's flag_outlier on the same data in the
same run. Single-threaded BLAS is enforced. Writes benchmarks/results/cleaning.json.

Run: make bench   (or: MAGNETAR_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_cleaning.py)
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.io import read_iaga2002  # noqa: E402
from magnetar.pipelines import CleaningConfig, StreamingCleaner, clean_observatories  # noqa: E402
from magnetar.pipelines.cleaning_validation import magpy_flag_outlier  # noqa: E402

FILES = ["observatory/wic20220810vsec.zip", "observatory/example1.zip",
         "observatory/SXY20200303vsec.zip", "observatory/NXY20150204vsec.zip"]


def load_day():
    parts = []
    names = []
    for name in FILES:
        ds = read_iaga2002(datasets.fetch(name))
        names.append(name.split("/")[-1][:3].upper() + str(len(names)))
        comps = [c for c in ds.data_vars][:3]
        arr = {k: ds[c].values[:86400] for k, c in zip("XYZ", comps, strict=False)}
        # F: use the recorded one where present, else the vector norm of the variation
        f = ds["F"].values[:86400] if "F" in ds else np.full(86400, np.nan)
        arr["F"] = np.where(np.isfinite(f), f, np.sqrt(arr["X"] ** 2 + arr["Y"] ** 2 + arr["Z"] ** 2))
        parts.append(arr)
    t = np.datetime64("2024-01-01", "ns") + np.arange(86400) * np.timedelta64(1, "s")
    return xr.Dataset(
        {c: (("station", "time"), np.stack([p[c] for p in parts]), {"units": "nT"}) for c in "XYZF"},
        coords={"station": names, "time": t}, attrs={"sampling_period_s": 1.0})


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    data = load_day()
    n = data.sizes["station"] * 4 * data.sizes["time"]
    results = {"machine": describe(), "samples": int(n), "shape": "4 stations x 4 components x 86400 s"}
    for rule in ("published", "sharp"):
        cfg = CleaningConfig(k=3.0, rule=rule)
        sec, res = timed(lambda cfg=cfg: clean_observatories(data, cfg))
        results[f"batch_{rule}"] = {
            "seconds": sec, "samples_per_second": n / sec,
            "peak_memory_MB": peak_memory(lambda cfg=cfg: clean_observatories(data, cfg)) / 1e6,
            "events": int(len(res.events)), "step_seconds": res.timings,
        }
    cfg = CleaningConfig(k=3.0)
    reference = data.isel(time=slice(0, 3600))
    for chunk in (3600, 60):
        cleaner = StreamingCleaner.from_reference(reference, cfg, start=data["time"].values[0])
        t0 = time.perf_counter()
        for i in range(0, data.sizes["time"], chunk):
            cleaner.push(data.isel(time=slice(i, i + chunk)))
        cleaner.flush()
        sec = time.perf_counter() - t0
        results[f"streaming_chunk_{chunk}"] = {"seconds": sec, "samples_per_second": n / sec}
    # latency: one-sample pushes (a live 1 Hz feed) over 10 minutes of data
    cleaner = StreamingCleaner.from_reference(reference, cfg, start=data["time"].values[0])
    lat = []
    arrays = {c: data[c].values for c in "XYZF"}
    for i in range(600):
        chunk = xr.Dataset({c: (("station", "time"), arrays[c][:, i:i + 1]) for c in "XYZF"},
                           coords={"station": data["station"].values, "time": data["time"].values[i:i + 1]})
        t0 = time.perf_counter()
        cleaner.push(chunk)
        lat.append(time.perf_counter() - t0)
    results["streaming_latency_per_sample"] = {
        "median_ms": 1e3 * float(np.median(lat)), "p99_ms": 1e3 * float(np.percentile(lat, 99)),
        "decision_delay_samples": cleaner.latency}
    try:
        sec, _ = timed(lambda: magpy_flag_outlier(data, threshold=4.0), repeat=1)
        results["magpy_flag_outlier"] = {"seconds": sec, "samples_per_second": n / sec}
        results["ratio_magpy_over_magnetar_batch"] = sec / results["batch_published"]["seconds"]
    except ImportError as err:
        results["magpy_flag_outlier"] = f"not installed: {err}"
    out = Path(__file__).parent / "results" / "cleaning.json"
    out.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))  # noqa: T201


if __name__ == "__main__":
    main()
