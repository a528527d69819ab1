"""run_sweep: Ray Tune + OptunaSearch + ASHA + MLflow tracking. Every script in sweeps/ uses it.

This is the only module that knows about Optuna and ASHA. It validates everything
before Ray starts, runs the Tuner (or restores it with --resume), then ranks the
trials, promotes the champion and logs Optuna's plots to the sweep's parent run.
"""
from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from . import methods, registry, search_space as spaces, tracking, trainables

SMOKE_SAMPLES = 6


@dataclass
class SweepResult:
    method: str
    name: str
    metric: str
    rows: list[dict[str, Any]] = field(default_factory=list)   # one per trial, best first
    best: dict[str, Any] | None = None
    champion: str = ""
    experiment_path: str = ""

    def table(self) -> str:
        cols = ["trial_id", "status", "reports", "fid_mnist", "fid", "precision", "recall", "inception_samples"]
        lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
        for row in self.rows:
            lines.append(" | ".join(_fmt(row.get(c, "")) for c in cols))
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


# --- tracking as a Tune callback ---------------------------------------------------

class MlflowTracker(tune.Callback):
    """Logs every trial to MLflow from the driver (one writer, no SQLite contention)."""

    def __init__(self, sweep_run: tracking.SweepRun, metric: str):
        self.sweep_run, self.metric = sweep_run, metric
        self.runs: dict[str, str] = {}
        self.checkpoints: dict[str, Any] = {}

    def _run_id(self, trial) -> str:
        if trial.trial_id not in self.runs:
            self.runs[trial.trial_id] = self.sweep_run.trial_run(trial.trial_id, trial.config)
        return self.runs[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._run_id(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.sweep_run.log_report(self._run_id(trial), result)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self.checkpoints[trial.trial_id] = checkpoint
        with checkpoint.as_directory() as folder:
            self.sweep_run.log_samples(self._run_id(trial), Path(folder) / trainables.SAMPLES,
                                       int(trial.last_result.get("step", 0)))

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        run_id = self._run_id(trial)
        checkpoint = self.checkpoints.get(trial.trial_id) or trial.checkpoint
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                self.sweep_run.log_checkpoint(run_id, folder)
        if result.get("final"):
            self.sweep_run.end_trial(run_id, "completed", "reached its budget")
        else:
            self.sweep_run.end_trial(run_id, "pruned", f"stopped early by ASHA after report "
                                     f"{result.get('training_iteration')} ({self.metric}={result.get(self.metric)})")

    def on_trial_error(self, iteration, trials, trial, **info):
        reason = _error_text(trial)
        status = "diverged" if "diverged at step" in reason else "failed"
        self.sweep_run.end_trial(self._run_id(trial), status, reason)


def _error_text(trial) -> str:
    for attr in ("error_file", "pickled_error_file"):
        path = getattr(trial, attr, None)
        if path and Path(path).exists() and attr == "error_file":
            lines = [l for l in Path(path).read_text().splitlines() if l.strip()]
            for line in reversed(lines):  # the exception's own line, not the traceback
                if "Error" in line or "Diverged" in line:
                    return line.strip()
            return lines[-1] if lines else "failed"
    return "failed (no error file)"


# --- Optuna's plots, from the finished trials ---------------------------------------

def optuna_figures(space: spaces.SearchSpace, rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Importance, parallel-coordinate and history plots of the sweep, rebuilt as an Optuna
    study from the trials' configs and last reported values (public API only)."""
    import optuna
    from optuna.visualization import matplotlib as ovm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = space.optuna_distributions()
    study = optuna.create_study(direction="maximize" if metric.startswith(("precision", "recall")) else "minimize")
    for row in rows:
        if not isinstance(row.get(metric), float) or not math.isfinite(row[metric]):
            continue
        params = {k: row["config"][k] for k in dists}
        state = optuna.trial.TrialState.COMPLETE if row["status"] == "completed" else optuna.trial.TrialState.PRUNED
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=row[metric] if state.name == "COMPLETE" else None,
            intermediate_values={row["reports"]: row[metric]}, state=state))
    figures = {}
    plots = {"importance": ovm.plot_param_importances, "parallel_coordinate": ovm.plot_parallel_coordinate,
             "history": ovm.plot_optimization_history}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, plot in plots.items():
            try:
                figures[name] = plot(study).figure
            except Exception as err:  # e.g. importance needs two completed trials
                print(f"optuna {name} plot skipped: {err}")
    return figures


# --- the driver -----------------------------------------------------------------------

def _init_ray() -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")  # experiment state often: resume loses little
    address = os.environ.get("RAY_ADDRESS")
    if address:  # `ray job submit`, KubeRay's RayJob, or the user; "local" forces a private instance
        ray.init(address=address, **({"include_dashboard": False} if address == "local" else {}))
        return
    # No address: join the cluster that `ray start` recorded on this node (a head that `ray submit`
    # runs us on), else start a local Ray. Not address="auto": that also joins any other Ray
    # instance found running on the machine, such as another user's sweep, and dies with it.
    try:
        ray.init(include_dashboard=False)
    except ConnectionError:  # a stale record of a `ray start` cluster that is gone
        ray.init(address="local", include_dashboard=False)


def _latest_experiment(storage_uri: str, study: str) -> tuple[str, str]:
    """(path, name) of the newest restorable <study>-* experiment, local or on S3/GCS."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(storage_uri)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    names = sorted(i.base_name for i in infos
                   if i.type == pafs.FileType.Directory and i.base_name.startswith(f"{study}-"))
    for name in reversed(names):
        path = f"{storage_uri.rstrip('/')}/{name}"
        if tune.Tuner.can_restore(path):
            return path, name
    raise FileNotFoundError(f"--resume: no restorable {study}-* experiment under {storage_uri}")


def trial_resources(space: spaces.SearchSpace, cpus: float | None = None, gpus: float | None = None) -> dict:
    """Per-trial resources: the arguments (flags, $GAN_*_PER_TRIAL), else the space's ``resources:``,
    else 1 CPU and, where the cluster has GPUs now, a quarter GPU (4 trials share one)."""
    cpus = space.resources.get("cpu", 1.0) if cpus is None else cpus
    gpus = space.resources.get("gpu") if gpus is None else gpus
    if gpus is None:
        import ray
        gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"cpu": float(cpus), "gpu": float(gpus)}


def run_sweep(method: str, *, study: str, space: spaces.SearchSpace | None = None, num_samples: int = 16,
              max_epochs: int | None = None, metric: str = "fid_mnist", smoke: bool = False,
              tracking_uri: str | None = None, storage_path: str | None = None, resume: bool = False,
              seed: int = 0, max_concurrent: int | None = None, cpus_per_trial: float | None = None,
              gpus_per_trial: float | None = None, points_to_evaluate: list[dict] | None = None,
              max_failures: int = 2, early_stopping: bool = True, callbacks: list | None = None,
              base: str | None = None, grace_period: int = 1, reduction_factor: float | None = None,
              verbose: int = 1) -> SweepResult:
    """Sweep ``method`` (a GAN method, or a sampler job on the GAN run ``base``).

    ASHA's rungs sit at grace_period × reduction_factor^i reports (default 1 and 3; 2 in
    smoke runs); a later first rung helps where the metric ranks configs poorly early on.
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch
    import optuna

    # Everything that can be wrong is checked here, before Ray starts.
    space = space or spaces.load(method)
    if metric not in ("fid_mnist", "fid"):
        raise spaces.SearchSpaceError(f"--metric must be fid_mnist or fid, got {metric!r}")
    fixed = space.fixed_config(smoke=smoke)
    job = registry.get(method)
    if max_epochs is not None and "epochs" in job.schema:  # sampler jobs have no epochs
        fixed["epochs"] = max_epochs
    if metric == "fid":
        fixed["inception_every_report"] = True
    uri = tracking.normalize_uri(tracking_uri) if tracking_uri else tracking.default_tracking_uri()
    tracking.check_reachable(uri)
    sampler_job = registry.is_sampler_job(method)
    if sampler_job:
        from .sampling import load_base
        if not base:
            raise methods.ConfigError(f"a {method} sweep needs --base: a GAN run id, a method name "
                                      f"(its champion) or a checkpoint path")
        base_run, base_state = load_base(base, uri)
        fixed["base"] = base_run or str(Path(base).resolve())
    resolved = job.resolve(fixed)
    reduction_factor = reduction_factor if reduction_factor is not None else (2 if smoke else 3)
    max_t = job.planned_reports(resolved)
    if early_stopping and not 1 <= grace_period <= max_t:
        raise methods.ConfigError(f"--asha-grace must be between 1 and the {max_t} reports a trial makes, "
                                  f"got {grace_period}")
    if early_stopping and not reduction_factor > 1:
        raise methods.ConfigError(f"--asha-reduction must be above 1, got {reduction_factor}")
    storage_uri = storage_path if "://" in (storage_path or "") \
        else str(Path(storage_path or "ray_results").expanduser().resolve())
    restore_from = _latest_experiment(storage_uri, study) if resume else None

    _init_ray()
    resources = trial_resources(space, cpus_per_trial, gpus_per_trial)
    trainable = trainables.get(method)
    if sampler_job:  # the base run's weights travel once, through Ray's object store
        trainable = tune.with_parameters(trainable, base=base_state)
    trainable = tune.with_resources(trainable, resources)

    if restore_from is not None:
        path, name = restore_from
        sweep_run = tracking.SweepRun.start(uri, method, name, {})
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=False)
    else:
        name = f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
        sweep_run = tracking.SweepRun.start(uri, method, name, {
            "study": study, "num_samples": num_samples, "metric": metric, "smoke": smoke, "seed": seed,
            **({"asha_grace_period": grace_period, "asha_reduction_factor": reduction_factor} if early_stopping
               else {"scheduler": "fifo"}),
            "cpus_per_trial": resources["cpu"], "gpus_per_trial": resources["gpu"],
            "search_space": str(space.search), **{f"fixed.{k}": v for k, v in fixed.items()}})
        # a starting point joins only if it names exactly the searched keys
        points = [{k: p[k] for k in space.search} for p in points_to_evaluate or [] if set(space.search) <= set(p)]
        searcher = OptunaSearch(
            space=space.optuna_distributions(), metric=metric, mode="min", study_name=name,
            sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),  # liar: parallel trials differ
            points_to_evaluate=points or None)
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max_t,
                                  grace_period=grace_period, reduction_factor=reduction_factor) \
            if early_stopping else FIFOScheduler()
        tuner = tune.Tuner(
            trainable,
            param_space=fixed,
            tune_config=tune.TuneConfig(metric=metric, mode="min", search_alg=searcher, scheduler=scheduler,
                                        num_samples=num_samples, max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(
                name=name, storage_path=storage_uri, verbose=verbose,
                callbacks=[MlflowTracker(sweep_run, metric), *(callbacks or [])],
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))
    grid = tuner.fit()
    import ray
    ray.shutdown()  # the rest talks to MLflow only: let go of Ray (on a cluster this only disconnects)

    result = SweepResult(method, name, metric, experiment_path=grid.experiment_path)
    for r in grid:
        m = r.metrics or {}
        status = "completed" if m.get("final") else ("diverged" if r.error and "diverged" in str(r.error)
                                                     else "failed" if r.error else "pruned")
        row = {"trial_id": m.get("trial_id", r.path.rsplit("_", 3)[0] if r.path else "?"), "status": status,
               "reports": m.get("training_iteration", 0), "config": r.config or {}, "node_id": m.get("node_id")}
        row.update({k: m[k] for k in tracking.METRIC_KEYS if isinstance(m.get(k), (int, float))})
        result.rows.append(row)
    ranked, used = tracking.rank(tracking.finished_runs(method, uri, sweep=name), "fid")
    result.rows.sort(key=lambda row: (row["status"] != "completed", row.get(metric, math.inf)))
    if ranked:
        best = ranked[0]
        result.best = {"run_id": best.run_id, "metric": used, used: best.metrics[used],
                       "trial_id": best.tags.get("trial_id")}
        if sampler_job:  # the GAN run learns which sampler serves it best
            sampler = best.params.get("sampler", method)
            kept = tracking.record_sampler(resolved["base"], sampler, best, uri)
            result.champion = f"{sampler} on run {resolved['base']}: " + ("recorded as its best sampler" if kept
                                                                          else "not better than its best sampler")
        else:
            promoted, version = tracking.promote_champion(method, best, used, uri)
            result.champion = f"gan-{method} v{version}" + (" (new champion)" if promoted else " (champion kept)")
    sweep_run.log_figures(optuna_figures(space, result.rows, metric))
    sweep_run.log_table("trials.md", result.table())
    sweep_run.finish({k: v for k, v in (result.best or {}).items() if isinstance(v, float)})
    return result


# --- the command line every sweeps/*.py script shares --------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="a real run of the same code at a tiny budget")
    p.add_argument("--num-samples", type=int, help="trials to run (default 16, smoke 6)")
    p.add_argument("--max-epochs", type=int, help="epochs per trial (ASHA's budget)")
    p.add_argument("--metric", choices=("fid_mnist", "fid"), default="fid_mnist",
                   help="ASHA and Optuna objective; fid computes Inception at every report (GPU clusters)")
    p.add_argument("--tracking-uri", help="MLflow URI (default $MLFLOW_TRACKING_URI or ./mlflow.db)")
    # On a cluster the head's environment supplies these defaults (infra/cluster.env, docs/cluster.md).
    p.add_argument("--storage-path", default=os.environ.get("GAN_STORAGE_PATH") or None,
                   help="Ray Tune storage: a local folder or s3://… (default $GAN_STORAGE_PATH or ./ray_results)")
    p.add_argument("--resume", action="store_true", help="continue the latest experiment of this study")
    p.add_argument("--search-space", help="a YAML file instead of search_spaces/<method>.yaml")
    p.add_argument("--seed", type=int, default=0, help="Optuna's TPE seed")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: as resources allow)")
    p.add_argument("--cpus-per-trial", type=float, default=_env_float("GAN_CPUS_PER_TRIAL"),
                   help="default $GAN_CPUS_PER_TRIAL, else the space's resources.cpu, else 1")
    p.add_argument("--gpus-per-trial", type=float, default=_env_float("GAN_GPUS_PER_TRIAL"),
                   help="e.g. 0.25 packs 4 trials per GPU (default $GAN_GPUS_PER_TRIAL, else the space's "
                        "resources.gpu, else 0.25 if the cluster has GPUs now: set one where GPU nodes "
                        "autoscale from 0)")
    p.add_argument("--asha-grace", type=int, default=1,
                   help="reports before ASHA's first rung (default 1); later rungs at grace x reduction^i")
    p.add_argument("--asha-reduction", type=float,
                   help="ASHA keeps the best 1/reduction at each rung (default 3, smoke 2)")
    p.add_argument("--base", help="sampler sweeps: the GAN run to sample from (run id, method name "
                                  "for its champion, or checkpoint path)")
    return p


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def _sweep_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(num_samples=args.num_samples or (SMOKE_SAMPLES if args.smoke else 16), max_epochs=args.max_epochs,
                metric=args.metric, smoke=args.smoke, tracking_uri=args.tracking_uri,
                storage_path=args.storage_path, resume=args.resume, seed=args.seed,
                max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
                gpus_per_trial=args.gpus_per_trial, base=args.base,
                grace_period=args.asha_grace, reduction_factor=args.asha_reduction)


