"""Benchmark: 4 stations x 4 components x one day of 1-second data, batch and streaming.

A physically consistent synthetic network (magnetar.synthetic.synthetic_observatories: one
natural field, Sq + storm + substorms + pulsations, seen by every station with distance-
dependent amplitude and delay, plus instrument noise), not unrelated real days aligned as if
simultaneous. Measures every rule's throughput (best of 5: these machines are noisy), peak memory (tracemalloc),
streaming throughput and latency, and MagPy's flag_outlier on the same data in the same run.
Single-threaded BLAS is enforced. Writes benchmarks/results/cleaning.json.

Run: make bench   (or: .venv/bin/python benchmarks/bench_cleaning.py)
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

from magnetar.synthetic import synthetic_observatories  # noqa: E402
from magnetar.workflows.cleaning import (  # noqa: E402
    CleaningConfig,
    StreamingCleaner,
    clean_observatories,
)
from magnetar.workflows.cleaning.evaluate import magpy_flag_outlier  # noqa: E402


def load_day():
    return synthetic_observatories(days=1.0, sampling_period=1.0, seed=0,
                                   components=("X", "Y", "Z", "F"))


def timed(fn, repeat=5):
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
    for rule in ("peer", "published", "sharp"):
        cfg = CleaningConfig(rule=rule)
        sec, res = timed(lambda cfg=cfg: clean_observatories(data, cfg))
        results[f"batch_{rule}"] = {
            "seconds": sec, "samples_per_second": n / sec,
            "peak_memory_MB": peak_memory(lambda cfg=cfg: clean_observatories(data, cfg)) / 1e6,
            "events": int(len(res.events)), "step_seconds": res.timings,
        }
    cfg = CleaningConfig(k=3.0, rule="published")  # streaming: the published rules
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
        sec, _ = timed(lambda: magpy_flag_outlier(data, threshold=4.0), repeat=3)
        results["magpy_flag_outlier"] = {"seconds": sec, "samples_per_second": n / sec}
        for rule in ("peer", "published"):
            results[f"ratio_magpy_over_{rule}"] = sec / results[f"batch_{rule}"]["seconds"]
    except ImportError as err:
        results["magpy_flag_outlier"] = f"not installed: {err}"
    out = Path(__file__).parent / "results" / "cleaning.json"
    out.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))  # noqa: T201


if __name__ == "__main__":
    main()
