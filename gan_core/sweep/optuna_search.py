"""The only module that knows Optuna: a search space's distributions, the seeded TPE searcher, and the plots."""
from __future__ import annotations

import math
import warnings
from typing import Any

from pathlib import Path

import optuna
import optuna.distributions as dist
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.visualization import matplotlib as ovm
from ray.tune.search.optuna import OptunaSearch

from ..ranking import higher_is_better
from ..search_space import SearchSpace


def distributions(space: SearchSpace) -> dict[str, dist.BaseDistribution]:
    out = {}
    for key, spec in space.search.items():
        kind = spec["type"]
        if kind == "categorical":
            out[key] = dist.CategoricalDistribution(list(spec["choices"]))
        elif kind in ("int", "logint"):
            out[key] = dist.IntDistribution(int(spec["low"]), int(spec["high"]), log=kind == "logint")
        else:
            out[key] = dist.FloatDistribution(float(spec["low"]), float(spec["high"]), log=kind == "loguniform")
    return out


def direction(metric: str) -> str:
    return "maximize" if higher_is_better(metric) else "minimize"


def searcher(space: SearchSpace, metric: str, *, seed: int, study_name: str,
             points: list[dict] | None = None) -> OptunaSearch:
    """TPE, seeded; constant_liar so trials running in parallel are proposed apart."""
    return OptunaSearch(space=distributions(space), metric=metric, mode=direction(metric)[:3],
                        study_name=study_name, points_to_evaluate=points or None,
                        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True))


def study_figures(folder, study_name: str) -> dict[str, Any]:
    """The plots of a population sweep's own study (its journal in ``folder``)."""
    storage = JournalStorage(JournalFileBackend(str(Path(folder) / "optuna.journal")))
    return plots(optuna.load_study(study_name=study_name, storage=storage))


def figures(space: SearchSpace, rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Importance, parallel-coordinate and history plots of the sweep, rebuilt as an Optuna
    study from the trials' configs and last reported values (public API only)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(space)
    study = optuna.create_study(direction=direction(metric))
    for row in rows:
        if not isinstance(row.get(metric), float) or not math.isfinite(row[metric]):
            continue
        params = {k: row["config"][k] for k in dists}
        state = optuna.trial.TrialState.COMPLETE if row["status"] == "completed" else optuna.trial.TrialState.PRUNED
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=row[metric] if state.name == "COMPLETE" else None,
            intermediate_values={row["reports"]: row[metric]}, state=state))
    return plots(study)


PLOTS = {"importance": ovm.plot_param_importances, "parallel_coordinate": ovm.plot_parallel_coordinate,
         "history": ovm.plot_optimization_history}


def plots(study: optuna.Study) -> dict[str, Any]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, plot in PLOTS.items():
            try:
                out[name] = plot(study).figure
            except Exception as err:  # e.g. importance needs two completed trials
                print(f"optuna {name} plot skipped: {err}")
    return out
