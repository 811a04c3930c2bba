"""Speed of the cleaning rules on a physically consistent synthetic network.

4 stations x 4 components (X, Y, Z, F) x one day of 1-second data from
magnetar.synthetic.synthetic_observatories (one natural field seen by every station), one
thread. Each rule is timed in the same run (best of 2), so the ratios hold on a noisy machine.
Writes benchmarks/results/cleaning_peer_speed.json.

Run: .venv/bin/python benchmarks/bench_cleaning_peer.py
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar.pipelines import CleaningConfig, clean_observatories  # noqa: E402
from magnetar.synthetic import synthetic_observatories  # noqa: E402


def main():
    data = synthetic_observatories(days=1.0, sampling_period=1.0, seed=0,
                                   components=("X", "Y", "Z", "F"))
    out = {"machine": describe(), "stations": int(data.sizes["station"]),
           "samples_per_station": int(data.sizes["time"]), "components": 4, "rules": {}}
    for rule in ("published", "sharp", "peer"):
        best = float("inf")
        steps = {}
        for _ in range(2):
            t0 = time.perf_counter()
            result = clean_observatories(data, CleaningConfig(rule=rule))
            dt = time.perf_counter() - t0
            if dt < best:
                best, steps = dt, {k: round(v, 3) for k, v in result.timings.items()}
        out["rules"][rule] = {"seconds": round(best, 3), "steps_s": steps}
    ref = out["rules"]["published"]["seconds"]
    for entry in out["rules"].values():
        entry["ratio_to_published"] = round(entry["seconds"] / ref, 2)
    path = Path(__file__).parent / "results" / "cleaning_peer_speed.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["rules"], indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
