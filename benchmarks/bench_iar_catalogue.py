"""Benchmark: ``iar catalogue`` on synthetic daily files (issue 27). Writes results JSON.

``--nights`` synthetic 100 Hz nights (magnetar.synthetic.synthetic_iar_archive: daily
miniSEED files, each night split across two files as archived) are catalogued with the
shipped U-Net on a local Dask cluster of one and of two single-threaded workers. Measured:
nights per second per worker, byte-identical catalogues, and the catalogue against the
generator's truth (presence, median delta_f) as a sanity check of the whole chain.

Run: .venv/bin/python benchmarks/bench_iar_catalogue.py [--nights 30]
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar._dask import close_client, local_client  # noqa: E402
from magnetar.synthetic import synthetic_iar_archive  # noqa: E402
from magnetar.workflows.iar.catalogue import run_catalogue  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20_000_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "iar_catalogue.json"))
    args = parser.parse_args()
    results = {"machine": describe(), "command": " ".join(sys.argv), "nights": args.nights}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths, truth = synthetic_iar_archive(Path(tmp) / "raw", args.nights, seed=args.seed)
        results["synthetic_archive_seconds"] = time.perf_counter() - t0
        tables = {}
        for workers in (1, 2):
            client = local_client(workers)
            try:
                t0 = time.perf_counter()
                tables[workers] = run_catalogue(paths, Path(tmp) / f"out{workers}",
                                                client=client)
                seconds = time.perf_counter() - t0
            finally:
                close_client(client)
            results[f"seconds_{workers}_worker"] = seconds
            results[f"nights_per_second_per_worker_{workers}"] = args.nights / seconds / workers
            print(workers, seconds, flush=True)  # noqa: T201
        results["speed_up_2_workers"] = results["seconds_1_worker"] / results["seconds_2_worker"]
        results["catalogues_byte_identical"] = (
            (Path(tmp) / "out1" / "catalogue.csv").read_bytes()
            == (Path(tmp) / "out2" / "catalogue.csv").read_bytes())
        table = tables[1].merge(truth, on="night", suffixes=("", "_true"))
        hit = table["iar_present"].astype(bool) == table["has_iar"].astype(bool)
        both = table["iar_present"].astype(bool) & table["delta_f_median_hz_true"].notna()
        error = np.abs(table["delta_f_median_hz"][both] - table["delta_f_median_hz_true"][both])
        results["truth"] = {
            "nights_with_iar_true": int(table["has_iar"].sum()),
            "presence_accuracy": float(hit.mean()),
            "false_presence": int((table["iar_present"].astype(bool) & ~table["has_iar"]).sum()),
            "missed_presence": int((~table["iar_present"].astype(bool) & table["has_iar"]).sum()),
            "delta_f_night_median_abs_error_hz_median": float(np.median(error))
            if len(error) else None,
            "delta_f_night_median_abs_error_hz_max": float(error.max()) if len(error) else None,
            "note": "synthetic nights from the default generator ranges (the shipped model "
                    "was trained on this generator): a check of the chain, not of the model",
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
