"""Sweep efficiency: the same sweep with ASHA and without early stopping, side by side.

    .venv/bin/python bench/sweep_efficiency.py [--trials 16] [--max-steps 1080] [--eval-every 60]
                                               [--asha-grace 1] [--asha-reduction 4] [--tiny]

Both sweeps use ``run_sweep`` on vanilla's search space (search_spaces/vanilla.yaml:
lr_g, lr_d, beta1, batch_size, d_dropout) with the same Optuna seed, the same trial
count and the same cap, on one fresh local Ray (1 CPU per trial, 2 trials at a time
on 2 cores). The first one uses ASHA (max_t = the reports a full trial makes, rungs at
grace × reduction^i reports); the second runs every trial to the cap (FIFO). TPE's
first 10 trials are seeded random draws, identical in both sweeps; later ones follow
each sweep's own results, so the script prints whether the configs matched.

CPU-sized budget (the default): 16 trials, each capped at 1,080 generator steps with a
report every 60 (18 reports), fid_mnist on 5,000 samples, no Inception; ASHA's rungs at
reports 1, 4 and 16 (the best of three settings measured, bench/README.md). A trial-epoch
is 60,000 real images seen by D, so batch size is accounted for: trial-epochs = sum over
trials of the ``epoch`` of its last report.
Full-size studies use 100 epochs on a GPU; this budget shows the mechanism, not that
study's numbers. The full sweep's curves also give the rank agreement (Spearman) of
fid_mnist at each rung with fid_mnist at the cap: how much a rung there can know.
Exit status 1 when either sweep has no completed trial.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import defaultdict

import _common
from ray import tune

from gan_core.tracking.metric_names import from_mlflow, logged

TARGET_FID_GAP = 0.05
TARGET_COMPUTE = 1 / 3


class Results(tune.Callback):
    """Every report of every trial, as the driver receives it."""

    def __init__(self):
        self.reports: dict[str, list[dict]] = defaultdict(list)
        self.configs: dict[str, dict] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.configs[trial.trial_id] = dict(trial.config)
        self.reports[trial.trial_id].append({k: result.get(k) for k in
                                             ("step", "epoch", "fid_mnist", "training_iteration", "final")})


def summarize(name: str, results: Results, wall_s: float, searched: list[str]) -> dict:
    last = {t: r[-1] for t, r in results.reports.items() if r}
    final = [r for r in last.values() if r.get("final")]
    fids_final = [r["fid_mnist"] for r in final if isinstance(r.get("fid_mnist"), float)]
    fids_any = [x["fid_mnist"] for r in results.reports.values() for x in r if isinstance(x.get("fid_mnist"), float)]
    return {
        "name": name, "wall_s": wall_s, "trials": len(last), "completed": len(final),
        "trial_epochs": sum(r["epoch"] for r in last.values()),
        "trial_steps": sum(r["step"] for r in last.values()),
        "reports": sum(len(r) for r in results.reports.values()),
        "best_final": min(fids_final, default=math.nan), "best_any": min(fids_any, default=math.nan),
        "configs": sorted(config_key(c, searched) for c in results.configs.values()),
        "curves": {config_key(results.configs[t], searched): [x["fid_mnist"] for x in r]
                   for t, r in results.reports.items()},
    }


def config_key(config: dict, searched: list[str]) -> tuple:
    return tuple(round(config[k], 8) if isinstance(config[k], float) else config[k] for k in searched)


def rungs(grace: int, reduction: float, max_t: int) -> list[int]:
    """The reports at which ASHA compares trials: grace × reduction^i, below max_t."""
    out, t = [], float(grace)
    while round(t) < max_t:
        out.append(round(t))
        t *= reduction
    return out


def trial_rows(asha: dict, full: dict, searched: list[str], at_rungs: list[int]) -> list[list]:
    """Per config: fid_mnist at ASHA's rungs in the full sweep, and where ASHA stopped it."""
    rows = []
    for key, curve in sorted(full["curves"].items(), key=lambda kv: kv[1][-1]):
        pruned = asha["curves"].get(key, [])
        at = lambda c, i: f"{c[i - 1]:.0f}" if len(c) >= i else ""
        rows.append([", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in zip(searched, key)),
                     *(at(curve, r) for r in at_rungs), f"{curve[-1]:.0f}", len(pruned) or "not tried",
                     f"{pruned[-1]:.0f}" if pruned else ""])
    return rows


