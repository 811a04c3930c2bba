"""Injection experiment on real Barrow/Deadhorse data, magnetar vs MagPy (see
magnetar.workflows.cleaning.evaluate). Writes benchmarks/results/cleaning_validation.json.

Run: make validate
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.io import read_stations  # noqa: E402
from magnetar.processing import align_stations  # noqa: E402
from magnetar.workflows.cleaning import CleaningConfig  # noqa: E402
from magnetar.workflows.cleaning.evaluate import injection_experiment, summarise_experiment  # noqa: E402

WINDOWS = ("2021-12-17", "2022-02-10", "2022-03-09")


def main():
    out = {"machine": describe()}
    # default = cadence-aware cut-off (1800 s at these 1-minute files); 600 s for comparison
    for label, cfg in (("k3_cutoff_default", CleaningConfig(k=3.0)),
                       ("k3_cutoff600s", CleaningConfig(k=3.0, cutoff_period_s=600.0))):
        results = []
        for w in WINDOWS:
            names = [n for n in datasets.list_files("observatory/brw_ded/geomag")
                     if w in n and n[29] in "XYZ"]
            data = align_stations(read_stations([datasets.fetch(n) for n in names]),
                                  components=["X", "Y", "Z"])
            results.append(injection_experiment(data, station="BRW", config=cfg, n_runs=10,
                                                magpy_threshold=4.0, seed=1))
        out[label] = summarise_experiment(results)
    path = Path(__file__).parent / "results" / "cleaning_validation.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
