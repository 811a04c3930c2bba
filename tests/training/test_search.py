"""The one search helper: the grid sampler finds the analytic optimum and records every trial."""

import json

import pytest

pytest.importorskip("optuna")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.training.search import run_search  # noqa: E402

SPACE = {"a": [0, 1, 2, 3], "b": ["x", "y"]}


def _objective(p):
    return (p["a"] - 2) ** 2 + (0.5 if p["b"] == "x" else 0.0)


def test_grid_search_finds_the_minimum(tmp_path):
    table, best = run_search(_objective, SPACE, tmp_path, n_trials=8, direction="minimize",
                             sampler="grid", score_name="loss")
    assert best["params"] == {"a": 2, "b": "y"}
    assert best["loss"] == 0.0
    assert len(table) == 8
    assert sorted(zip(table["params_a"], table["params_b"], strict=True)) == sorted(
        (a, b) for a in SPACE["a"] for b in SPACE["b"])  # every grid point once
    assert json.loads((tmp_path / "search.json").read_text())["params"] == best["params"]


def test_maximize_and_seeded_random_sampler_is_reproducible(tmp_path):
    first = run_search(lambda p: p["a"], SPACE, tmp_path / "1", n_trials=5,
                       direction="maximize", seed=3)[0]
    second = run_search(lambda p: p["a"], SPACE, tmp_path / "2", n_trials=5,
                        direction="maximize", seed=3)[0]
    assert first["params_a"].tolist() == second["params_a"].tolist()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sampler": "tpe"}, "sampler must be one of random, grid"),
    ({"direction": "up"}, "direction must be"),
    ({"n_trials": 0}, "--trials must be an integer"),
])
def test_bad_options_refused(tmp_path, kwargs, match):
    options = {"n_trials": 2, "direction": "minimize", **kwargs}
    with pytest.raises(ValidationError, match=match):
        run_search(_objective, SPACE, tmp_path, **options)
