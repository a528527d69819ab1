"""Trial overhead under Ray Tune: start-up to the first training step, and the cost of a report.

    .venv/bin/python bench/trial_overhead.py [--trials 2] [--epochs 3] [--tiny]

A real ``run_sweep`` (vanilla, batch 64, only the learning rates searched, no early
stopping) on a fresh local Ray, with MLflow in a temporary SQLite store and Tune's
storage in a temporary folder. The default cadence is the loop's default: one report
per epoch (937 steps at batch 64), fid_mnist on 10,000 samples at each report. The
final Inception evaluation (once per trial; see bench/eval_throughput.py) is set to 0
here, because it is not a per-report cost.

From each trial's own reports (the loop's clocks) and a Tune callback in the driver:
- start-up: the trial's creation in the driver (first seen by a Tune callback) -> its
  actor up (Tune's on_trial_start) -> the loop's first training step (``first_step_at``):
  worker start and imports, then MNIST and feature-network loads and model set-up.
- per report, inside the trial: metric evaluation (``eval_seconds``) and the hand-off
  (``report_seconds``: checkpoint.pt + sample grid written, ``tune.report``, Tune
  persisting the checkpoint). The checkpoint and grid writes are also timed alone.
- per report, in the driver: MLflow logging (metrics, sample grid; the checkpoint once
  per trial), replayed on the sweep's own store after the sweep.
- the trial's peak RSS, read from /proc/<pid>/status (VmHWM) at each result.
Exit status 1 when no trial could be measured.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _common
from ray import tune

KEYS = ("step", "epoch", "first_step_at", "eval_seconds", "report_seconds", "train_seconds", "steps_per_s",
        "images_per_s", "fid_mnist", "pid", "final")
TARGET_FRACTION = 0.10
DEFAULT_STEPS_PER_REPORT = 60_000 // 64  # the loop's default: one report per epoch at batch 64


class Recorder(tune.Callback):
    """Driver-side clocks and each trial's reports, as the driver receives them."""

    def __init__(self):
        self.created: dict[str, float] = {}  # first seen by the controller: created and staged
        self.started: dict[str, float] = {}
        self.results: dict[str, list[dict]] = defaultdict(list)
        self.peak_rss: dict[str, float] = {}

    def on_step_end(self, iteration, trials, **info):
        now = time.time()
        for trial in trials:
            self.created.setdefault(trial.trial_id, now)

    def on_trial_start(self, iteration, trials, trial, **info):  # Tune calls it once the actor is up
        self.started[trial.trial_id] = time.time()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.results[trial.trial_id].append({**{k: result.get(k) for k in KEYS}, "received_at": time.time()})
        rss = _common.peak_rss_mb(result.get("pid") or -1)
        if rss is not None:
            self.peak_rss[trial.trial_id] = max(rss, self.peak_rss.get(trial.trial_id, 0.0))


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else float("nan")


