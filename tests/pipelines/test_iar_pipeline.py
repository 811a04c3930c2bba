import json

import numpy as np
import pytest

pytest.importorskip("torch")

from magnetar.pipelines.iar_detection import (  # noqa: E402
    SEARCH_SPACE,
    THRESHOLDS,
    IARPipelineConfig,
    choose_threshold,
    run_crossval,
    run_search,
)

TINY = {"epochs": 1, "batch_size": 2, "device": "cpu",
        "model_kwargs": {"base": 4, "depth": 2, "dropout": 0.0}}


def test_choose_threshold_picks_the_best_iou_by_hand():
    truth = np.array([1, 1, 0, 0], bool)
    prob = np.array([0.95, 0.62, 0.58, 0.1])
    threshold, rows = choose_threshold(prob, truth)
    # above 0.58 and below 0.62 only the two true pixels remain: IoU 1
    assert threshold == 0.6 and max(r["iou"] for r in rows) == 1.0
    assert [r["threshold"] for r in rows] == list(THRESHOLDS)


def test_crossval_folds_partition_the_nights(tmp_path):
    cfg = IARPipelineConfig(n_train=4, n_val=2, train=TINY)
    summary = run_crossval(tmp_path, cfg, k=2)
    folds = summary["folds"]
    assert len(folds) == 2 and sum(f["n_test"] for f in folds) == 4
    assert all(0 <= f["iou"] <= 1 and f["threshold"] in THRESHOLDS for f in folds)
    assert summary["mean_iou"] == pytest.approx(np.mean([f["iou"] for f in folds]))
    assert json.loads((tmp_path / "crossval.json").read_text())["k"] == 2


def test_search_records_every_trial_within_the_space(tmp_path):
    cfg = IARPipelineConfig(n_train=3, n_val=2, train=TINY)
    table, best = run_search(tmp_path, cfg, n_trials=2, sampler="random")
    assert len(table) == 2 and best["n_trials"] == 2
    assert best["value_iou"] == pytest.approx(table["value"].max())
    for name, values in SEARCH_SPACE.items():
        assert set(table[f"params_{name}"]) <= set(values)
    assert (tmp_path / "search.csv").is_file()
