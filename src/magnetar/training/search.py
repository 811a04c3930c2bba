"""One hyperparameter-search helper (Optuna) for every workflow.

A workflow supplies the categorical search space and an objective ``params -> score``;
:func:`run_search` runs the sampler, writes every trial and the best configuration, and
returns both. Seeded samplers make a search reproducible; the grid sampler walks the whole
table (or its first ``n_trials`` points).
"""

from __future__ import annotations

import json
from pathlib import Path

from .._utils import atomic_path, check_number, output_folder, require, write_text_atomic
from ..errors import ValidationError

__all__ = ["SAMPLERS", "run_search"]

SAMPLERS = ("random", "grid")


def run_search(objective, space, out_dir, *, n_trials, direction, sampler="random", seed=0,
               score_name="value", extra=None, progress=False):
    """Search ``space`` for the parameters that optimise ``objective``.

    Parameters
    ----------
    objective : callable
        ``objective(params) -> float`` for a dict of chosen values.
    space : dict of str to list
        Categorical choices per parameter (the published tables are categorical).
    out_dir : path-like
        Receives ``search.csv`` (one row per trial) and ``search.json`` (the best).
    n_trials : int
        Trials to run (>= 1).
    direction : {"minimize", "maximize"}
        Whether lower or higher scores are better.
    sampler : {"random", "grid"}
        Optuna's seeded random sampler, or its grid sampler over ``space``.
    seed : int
        Sampler seed.
    score_name : str
        Key of the best score in ``search.json`` (e.g. "value_iou").
    extra : dict, optional
        More entries for ``search.json``.
    progress : bool
        Optuna's progress bar.

    Returns
    -------
    (pandas.DataFrame, dict)
        The trials table and the best configuration.
    """
    optuna = require("optuna", extra="ml", feature="Hyperparameter search")
    if sampler not in SAMPLERS:
        msg = f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}"
        raise ValidationError(msg)
    if direction not in ("minimize", "maximize"):
        msg = f"direction must be 'minimize' or 'maximize', got {direction!r}"
        raise ValidationError(msg)
    check_number(n_trials, option="--trials", minimum=1, integer=True)
    out_dir = output_folder(out_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = (optuna.samplers.GridSampler(space, seed=seed) if sampler == "grid"
              else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(direction=direction, sampler=chosen)

    def trial_objective(trial):
        return objective({k: trial.suggest_categorical(k, v) for k, v in space.items()})

    study.optimize(trial_objective, n_trials=n_trials, show_progress_bar=progress)
    table = study.trials_dataframe(attrs=("number", "value", "params", "duration"))
    table["duration"] = table["duration"].dt.total_seconds()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(out_dir) / "search.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    best = {score_name: study.best_value, "params": study.best_params,
            "n_trials": len(study.trials), "sampler": sampler, **(extra or {})}
    write_text_atomic(Path(out_dir) / "search.json", json.dumps(best, indent=1))
    return table, best