def _exit_on_user_error(call):
    """Run ``call``; a user error (bad space, config, server, resume target) is one line and exit 2."""
    import sys

    try:
        return call()
    except (methods.ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main(method: str, study: str, description: str, argv: list[str] | None = None,
         points_to_evaluate: list[dict] | None = None) -> SweepResult:
    """A one-method study: what every sweeps/<study>.py calls."""
    args = parser(description).parse_args(argv)

    def call():
        space = spaces.load(args.search_space, method) if args.search_space else None
        return run_sweep(method, study=study, space=space, points_to_evaluate=points_to_evaluate,
                         **_sweep_kwargs(args))

    result = _exit_on_user_error(call)
    print(f"\n{study}: {result.name} ({result.experiment_path})")
    print(result.table())
    if result.best:
        print(f"best: run {result.best['run_id']} {result.best['metric']}={result.best[result.best['metric']]:.3f}; "
              f"{result.champion}")
    return result


def compare(method_names: list[str], study: str, description: str, argv: list[str] | None = None) -> str:
    """The same budget for every method, one sweep each, then each sampler job on each
    method's best run, and one comparison table."""
    from .sampling import JOBS

    p = parser(description)
    p.add_argument("--methods", nargs="+", default=method_names, help="methods to compare")
    p.add_argument("--samplers", nargs="*", default=list(JOBS),
                   help="sampler jobs swept on each method's best run (give the flag alone for none)")
    args = p.parse_args(argv)
    if args.search_space or args.base:
        p.error("--search-space and --base apply to one study; use the study's own script")
    # every space valid before any trial
    _exit_on_user_error(lambda: [spaces.load(m) for m in [*args.methods, *args.samplers]])
    kwargs = _sweep_kwargs(args)
    results: list[tuple[str, SweepResult]] = []
    for m in args.methods:
        result = _exit_on_user_error(lambda m=m: run_sweep(m, study=f"{study}-{m}", **kwargs))
        results.append((m, result))
        for job in args.samplers if result.best else []:
            # the ASHA flags describe the GAN budget; a sampler job's rungs keep their defaults
            kwargs_job = {**kwargs, "base": result.best["run_id"], "grace_period": 1, "reduction_factor": None}
            results.append((f"{m}+{job}", _exit_on_user_error(
                lambda job=job: run_sweep(job, study=f"{study}-{m}-{job}", **kwargs_job))))
    cols = ["method", "trials", "completed", "best fid_mnist", "fid", "precision", "recall", "inception_samples",
            "sampler", "acceptance_rate"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for label, r in results:
        done = [row for row in r.rows if row["status"] == "completed"]
        best = min(done, key=lambda row: row.get("fid", math.inf), default={})
        best_mnist = min((row.get("fid_mnist", math.inf) for row in r.rows), default=math.inf)
        sampler = best.get("config", {}).get("sampler", r.method if "+" in label else "plain") if best else ""
        lines.append(" | ".join(_fmt(v) for v in (label, len(r.rows), len(done), best_mnist, best.get("fid", ""),
                                                     best.get("precision", ""), best.get("recall", ""),
                                                     best.get("inception_samples", ""), sampler,
                                                     best.get("acceptance_rate", ""))))
    table = "\n".join(lines)
    print(f"\n{study}: best completed trial per method (fid on inception_samples samples)\n{table}")
    return table
