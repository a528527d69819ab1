"""The command line every sweeps/*.py script shares: ``main`` runs one study, ``compare`` one per method."""
from __future__ import annotations

import argparse
import math
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from .. import interrupt, registry, search_space as spaces, tracking
from ..data import quantize
from ..errors import ConfigError, UserError
from ..gan_model import best_model
from ..images import save_grid
from ..paths import writable_folder
from ..sampling.jobs import JOBS
from ..population.members import REFUSED
from ..report import write_report
from ..tracking import metric_names
from .driver import run_sweep
from .plan import storage_uri
from .ray_session import latest_experiment
from .results import SweepResult, fmt

SMOKE_SAMPLES = 6


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        raise ConfigError(f"${name} must be a number, got {value!r}") from None


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a real run of the same code at a tiny budget")
    p.add_argument("--num-samples", type=int, help="trials to run (default 16, smoke 6)")
    p.add_argument("--max-epochs", type=int, help="epochs per trial (ASHA's budget)")
    p.add_argument("--metric",
                   help="ASHA and Optuna's objective: fid_inception_bf16 (the default for GAN methods: Inception "
                        "in bf16 on 250 samples at ASHA's rungs), fid_mnist (the default for samplers), or fid "
                        "(Inception at every report)")
    p.add_argument("--tracking-uri", help="MLflow URI (default $MLFLOW_TRACKING_URI or ./mlflow.db)")
    # On a cluster the head's environment supplies these defaults (infra/cluster.env, docs/cluster.md).
    p.add_argument("--storage-path", default=os.environ.get("GAN_STORAGE_PATH") or None,
                   help="Ray Tune storage: a local folder or s3://… (default $GAN_STORAGE_PATH or ./ray_results)")
    p.add_argument("--resume", action="store_true", help="continue the latest experiment of this study")
    p.add_argument("--search-space", help="a YAML file instead of search_spaces/<method>.yaml")
    p.add_argument("--seed", type=int, default=0, help="Optuna's TPE seed")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: as resources allow)")
    p.add_argument("--cpus-per-trial", type=float, help="default $GAN_CPUS_PER_TRIAL, else the space's resources.cpu, "
                                                        "else 1")
    p.add_argument("--gpus-per-trial", type=float,
                   help="e.g. 0.25 packs 4 trials per GPU (default $GAN_GPUS_PER_TRIAL, else the space's "
                        "resources.gpu, else 0.25 if the cluster has GPUs now: set one where GPU nodes "
                        "autoscale from 0)")
    p.add_argument("--asha-grace", type=int,
                   help="reports before ASHA's first rung (default: the space's asha.grace, else 1); "
                        "later rungs at grace x reduction^i")
    p.add_argument("--asha-reduction", type=float,
                   help="ASHA keeps the best 1/reduction at each rung (default: the space's asha.reduction, "
                        "else 3, smoke 2)")
    p.add_argument("--base", help="sampler sweeps: the GAN run to sample from (run id, method name "
                                  "for its champion, or checkpoint path)")
    p.add_argument("--population", type=int, metavar="K",
                   help="train the trials K at a time in one process per device (a population), each member "
                        "proposed by Optuna and judged by ASHA as its own trial")
    p.add_argument("--populations", type=int, metavar="N",
                   help="populations at once (default: one per GPU of the cluster, else 1)")
    p.add_argument("--scheduler", choices=("asha", "pbt"), default="asha",
                   help="population sweeps: asha stops and replaces members; pbt copies the best members' "
                        "state into the worst quarter on the device and perturbs their hyperparameters")
    p.add_argument("--finalists", type=int, default=3,
                   help="completed trials (best by the metric) scored with Inception fid after the study, "
                        "once, to rank the champion (default 3; 0: none)")
    return p


def sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """SweepOptions' fields from the parsed flags (checked by ``SweepOptions.check``)."""
    if args.populations is not None and args.population is None:
        raise ConfigError(f"--populations {args.populations} sets how many populations run at once; "
                          f"give --population K too")
    if args.storage_path and "://" not in args.storage_path:
        writable_folder(args.storage_path, "--storage-path")
    return dict(num_samples=args.num_samples if args.num_samples is not None else
                (SMOKE_SAMPLES if args.smoke else 16),
                max_epochs=args.max_epochs, metric=args.metric, smoke=args.smoke, tracking_uri=args.tracking_uri,
                storage_path=args.storage_path, resume=args.resume, seed=args.seed,
                max_concurrent=args.max_concurrent,
                cpus_per_trial=args.cpus_per_trial if args.cpus_per_trial is not None
                else _env_float("GAN_CPUS_PER_TRIAL"),
                # a cluster's per-trial GPU share is not a population's: one per GPU unless the flag says
                gpus_per_trial=args.gpus_per_trial if args.gpus_per_trial is not None
                else (None if args.population is not None else _env_float("GAN_GPUS_PER_TRIAL")),
                base=args.base, grace_period=args.asha_grace, reduction_factor=args.asha_reduction,
                finalists=args.finalists, population=args.population, populations=args.populations,
                scheduler=args.scheduler)


