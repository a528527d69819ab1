"""Tune -> MLflow: a child run per trial with its metrics, grids and final checkpoint, ended with its status."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Callable

import ray
from ray import cloudpickle
from ray import tune
from ray.tune.result import AUTO_RESULT_KEYS

from .. import tracking
from ..loop import Diverged
from ..trainables import SAMPLES

# What Tune adds to every result, beside the trainer's own report: not metrics of the GAN.
TUNE_KEYS = set(AUTO_RESULT_KEYS) | {"done", "trial_id", "experiment_tag", "should_checkpoint", "node_id"}


def _staged(trial, name: str) -> Path | None:
    """Ray writes a trial's error into the driver's staging folder and syncs it to storage later."""
    path = getattr(trial, name, None)
    return Path(path) if path and Path(path).exists() else None


def trial_error(trial) -> Exception | None:
    """The exception a trial failed with (Ray's wrapper is also an instance of the original class)."""
    try:
        staged = _staged(trial, "pickled_error_file")
        return cloudpickle.loads(staged.read_bytes()) if staged else trial.get_pickled_error()
    except Exception:  # an error that could not be unpickled here
        return None


def error_line(error: Exception | None, trial=None) -> str:
    """The original exception's one line, not Ray's traceback around it."""
    if error is None:
        staged = _staged(trial, "error_file") if trial is not None else None
        text = staged.read_text() if staged else (trial.get_error() if trial is not None else None)
        lines = [line for line in (text or "").splitlines() if line.strip()]
        return lines[-1].strip() if lines else "failed (no error recorded)"
    cause = getattr(error, "cause", None) or error
    message = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {message[0] if message else ''}"


def end_status(error: Exception | None) -> str:
    return "diverged" if isinstance(error, Diverged) else "failed"


class MlflowTracker(tune.Callback):
    """Logs every trial to MLflow from the driver (one writer, no SQLite contention). While a tracking server
    is away the writes wait in the sweep run's outbox; past its limit the study stops as on Ctrl-C (Tune
    saves it) and ``outage`` says why."""

    # per sweep, why it was stopped: a restored Tuner runs the tracker it unpickled, not the driver's new one
    outages: dict[str, str] = {}

    def __init__(self, sweep_run: tracking.SweepRun, metric: str):
        self.sweep_run, self.metric = sweep_run, metric
        self.runs: dict[str, str] = {}
        self.checkpoints: dict[str, Any] = {}

    @property
    def outage(self) -> str | None:
        return MlflowTracker.outages.get(self.sweep_run.sweep)

    def _guard(self, write: Callable[[], None]) -> None:
        write()  # kept in the outbox's journal while the server is away
        if self.outage is None and self.sweep_run.overdue():
            stop_for_outage(self.sweep_run.sweep, self.sweep_run.overdue())


    def _run_id(self, trial) -> str:
        if trial.trial_id not in self.runs:
            self.runs[trial.trial_id] = self.sweep_run.trial_run(trial.trial_id, trial.config)
        return self.runs[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._guard(lambda: self._run_id(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._guard(lambda: self.sweep_run.log_report(
            self._run_id(trial), {k: v for k, v in result.items() if k not in TUNE_KEYS}))

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self.checkpoints[trial.trial_id] = checkpoint

        def write():
            with checkpoint.as_directory() as folder:
                self.sweep_run.log_samples(self._run_id(trial), Path(folder) / SAMPLES,
                                           int(trial.last_result.get("step", 0)))
        self._guard(write)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._guard(lambda: self._complete(trial))

    def _complete(self, trial):
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
        error = trial_error(trial)
        self._guard(lambda: self.sweep_run.end_trial(self._run_id(trial), end_status(error), error_line(error, trial)))


def stop_for_outage(sweep: str, why: str) -> None:
    """The tracking server has been away past the outbox's limit: Tune saves the study and stops its trials,
    as on Ctrl-C; the driver then exits with ``why``."""
    MlflowTracker.outages[sweep] = why
    os.kill(os.getpid(), signal.SIGINT)


class OutageWatch(tune.Callback):
    """A population sweep's writes come from its coordinator actor: after each population's report, ask it
    whether its server has been away past the limit (found by name: a restored Tuner unpickles this)."""

    def __init__(self, sweep: str, coordinator: str):
        self.sweep, self.coordinator = sweep, coordinator

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.sweep not in MlflowTracker.outages:
            why = ray.get(ray.get_actor(self.coordinator).overdue.remote())
            if why:
                stop_for_outage(self.sweep, why)
