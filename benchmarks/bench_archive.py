"""Benchmark: archive-scale cleaning on Dask (issue 27). Writes benchmarks/results/archive.json.

1. Real data: the BRW/DED windows in the data folder (1-minute, USGS), cleaned by the
   archive path with one and with two workers: the events catalogues must be byte-identical,
   and both must equal the in-memory run with ``period_s = 86400``.
2. Scaling: a synthetic network (magnetar.synthetic, one seed per day) of ``--stations``
   stations x ``--days`` days of 1-second data, written straight into the archive's work
   folder (no text files: reading is measured separately, per station-day), cleaned on a
   local Dask cluster of one and of two single-threaded workers.
   The two runs are interleaved ``--repeats`` times (this machine's speed drifts); the
   median pair gives the speed-up.
3. Memory: an archive built here, cleaned in a fresh child process day by day (one
   worker), for two archive lengths; the child's peak resident memory during the cleaning
   (VmHWM, reset after its imports) must not grow with the length.
4. Extrapolation to one year x 100 observatories of 1-second data on 16 cores.

Run: .venv/bin/python benchmarks/bench_archive.py [--days 30] [--stations 16] [--repeats 2]
     [--memory-days 30,90] [--memory-stations 4]
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar._dask import close_client, local_client  # noqa: E402
from magnetar.io import read_stations  # noqa: E402
from magnetar.processing import align_stations  # noqa: E402
from magnetar.synthetic import inject_interference, synthetic_observatories  # noqa: E402
from magnetar.workflows.cleaning import CleaningConfig, clean_observatories  # noqa: E402
from magnetar.workflows.cleaning.archive import (  # noqa: E402
    clean_archive,
    clean_ingested,
    ingest_dataset,
    make_layout,
)

WINDOWS = ("2021-12-17_2021-12-19", "2022-02-10_2022-02-15", "2022-03-09_2022-03-14")


def real_windows(tmp):
    """1 vs 2 workers (byte-identical catalogues) and archive vs in-memory on BRW/DED."""
    out = {}
    config = CleaningConfig(components=("X", "Y", "Z"))
    for window in WINDOWS:
        files = [datasets.fetch(n) for n in datasets.list_files("observatory/brw_ded/geomag")
                 if window in n and n[29] in "XYZ"]
        runs = {}
        for workers in (1, 2):
            folder = Path(tmp) / f"{window}_{workers}"
            t0 = time.perf_counter()
            res = clean_archive(files, folder, config, workers=workers, formats=())
            runs[workers] = {"seconds": time.perf_counter() - t0, "events": len(res["events"]),
                             "catalogue": (folder / "events.csv").read_bytes()}
        data = align_stations(read_stations(files), components=["X", "Y", "Z"])
        mem = clean_observatories(data, CleaningConfig(components=("X", "Y", "Z"),
                                                       period_s=86400.0))
        keys = ["time", "station", "component", "start", "end", "class"]
        mem_ev = mem.events.sort_values(["time", "station", "component"], kind="stable",
                                        ignore_index=True)[keys].astype(str)
        arch_ev = res["events"][keys].astype(str)
        out[window] = {
            "seconds_1_worker": runs[1]["seconds"], "seconds_2_workers": runs[2]["seconds"],
            "events": runs[1]["events"],
            "catalogues_byte_identical": runs[1]["catalogue"] == runs[2]["catalogue"],
            "equal_to_in_memory_run": bool(mem_ev.equals(arch_ev)),
            "interference": int((res["events"]["class"] == "interference").sum()),
        }
        print(window, out[window], flush=True)  # noqa: T201
    return out


def synthetic_archive(work, *, stations, days, seed=0):
    """Ingest a synthetic network day by day (one seed per day, 1-second data)."""
    names = [f"S{i:02d}" for i in range(stations)]
    distances = tuple(np.linspace(0.0, 100.0 * (stations - 1), stations))
    described = []
    start = np.datetime64("2024-01-01T00:00:00")
    for d in range(days):
        day = synthetic_observatories(
            stations=names, distances_km=distances, days=1.0, sampling_period=1.0,
            components=("X", "Y", "Z"), start=str(start + np.timedelta64(d, "D")),
            seed=seed + d)
        rng = np.random.default_rng(seed + d)
        day = inject_interference(day, station=names[1], starts=rng.integers(10, 86000, 30),
                                  widths=rng.integers(1, 4, 30),
                                  amplitudes=rng.uniform(2, 30, 30), seed=seed + d)[0]
        for i, name in enumerate(names):
            ds = day.sel(station=name, drop=True)
            ds.attrs = {"iaga_code": name, "sampling_period_s": 1.0}
            described.append(ingest_dataset(ds, Path(work) / "raw", number=d * stations + i,
                                            source=f"synthetic {name} day {d}"))
    return make_layout(described, work)


def scaling(tmp, *, stations, days, repeats):
    """Clean one synthetic archive with 1 and 2 workers, interleaved ``repeats`` times.

    This machine's speed drifts by +-20 % between minutes; pairs measured back to back give
    the speed-up, and the median pair is reported with every run.
    """
    work = Path(tmp) / "scaling_work"
    t0 = time.perf_counter()
    layout = synthetic_archive(work, stations=stations, days=days)
    made = time.perf_counter() - t0
    runs, catalogues = [], set()
    for rep in range(repeats):
        pair = {}
        for workers in (1, 2):
            client = local_client(workers)
            try:
                folder = Path(tmp) / f"scaling_{rep}_{workers}"
                t0 = time.perf_counter()
                res = clean_ingested(layout, folder, CleaningConfig(), client=client,
                                     formats=())
                pair[workers] = time.perf_counter() - t0
            finally:
                close_client(client)
            catalogues.add((folder / "events.csv").read_bytes())
            shutil.rmtree(folder, ignore_errors=True)
            print("scaling", rep, workers, pair[workers], flush=True)  # noqa: T201
        runs.append({"seconds_1_worker": pair[1], "seconds_2_workers": pair[2],
                     "speed_up_2_workers": pair[1] / pair[2]})
    shutil.rmtree(work, ignore_errors=True)
    one = float(np.median([r["seconds_1_worker"] for r in runs]))
    two = float(np.median([r["seconds_2_workers"] for r in runs]))
    return {
        "stations": stations, "days": days, "synthetic_archive_seconds": made, "runs": runs,
        "seconds_1_worker_median": one, "seconds_2_workers_median": two,
        "station_days_per_second_1_worker": stations * days / one,
        "station_days_per_second_2_workers": stations * days / two,
        "speed_up_2_workers_median_pair": float(np.median(
            [r["speed_up_2_workers"] for r in runs])),
        "catalogues_byte_identical": len(catalogues) == 1, "events": len(res["events"]),
    }


def _peak_rss_mb(*, reset=False):
    """Peak resident memory of this process (MB); ``reset`` starts a new peak (Linux)."""
    status = Path("/proc/self/status")
    if reset and Path("/proc/self/clear_refs").exists():
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(layout_path):
    """Child process: clean a built archive day by day here; print its peak RSS (MB).

    The peak is reset once the imports are done, so it is the cleaning's (on Linux).
    """
    import pickle

    layout = pickle.loads(Path(layout_path).read_bytes())
    before = _peak_rss_mb(reset=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clean_ingested(layout, Path(tmp) / "out", CleaningConfig(), formats=())
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_rss_MB": _peak_rss_mb(),  # noqa: T201
                      "rss_before_cleaning_MB": before, "seconds": seconds}))


def memory(days_list, stations):
    """Peak memory of a process that cleans archives of different lengths (built elsewhere).

    The archive is built by this process; a fresh child only cleans it, its peak reset
    after its imports (whose resident memory is reported as the RSS before cleaning).
    """
    import pickle

    out = []
    for days in days_list:
        with tempfile.TemporaryDirectory() as tmp:
            layout = synthetic_archive(Path(tmp) / "work", stations=stations, days=days)
            path = Path(tmp) / "layout.pickle"
            path.write_bytes(pickle.dumps(layout))
            proc = subprocess.run([sys.executable, __file__, "--memory-child", str(path)],
                                  capture_output=True, text=True, check=True)
        out.append({"days": days, "stations": stations,
                    **json.loads(proc.stdout.strip().splitlines()[-1])})
        print("memory", out[-1], flush=True)  # noqa: T201
    return {"runs": out, "peak_ratio_longest_to_shortest":
            out[-1]["peak_rss_MB"] / out[0]["peak_rss_MB"]}


def reading(tmp):
    """Seconds to ingest one station-day of 1-second data (read + write arrays), by format.

    IAGA-2002 text and ImagCDF (INTERMAGNET's exchange format for 1-second data); one
    synthetic day of X, Y, Z, F per station, CPU seconds of this process, best of two.
    """
    from magnetar.io import write_iaga2002, write_imagcdf
    from magnetar.workflows.cleaning.archive import _ingest_file

    day = synthetic_observatories(stations=("AAA", "BBB"), distances_km=(0, 100), days=1.0,
                                  sampling_period=1.0, components=("X", "Y", "Z", "F"))
    out = {}
    for fmt, write, name in (("iaga2002", write_iaga2002, "{}20240301vsec.sec"),
                             ("imagcdf", write_imagcdf, "{}_20240301_000000_pt1s_4.cdf")):
        files = []
        for code in ("AAA", "BBB"):
            ds = day.sel(station=code, drop=True)
            ds.attrs = {"iaga_code": code, "sampling_period_s": 1.0}
            files.append(write(ds, Path(tmp) / name.format(code.lower())))
        best = np.inf
        for rep in range(2):
            t0 = time.process_time()
            for i, f in enumerate(files):
                _ingest_file(i, f, Path(tmp) / f"read_{fmt}_{rep}" / "raw")
            best = min(best, (time.process_time() - t0) / len(files))
        out[fmt] = best
    return out


def extrapolate(results):
    """One year x 100 observatories of 1-second data on 16 cores, per input format."""
    clean = 1 / results["scaling"]["station_days_per_second_1_worker"]
    measured = results["scaling"]["speed_up_2_workers_median_pair"] / 2
    efficiency = min(measured, 1.0)  # above 1 is this machine's noise, not a gain to count on
    year = 365 * 100
    out = {"cleaning_seconds_per_station_day_one_worker": clean,
           "parallel_efficiency_measured_at_2_workers": measured,
           "parallel_efficiency_used": efficiency}
    for fmt, read in results["ingest_seconds_per_station_day_1s"].items():
        per_sd = clean + read
        out[fmt] = {"seconds_per_station_day_one_core_incl_reading": per_sd,
                    "minutes_on_16_cores": year * per_sd / (16 * efficiency) / 60}
    out["per_added_16_core_machine"] = ("divide by the number of machines (days are "
                                        "independent tasks; statistics move, data do not)")
    out["assumes"] = ("cost per station-day independent of network size (max_peers=6); "
                      "the per-day synchronisation check grows with station pairs")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--stations", type=int, default=16)
    parser.add_argument("--memory-days", default="30,90")
    parser.add_argument("--memory-stations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2,
                        help="interleaved 1- and 2-worker runs of the scaling test")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: "
                                                   "real,scaling,memory")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "archive.json"))
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    skip = set(args.skip.split(",")) - {""}
    results = {"machine": describe(), "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        results["ingest_seconds_per_station_day_1s"] = reading(tmp)
        if "real" not in skip:
            results["real_brw_ded"] = real_windows(tmp)
        if "scaling" not in skip:
            results["scaling"] = scaling(tmp, stations=args.stations, days=args.days,
                                         repeats=args.repeats)
    if "memory" not in skip:
        results["memory"] = memory([int(d) for d in args.memory_days.split(",")],
                                   args.memory_stations)
    if "scaling" in results:
        results["extrapolation_1_year_100_observatories_1s"] = extrapolate(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2,  # noqa: T201
                     default=str))


if __name__ == "__main__":
    main()