def rank_agreement(full: dict, report: int) -> float:
    """Spearman correlation, over the full sweep's configs, of fid_mnist at ``report`` with fid_mnist
    at the cap: how well a rung there can rank configs (1 = perfectly)."""
    from scipy.stats import spearmanr

    pairs = [(c[report - 1], c[-1]) for c in full["curves"].values() if len(c) >= report]
    return float(spearmanr(*zip(*pairs)).statistic) if len(pairs) > 2 else math.nan


def summarize_members(name: str, uri: str, wall_s: float) -> dict:
    """A population sweep's members, read back from its MLflow store (they report to the coordinator)."""
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    runs = c.search_runs([c.get_experiment_by_name("vanilla").experiment_id], "tags.role = 'trial'")
    done = [r for r in runs if r.data.tags.get("status") == "completed"]
    fids = [m.value for r in runs for m in c.get_metric_history(r.info.run_id, logged("fid_mnist"))]
    return {"name": name, "wall_s": wall_s, "trials": len(runs), "completed": len(done),
            "trial_epochs": sum(from_mlflow(r.data.metrics).get("epoch", 0.0) for r in runs),
            "reports": sum(len(c.get_metric_history(r.info.run_id, logged("fid_mnist"))) for r in runs),
            "best_final": min((from_mlflow(r.data.metrics)["fid_mnist"] for r in done), default=math.nan),
            "best_any": min(fids, default=math.nan)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=1080, help="the cap: generator steps per trial")
    parser.add_argument("--eval-every", type=int, default=60, help="steps between reports (ASHA's time unit)")
    parser.add_argument("--eval-samples", type=int, default=5000, help="samples for fid_mnist")
    parser.add_argument("--seed", type=int, default=0, help="Optuna's TPE seed, the same for both sweeps")
    parser.add_argument("--asha-grace", type=int, default=1, help="reports before ASHA's first rung")
    parser.add_argument("--asha-reduction", type=float, default=4, help="ASHA's reduction factor")
    parser.add_argument("--population", type=int, default=4,
                        help="a third sweep with the trials packed K at a time in one process (0: none)")
    parser.add_argument("--tiny", action="store_true", help="2 trials, 20 steps, a report every 10 (CI)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.trials, args.max_steps, args.eval_every, args.eval_samples, args.asha_grace = 2, 20, 10, 500, 1

    from gan_core import search_space
    from gan_core.sweep import run_sweep

    base = search_space.load("vanilla")
    budget = {"max_steps": args.max_steps, "eval_every_steps": args.eval_every,
              "eval_samples": args.eval_samples, "inception_samples": 0}
    space = search_space.validate({"method": "vanilla", "fixed": budget, "search": base.search},
                                  "bench/sweep_efficiency.py")
    searched = sorted(space.search)
    reports = math.ceil(args.max_steps / args.eval_every)
    at_rungs = rungs(args.asha_grace, args.asha_reduction, reports)

    print(f"machine: {_common.machine()}")
    print(f"budget (CPU-sized): {args.trials} vanilla trials, seed {args.seed}, cap {args.max_steps} steps, "
          f"a report every {args.eval_every} ({reports} reports), fid_mnist on {args.eval_samples} samples; "
          f"ASHA grace {args.asha_grace}, reduction {args.asha_reduction:g}: rungs at reports "
          f"{', '.join(map(str, at_rungs))}; searched: {', '.join(searched)}", flush=True)
    work = tempfile.TemporaryDirectory(prefix="bench_sweep_eff_")
    _common.local_ray()
    # One-time imports out of the first sweep's wall time, so the order of the two sweeps does not matter.
    import matplotlib.pyplot  # noqa: F401
    import mlflow  # noqa: F401
    import optuna.visualization.matplotlib  # noqa: F401
    from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    summaries, errors = [], []
    for name, early in (("ASHA", True), ("no early stopping", False)):
        results = Results()  # each sweep its own MLflow store: both pay the schema set-up
        tick = time.time()
        try:
            run_sweep("vanilla", study=f"bench-eff-{'asha' if early else 'full'}", space=space,
                      num_samples=args.trials, seed=args.seed, tracking_uri=f"sqlite:///{work.name}/mlflow-{int(early)}.db",
                      storage_path=f"{work.name}/ray_results", early_stopping=early, callbacks=[results],
                      grace_period=args.asha_grace, reduction_factor=args.asha_reduction, verbose=0)
        except Exception as err:
            errors.append(f"{name}: {type(err).__name__}: {err}")
            continue
        s = summarize(name, results, time.time() - tick, searched)
        summaries.append(s)
        print(f"  {name}: {s['trials']} trials, {s['completed']} reached the cap, {s['trial_epochs']:.2f} "
              f"trial-epochs, {s['wall_s']:.0f} s, best fid_mnist {s['best_final']:.2f}", flush=True)
    packed = None
    if args.population:  # the same ASHA sweep, its trials trained K at a time in one process
        tick = time.time()
        try:
            uri = f"sqlite:///{work.name}/mlflow-packed.db"
            run_sweep("vanilla", study="bench-eff-packed", space=space, num_samples=args.trials, seed=args.seed,
                      tracking_uri=uri, storage_path=f"{work.name}/ray_results", population=args.population,
                      populations=1, cpus_per_trial=2, grace_period=args.asha_grace,
                      reduction_factor=args.asha_reduction, verbose=0)
            packed = summarize_members(f"ASHA, population {args.population}", uri, time.time() - tick)
            print(f"  {packed['name']}: {packed['trials']} members, {packed['completed']} reached the cap, "
                  f"{packed['trial_epochs']:.2f} trial-epochs, {packed['wall_s']:.0f} s, best fid_mnist "
                  f"{packed['best_final']:.2f}", flush=True)
        except Exception as err:
            errors.append(f"packed: {type(err).__name__}: {err}")
    import ray
    ray.shutdown()
    work.cleanup()

    if len(summaries) < 2 or any(s["completed"] == 0 for s in summaries):
        return _common.finish(errors + ["a sweep has no completed trial"], gpu_rows=False)
    asha, full = summaries
    rows = [[s["name"], s["trials"], s["completed"], s["reports"], s["trial_steps"], f"{s['trial_epochs']:.2f}",
             f"{s['wall_s']:.0f}", f"{s['best_final']:.2f}", f"{s['best_any']:.2f}"] for s in summaries]
    if packed is not None:
        rows.append([packed["name"], packed["trials"], packed["completed"], packed["reports"], "",
                     f"{packed['trial_epochs']:.2f}", f"{packed['wall_s']:.0f}", f"{packed['best_final']:.2f}",
                     f"{packed['best_any']:.2f}"])
    print()
    print(_common.table(["sweep", "trials", "reached cap", "reports", "trial-steps", "trial-epochs", "wall s",
                         "best fid_mnist (at cap)", "best fid_mnist (any report)"], rows))
    if packed is not None:
        print(f"population row: the ASHA sweep's trials packed {args.population} at a time into one process "
              f"(members judged per member by the same ASHA rule); wall time packed / per-trial ASHA: "
              f"{packed['wall_s'] / asha['wall_s']:.2f}")
    print("\nper config, best full-budget first: fid_mnist in the full sweep at ASHA's rungs and at the cap; "
          "reports ASHA gave it")
    print(_common.table(["config", *(f"full @{r}" for r in at_rungs), "full @cap", "ASHA reports",
                         "ASHA last fid_mnist"], trial_rows(asha, full, searched, at_rungs)))
    print("rank agreement with the cap in the full sweep (Spearman): "
          + ", ".join(f"report {r}: {rank_agreement(full, r):.2f}" for r in at_rungs))
    same = asha["configs"] == full["configs"]
    print(f"\nsame configs tried by both sweeps: {'yes' if same else 'NO (TPE diverged; compare with care)'}")
    compute = asha["trial_epochs"] / full["trial_epochs"]
    gap = (asha["best_final"] - full["best_final"]) / full["best_final"]
    print(f"compute ratio (ASHA / no early stopping), trial-epochs: {compute:.2f} "
          f"(trial-steps {asha['trial_steps'] / full['trial_steps']:.2f}, wall time {asha['wall_s'] / full['wall_s']:.2f})")
    print(f"best fid_mnist gap (ASHA vs full budget): {100 * gap:+.1f}%")
    met = compute <= TARGET_COMPUTE and gap <= TARGET_FID_GAP
    print(f"target: best within {100 * TARGET_FID_GAP:.0f}% of the full-budget best "
          f"({'yes' if gap <= TARGET_FID_GAP else 'no'}) with at most 1/3 of the trial-epochs "
          f"({'yes' if compute <= TARGET_COMPUTE else 'no'}): {'met' if met else 'NOT met'}"
          + (" (tiny run: not a measurement of the target)" if args.tiny else ""))
    return _common.finish([], gpu_rows=False)


if __name__ == "__main__":
    sys.exit(main())
