"""run_population_sweep: Ray Tune places populations (one per GPU by default) on the cluster; a coordinator
actor proposes their members (Optuna), judges each (ASHA) and records each as an MLflow child run."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import ray
from ray import tune
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .. import tracking, trainables
from ..interrupt import StudyInterrupted
from ..population import pbt
from ..population.members import signature_text
from . import ray_session
from .coordinator import Coordinator
from .plan import SweepPlan
from .results import SweepResult, finish_members
from .stopped import OUTAGE, flush_or_stop, saved_unfinished
from .tune_callback import MlflowTracker, OutageWatch


def coordinator_folder(plan: SweepPlan) -> Path:
    """Where the coordinator keeps Optuna's journal and the members' registry: beside the experiment on
    local storage, else in the head's cache (the driver resumes on the head)."""
    if "://" not in plan.storage_uri:
        return Path(plan.storage_uri) / plan.name / "members"
    return Path.home() / ".cache" / "gan_core" / "sweeps" / plan.name


def held_members(experiment_path: str) -> set[str]:
    """The members that the populations' latest checkpoints hold (read before a resume)."""
    held = set()
    for trial in tune.ExperimentAnalysis(experiment_path).trials:
        if trial.checkpoint is not None:
            with trial.checkpoint.as_directory() as folder:
                state = json.loads((Path(folder) / "population.json").read_text())
            held |= {i for i, active in zip(state["ids"], state["active"]) if active}
    return held


def populations(plan: SweepPlan) -> tuple[int, dict[str, float]]:
    """How many populations, and each one's resources: one GPU each where the cluster has GPUs."""
    o, gpus = plan.options, int(ray.cluster_resources().get("GPU", 0))
    gpu = o.gpus_per_trial if o.gpus_per_trial is not None else (1.0 if gpus else 0.0)
    count = o.populations or max(1, int(gpus / gpu) if gpu else 1)
    return count, ray_session.trial_resources(plan.space.resources, o.cpus_per_trial, gpu)


def check_stopped(plan: SweepPlan, grid, coordinator, sweep_run: tracking.SweepRun) -> None:
    """Tune returns normally from SIGINT (or the outage watch's stop), its state saved: mark the unfinished
    members and the parent run interrupted, and say so instead of failing the members and ranking."""
    cut = saved_unfinished(grid.experiment_path)
    outage = MlflowTracker.outages.pop(plan.name, None) or ray.get(coordinator.overdue.remote())
    if not cut and not outage:
        return
    reason = "interrupted; --resume continues it"
    left = ray.get(coordinator.interrupt.remote(reason))
    ray.shutdown()
    sweep_run.interrupt([], reason)
    saved = (f"{len(cut)} of {len(grid._experiment_analysis.trials)} populations cut short, {len(left)} members "
             f"unfinished (their runs marked KILLED in MLflow); Tune saved the study in {grid.experiment_path}")
    if outage:
        raise StudyInterrupted(f"{outage}; {saved}", status=OUTAGE)
    raise StudyInterrupted(saved)


def run_population_sweep(plan: SweepPlan, callbacks: list) -> SweepResult:
    o = plan.options
    ray_session.init_ray()
    count, resources = populations(plan)
    held = held_members(plan.restore_from[0]) if plan.restore_from else None
    sweep_run = tracking.SweepRun.start(plan.uri, plan.method, plan.name, {} if plan.restore_from else {
        **plan.parent_params(resources), "population": o.population, "populations": count})
    search_options = dict(
        space=plan.space, fixed=plan.fixed, metric=o.metric, seed=o.seed, num_samples=o.num_samples,
        max_t=plan.max_t, grace_period=o.grace_period, reduction_factor=plan.reduction_factor,
        early_stopping=o.early_stopping and o.scheduler == "asha", points=plan.points, folder=str(coordinator_folder(plan)),
        study_name=plan.name, signature_of=functools.partial(signature_text, plan.job))
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    coordinator = ray.remote(num_cpus=0)(Coordinator).options(
        name=f"coordinator-{plan.name}", scheduling_strategy=here).remote(search_options, sweep_run, plan.job, held)
    trainable = tune.with_resources(trainables.population, resources)
    if plan.restore_from is not None:
        tuner = tune.Tuner.restore(plan.restore_from[0], trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"coordinator": f"coordinator-{plan.name}", "method": plan.method, "slots": o.population,
                         "device": plan.resolved["device"], "scheduler": o.scheduler, "metric": o.metric,
                         "pbt_space": {k: [r.low, r.high, r.log] for k, r in pbt.ranges(plan.space.search).items()},
                         "population": tune.grid_search([f"p{i}" for i in range(count)])},
            tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=count),
            run_config=tune.RunConfig(name=plan.name, storage_path=plan.storage_uri, verbose=o.verbose,
                                      callbacks=[OutageWatch(plan.name, f"coordinator-{plan.name}"), *callbacks],
                                      failure_config=tune.FailureConfig(max_failures=o.max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))
    grid = tuner.fit()
    check_stopped(plan, grid, coordinator, sweep_run)
    errors = [f"{type(r.error).__name__}: {str(r.error).strip().splitlines()[-1][:200]}" for r in grid if r.error]
    left = ray.get(coordinator.fail_unfinished.remote(
        "its population failed: " + (errors[0] if errors else "it ended before training this member")))
    if left:
        print(f"{len(left)} member(s) not trained because their population failed ({errors[0] if errors else ''}); "
              f"they end as failed")
    flush_or_stop(lambda: ray.get(coordinator.flush.remote()), grid.experiment_path, on_stop=ray.shutdown)
    records = ray.get(coordinator.records.remote())
    ray.shutdown()
    return finish_members(plan, records, sweep_run, grid.experiment_path, coordinator_folder(plan))