def exit_on_user_error(call):
    """Run ``call``; a user error (bad space, config, server, resume target) is one line and exit 2; an
    interrupted study one line saying what was saved and the command that resumes it."""
    try:
        with interrupt.sigterm_as_sigint():  # Tune stops cleanly on SIGINT only
            return call()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except (interrupt.StudyInterrupted, KeyboardInterrupt) as stop:
        if isinstance(stop, interrupt.StudyInterrupted):
            print(f"interrupted: {stop}; resume with: {interrupt.resume_command(sys.argv[1:])}", file=sys.stderr)
            sys.exit(stop.status)
        # before Tune ran, or a second signal while it saved
        print(f"interrupted before the study was saved; rerun with: "
              f"{interrupt.resume_command(sys.argv[1:], resume=False)}", file=sys.stderr)
        sys.exit(130)


def main(method: str, study: str, description: str, argv: list[str] | None = None,
         points_to_evaluate: list[dict] | None = None) -> SweepResult:
    """A one-method study: what every sweeps/<study>.py calls."""
    args = parser(description).parse_args(argv)

    def call():
        space = spaces.load(args.search_space, method) if args.search_space else None
        return run_sweep(method, study=study, space=space, points_to_evaluate=points_to_evaluate,
                         **sweep_options(args))

    result = exit_on_user_error(call)
    print(f"\n{study}: {result.name} ({result.experiment_path})")
    print(result.table())
    if result.best:
        print(f"best: run {result.best['run_id']} {result.best['metric']}={result.best[result.best['metric']]:.3f}; "
              f"{result.champion}")
        print(exit_on_user_error(lambda: where_to_look(method, result, args.tracking_uri)))
        print(study_report(result.name, args.tracking_uri))
    return result


def study_report(sweep: str, tracking_uri: str | None) -> str:
    """Write the study's report; the study is saved already, so a failure here is one line, not a traceback."""
    try:
        return f"study report: {write_report(sweep, tracking_uri=tracking_uri).resolve()}"
    except Exception as err:
        return f"study report not written ({type(err).__name__}: {err}); try: gan report {sweep}"


def where_to_look(method: str, result: SweepResult, tracking_uri: str | None) -> str:
    """The champion's sample grid as a file, and the command that opens the MLflow UI on the study."""
    uri = tracking.normalize_uri(tracking_uri) if tracking_uri else tracking.default_tracking_uri()
    grid = Path("runs") / f"{result.name}-champion.png"
    if "base" not in registry.get(method).schema:  # a GAN study: draw its champion
        model = best_model(method, tracking_uri=uri)
        save_grid(quantize(model.sample(64, seed=0)).view(64, 784), grid)
        lines = [f"champion's samples: {grid.resolve()}"]
    else:
        lines = []
    c = tracking.client(uri)
    experiment = c.get_experiment_by_name(method)
    if experiment is None:
        return "\n".join(lines + [open_the_ui(uri, method, "0")])
    parent = c.search_runs([experiment.experiment_id], f"tags.role = 'sweep' and tags.sweep = '{result.name}'",
                           max_results=1)
    return "\n".join(lines + [open_the_ui(uri, method, experiment.experiment_id,
                                          parent[0].info.run_id if parent else None)])


def charts_page(experiment_id: str, sweep_run_id: str | None = None) -> str:
    """The MLflow UI's path to the model-training view's charts (MLflow 3.17 starts in its GenAI view unless the
    URL says otherwise). With ``sweep_run_id``: only that sweep's trials, listed flat (a filter with a sort other
    than by date stops the UI nesting them under their collapsed parent), best fid_mnist first."""
    query = {"workflowType": "machine_learning", "compareRunsMode": "CHART"}
    if sweep_run_id is not None:
        query |= {"searchFilter": f"tags.mlflow.parentRunId = '{sweep_run_id}'",
                  "orderByKey": f"metrics.`{metric_names.logged('fid_mnist')}`", "orderByAsc": "true"}
    return f"/#/experiments/{experiment_id}/runs?{urllib.parse.urlencode(query)}"