def replay_costs(experiment_path: str, uri: str, repeats: int) -> dict[str, float]:
    """Checkpoint/grid writes and MLflow logging of one report, timed alone on a real checkpoint."""
    import torch

    from gan_core import checkpoint as ckpt, tracking
    from gan_core.images import save_grid
    from gan_core.metrics.evaluate import generate
    from gan_core.models import frozen_generator
    from gan_core.sweep.tune_callback import TUNE_KEYS

    checkpoint = sorted(Path(experiment_path).rglob(ckpt.FILE))[-1]
    state = ckpt.load(checkpoint)
    samples = generate(frozen_generator(state["generator"]), 64, seed=0)
    # the trial's own last report, as the callback logs it
    last = json.loads((checkpoint.parent.parent / "result.json").read_text().strip().splitlines()[-1])
    result = {k: v for k, v in last.items() if k not in TUNE_KEYS}
    out: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            tick = time.perf_counter()
            ckpt.save(state, Path(folder) / ckpt.FILE)
            out["checkpoint write"].append(time.perf_counter() - tick)
            tick = time.perf_counter()
            save_grid(samples, Path(folder) / "samples.png")
            out["sample grid PNG"].append(time.perf_counter() - tick)
        sweep_run = tracking.SweepRun.start(uri, "vanilla", f"replay-{time.time_ns()}", {"replay": True})
        run_id = sweep_run.trial_run("replay", state["config"])
        for i in range(repeats):
            tick = time.perf_counter()
            sweep_run.log_report(run_id, {**result, "step": i})
            out["mlflow metrics"].append(time.perf_counter() - tick)
            tick = time.perf_counter()
            sweep_run.log_samples(run_id, Path(folder) / "samples.png", i)
            out["mlflow sample grid"].append(time.perf_counter() - tick)
        tick = time.perf_counter()
        sweep_run.log_checkpoint(run_id, folder)
        out["mlflow checkpoint (once per trial)"].append(time.perf_counter() - tick)
    size_mb = checkpoint.stat().st_size / 2**20
    torch.set_num_threads(torch.get_num_threads())
    return {"checkpoint_mb": size_mb, **{k: statistics.median(v) for k, v in out.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial, one report each (default cadence)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of the replayed writes")
    parser.add_argument("--tiny", action="store_true", help="30 steps, a report every 10, 500 eval samples (CI)")
    args = parser.parse_args(argv)

    from gan_core import search_space
    from gan_core.sweep import run_sweep

    if args.tiny:
        fixed = {"batch_size": 64, "max_steps": 30, "eval_every_steps": 10, "eval_samples": 500,
                 "inception_samples": 0}
        args.repeats = 2
    else:
        fixed = {"batch_size": 64, "epochs": args.epochs, "eval_every_epochs": 1, "eval_samples": 10_000,
                 "inception_samples": 0}
    space = search_space.validate({"method": "vanilla", "fixed": fixed, "search": {
        "lr_g": {"type": "loguniform", "low": 1e-4, "high": 4e-4},
        "lr_d": {"type": "loguniform", "low": 1e-4, "high": 4e-4}}}, "bench/trial_overhead.py")

    print(f"machine: {_common.machine()}")
    print(f"{args.trials} vanilla trials, batch 64, {fixed}, no early stopping, 1 CPU per trial", flush=True)
    work = tempfile.TemporaryDirectory(prefix="bench_overhead_")
    uri = f"sqlite:///{work.name}/mlflow.db"
    _common.local_ray()
    recorder = Recorder()
    called = time.time()
    result = run_sweep("vanilla", study="bench-overhead", space=space, num_samples=args.trials, tracking_uri=uri,
                       storage_path=f"{work.name}/ray_results", early_stopping=False, callbacks=[recorder],
                       verbose=0)
    sweep_s = time.time() - called
    import ray
    ray.shutdown()

    rows, startups, evals, handoffs, rates, intervals = [], [], [], [], [], []
    for trial_id, reports in sorted(recorder.results.items()):
        if not reports or trial_id not in recorder.started:
            continue
        startup = reports[0]["first_step_at"] - recorder.started[trial_id]
        created = recorder.created.get(trial_id, recorder.started[trial_id])
        launch = recorder.started[trial_id] - created
        startups.append(reports[0]["first_step_at"] - created)
        evals += [r["eval_seconds"] for r in reports]
        handoffs += [r["report_seconds"] for r in reports[1:]]  # each is the previous report's hand-off
        timed = reports[1:] or reports  # the first interval includes first-step warm-up
        rates += [r["steps_per_s"] for r in timed]
        intervals.append(reports[0]["step"])
        rows.append([trial_id, len(reports), f"{launch:.1f}", f"{startup:.1f}", f"{launch + startup:.1f}", f"{mean(r['eval_seconds'] for r in reports):.2f}",
                     f"{mean(r['report_seconds'] for r in reports[1:]):.2f}" if len(reports) > 1 else "",
                     f"{mean(r['steps_per_s'] for r in timed):.1f}", f"{recorder.peak_rss.get(trial_id, 0):.0f}"])
    statuses = [row["status"] for row in result.rows]
    print()
    print(_common.table(["trial", "reports", "created -> actor up s", "actor up -> first step s", "total s", "eval s/report", "hand-off s/report",
                         "train steps/s", "peak RSS MB"], rows))
    if not rows or not handoffs:
        work.cleanup()
        return _common.finish([f"trials ended {statuses}"], gpu_rows=False)
    first_step = min(r[0]["first_step_at"] for r in recorder.results.values())
    print(f"\nsweep call -> first training step of any trial: {first_step - called:.1f} s "
          f"(Ray Tune set-up, MLflow parent run, trial launch); whole sweep {sweep_s:.0f} s; trials ended {statuses}")

    costs = replay_costs(result.experiment_path, uri, args.repeats)
    steps_per_s = mean(rates)
    eval_s, handoff_s = mean(evals), mean(handoffs)
    per_report = [["metric evaluation (fid/precision/recall_mnist)", "trial", f"{eval_s:.3f}"],
                  ["hand-off: checkpoint + grid + tune.report", "trial", f"{handoff_s:.3f}"],
                  ["  of which checkpoint.pt write (alone, %.1f MB)" % costs["checkpoint_mb"], "trial",
                   f"{costs['checkpoint write']:.3f}"],
                  ["  of which sample grid PNG (alone)", "trial", f"{costs['sample grid PNG']:.3f}"],
                  ["MLflow metrics (log_batch)", "driver", f"{costs['mlflow metrics']:.3f}"],
                  ["MLflow sample grid (log_image)", "driver", f"{costs['mlflow sample grid']:.3f}"],
                  ["MLflow checkpoint artifact, once per trial", "driver",
                   f"{costs['mlflow checkpoint (once per trial)']:.3f}"]]
    print("\nper report (means over all reports; the 'alone' and MLflow rows replayed on the sweep's store, "
          f"median of {args.repeats})")
    print(_common.table(["cost", "where", "seconds"], per_report))

    in_trial = eval_s + handoff_s
    measured_steps = statistics.median(intervals)
    train_measured = measured_steps / steps_per_s
    train_default = DEFAULT_STEPS_PER_REPORT / steps_per_s
    print(f"\ntraining: {steps_per_s:.1f} steps/s under Tune (1 CPU per trial, {args.trials} trials side by side)")
    print(f"reporting / training at this run's cadence ({measured_steps:.0f} steps per report): "
          f"{in_trial:.2f} s / {train_measured:.1f} s = {100 * in_trial / train_measured:.1f}%")
    fraction = in_trial / train_default
    verdict = "met" if fraction < TARGET_FRACTION else "NOT met"
    how = "measured" if measured_steps == DEFAULT_STEPS_PER_REPORT and not args.tiny else \
        "scaled to the default cadence from this run's per-report costs and step rate"
    print(f"target: reporting < {100 * TARGET_FRACTION:.0f}% of training at the default cadence "
          f"({DEFAULT_STEPS_PER_REPORT} steps per report, {how}): "
          f"{in_trial:.2f} s / {train_default:.1f} s = {100 * fraction:.1f}%, {verdict}")
    mlflow_s = costs["mlflow metrics"] + costs["mlflow sample grid"]
    print(f"MLflow logging per report, in the driver: {mlflow_s:.3f} s "
          f"({100 * mlflow_s / train_default:.2f}% of a default-cadence interval; off the trial's process)")
    print(f"start-up, trial created by Tune -> its first training step: mean {mean(startups):.1f} s "
          f"over {len(startups)} trials (created -> actor up: Ray starts the worker process and the trainable; "
          f"actor up -> first step: the loop's set-up)")
    work.cleanup()
    return _common.finish([], gpu_rows=False)


if __name__ == "__main__":
    sys.exit(main())
