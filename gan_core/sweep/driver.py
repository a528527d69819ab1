"""run_sweep: one study on Ray Tune (new, or restored with --resume), Optuna proposing, ASHA pruning."""
from __future__ import annotations

from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from .. import search_space as spaces, tracking, trainables
from . import memory_kill, optuna_search, ray_session
from .plan import SweepOptions, SweepPlan, make_plan
from .population_driver import run_population_sweep
from .results import SweepResult, finish
from .stopped import check_interrupted, flush_or_stop
from .tune_callback import MlflowTracker


def _tuner(plan: SweepPlan, trainable, tracker: MlflowTracker, callbacks: list) -> tune.Tuner:
    o = plan.options
    if plan.restore_from is not None:
        return tune.Tuner.restore(plan.restore_from[0], trainable, resume_unfinished=True, resume_errored=False)
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=plan.max_t, grace_period=o.grace_period,
                              reduction_factor=plan.reduction_factor) if o.early_stopping else FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=plan.fixed,
        tune_config=tune.TuneConfig(
            metric=o.metric, mode="min", scheduler=scheduler, num_samples=o.num_samples,
            max_concurrent_trials=o.max_concurrent,
            search_alg=optuna_search.searcher(plan.space, o.metric, seed=o.seed, study_name=plan.name,
                                              points=plan.points)),
        run_config=tune.RunConfig(
            name=plan.name, storage_path=plan.storage_uri, verbose=o.verbose,
            callbacks=[tracker, *callbacks],
            failure_config=tune.FailureConfig(max_failures=o.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))


def run_sweep(method: str, *, study: str, space: spaces.SearchSpace | None = None,
              points_to_evaluate: list[dict] | None = None, callbacks: list | None = None,
              **options: Any) -> SweepResult:
    """Sweep ``method`` (a GAN method, or a sampler job on the GAN run ``base``) with ``SweepOptions``.

    ASHA's rungs sit at grace_period × reduction_factor^i reports (default 1 and 3; 2 in smoke
    runs); a later first rung helps where the metric ranks configs poorly early on.
    """
    unknown = sorted(set(options) - SweepOptions.names())
    if unknown:
        raise TypeError(f"run_sweep got unknown options {unknown}")
    plan = make_plan(method, study, SweepOptions(**options), space, points_to_evaluate)
    if plan.options.population is not None:
        return run_population_sweep(plan, callbacks or [])

    ray_session.init_ray()
    resources = ray_session.trial_resources(plan.space.resources, plan.options.cpus_per_trial,
                                            plan.options.gpus_per_trial)
    trainable = trainables.get(method)
    if plan.base_state is not None:  # the base run's weights travel once, through Ray's object store
        trainable = tune.with_parameters(trainable, base=plan.base_state)
    trainable = tune.with_resources(trainable, resources)
    sweep_run = tracking.SweepRun.start(plan.uri, method, plan.name,
                                        {} if plan.restore_from else plan.parent_params(resources))
    tracker = MlflowTracker(sweep_run, plan.options.metric)
    path = plan.restore_from[0] if plan.restore_from else f"{plan.storage_uri}/{plan.name}"
    with memory_kill.stops_study(sweep_run, path):
        grid = _tuner(plan, trainable, tracker, callbacks or []).fit()
    ray.shutdown()  # the rest talks to MLflow only: let go of Ray (on a cluster this only disconnects)
    check_interrupted(grid, sweep_run, plan.options.num_samples, outage=MlflowTracker.outages.pop(plan.name, None))
    flush_or_stop(lambda: sweep_run.flush(wait=True), grid.experiment_path)
    return finish(plan, grid, sweep_run)