def open_the_ui(uri: str, method: str, experiment_id: str, sweep_run_id: str | None = None) -> str:
    """How to see the study: a tracking server already serves its UI; a local store needs ``mlflow ui``. The link
    opens the model-training view's charts (of the sweep's trials, given its parent run)."""
    page = charts_page(experiment_id, sweep_run_id)
    if uri.startswith(("http://", "https://")):
        return f"compare the runs: open {uri.rstrip('/')}{page}  (experiment {method!r})"
    return (f"compare the runs: mlflow ui --backend-store-uri {uri}  (then open http://127.0.0.1:5000{page}, "
            f"experiment {method!r})")


def compare(method_names: list[str], study: str, description: str, argv: list[str] | None = None,
            points: dict[str, list[dict]] | None = None) -> str:
    """The same budget for every method, one sweep each (starting from ``points[method]``), then
    each sampler job on each method's best run, and one comparison table."""
    p = parser(description)
    p.add_argument("--methods", nargs="+", default=method_names, help="methods to compare")
    p.add_argument("--samplers", nargs="*", default=list(JOBS),
                   help="sampler jobs swept on each method's best run (give the flag alone for none)")
    args = p.parse_args(argv)
    if args.search_space or args.base:
        p.error("--search-space and --base apply to one study; use the study's own script")
    # every space valid before any trial
    exit_on_user_error(lambda: [spaces.load(m) for m in [*args.methods, *args.samplers]])
    options = exit_on_user_error(lambda: sweep_options(args))
    results: list[tuple[str, SweepResult]] = []
    for m in args.methods:
        packed = options["population"] is not None and m not in REFUSED
        if options["population"] is not None and not packed:
            print(f"{m}: cannot be packed ({REFUSED[m].split(';')[0]}); its study runs one trial a process")
        method_options = {**options, "population": options["population"] if packed else None,
                          "resume": args.resume and has_experiment(options["storage_path"], f"{study}-{m}")}
        result = exit_on_user_error(lambda m=m: run_sweep(m, study=f"{study}-{m}", **method_options,
                                                          points_to_evaluate=(points or {}).get(m)))
        results.append((m, result))
        for job in args.samplers if result.best else []:
            # the ASHA flags describe the GAN budget; a sampler job's rungs keep their defaults
            job_options = {**options, "base": result.best["run_id"], "grace_period": 1, "reduction_factor": None,
                           "population": None,  # a sampler job's trials are not GANs to pack
                           "resume": args.resume and has_experiment(options["storage_path"], f"{study}-{m}-{job}")}
            results.append((f"{m}+{job}", exit_on_user_error(
                lambda job=job: run_sweep(job, study=f"{study}-{m}-{job}", **job_options))))
    table = comparison_table(results)
    print(f"\n{study}: best completed trial per method (fid on inception_samples samples), and what each study "
          f"cost (seconds; epochs trained by all trials, and by all trials until the best one first led)\n{table}")
    return table


def has_experiment(storage_path: str | None, study: str) -> bool:
    """Whether --resume has something to continue for ``study`` (compare resumes what had started)."""
    try:
        latest_experiment(storage_uri(storage_path), study)
        return True
    except ConfigError:
        return False


def comparison_table(results: list[tuple[str, SweepResult]]) -> str:
    """Quality beside cost: each study's best and what the study spent (``study/…`` on its parent run)."""
    cols = ["method", "trials", "completed", "best fid_mnist", "fid", "precision", "recall", "inception_samples",
            "sampler", "acceptance_rate", "wall_s", "cpu_s", "device_s", "epochs", "epochs to best"]
    spent = ("wall_seconds", "cpu_seconds", "device_seconds", "epochs", "epochs_to_champion")
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for label, r in results:
        done = [row for row in r.rows if row["status"] == "completed"]
        best = min(done, key=lambda row: row.get("fid", math.inf), default={})
        best_mnist = min((row.get("fid_mnist", math.inf) for row in r.rows), default=math.inf)
        sampler = best.get("config", {}).get("sampler", r.method if "+" in label else "plain") if best else ""
        lines.append(" | ".join(fmt(v) for v in (label, len(r.rows), len(done), best_mnist, best.get("fid", ""),
                                                    best.get("precision", ""), best.get("recall", ""),
                                                    best.get("inception_samples", ""), sampler,
                                                    best.get("acceptance_rate", ""),
                                                    *(r.cost.get(f"study/{k}", "") for k in spent))))
    return "\n".join(lines)
