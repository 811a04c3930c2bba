"""The published requirement, measured on real Barrow/Deadhorse data (small version of the
benchmark in benchmarks/validate_cleaning.py)."""

import pytest

from magnetar import datasets
from magnetar.io import read_stations
from magnetar.processing import align_stations
from magnetar.workflows.cleaning import CleaningConfig
from magnetar.workflows.cleaning.evaluate import injection_experiment, summarise_experiment


@pytest.mark.realdata
def test_brw_ded_injection_quiet_recall(registered):
    names = [n for n in datasets.list_files("observatory/brw_ded/geomag")
             if "2022-03-09" in n and n[29] in "XYZ"]
    data = align_stations(read_stations([registered(n) for n in names]),
                          components=["X", "Y", "Z"])
    result = injection_experiment(data, station="BRW", config=CleaningConfig(k=3.0),
                                  rules=("published", "sharp"), n_runs=3, seed=11)
    summary = summarise_experiment([result])
    for method in ("magnetar-published", "magnetar-sharp"):
        quiet = summary[method]["recall_quiet"]
        for amp in ("20", "100"):
            assert quiet[amp]["recall"] >= 0.99, (method, amp, quiet)
        assert summary[method]["coincident_removed"] == 0
    # the refinement does at least as well as the published rule in disturbed intervals
    dist_pub = summary["magnetar-published"]["recall_disturbed"]
    dist_sharp = summary["magnetar-sharp"]["recall_disturbed"]
    for amp in dist_pub:
        assert dist_sharp[amp]["recall"] >= dist_pub[amp]["recall"]
