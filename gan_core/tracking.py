"""MLflow tracking: the only module that talks to MLflow.

Layout in the store:
- one experiment per method (named after it);
- one parent run per sweep (tag ``sweep``), each trial a child run (tag ``trial_id``);
- per report: metrics at the loop's step, and the sample grid under the image key
  ``samples`` so the UI's step slider pages through training;
- per trial: the final checkpoint, and tags ``status`` (completed, pruned, diverged,
  failed) and ``stop_reason``;
- per method: a registered model ``gan-<method>`` whose alias ``champion`` points
  at the best generator seen so far.

All writes come from the sweep driver (a Tune callback), never from trials, so
2–8 concurrent trials never contend for one SQLite file. Runs are found again by
their tags, so a resumed sweep continues its runs instead of duplicating them.
"""
from __future__ import annotations

import math
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .config import ConfigError

METRIC_KEYS = ("fid_mnist", "precision_mnist", "recall_mnist", "fid", "precision", "recall",
               "loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "steps_per_s",
               "train_seconds", "eval_seconds", "report_seconds", "epoch", "eval_samples", "inception_samples",
               # samplers: acceptance and cost, and the importance network's training
               "acceptance_rate", "proposals_per_sample", "loss_critic", "loss_w", "w_mean", "w_over_m")
CHECKPOINT_ARTIFACT = "checkpoint"
SAMPLES_KEY = "samples"
CHAMPION = "champion"
GENERATOR_RUN = "generator_run_id"  # tag on a sampler job's run: the GAN run it works on


class TrackingUnavailableError(ConfigError):
    """The tracking server cannot be reached; nothing has been trained yet."""


class ModelNotFoundError(LookupError):
    """No experiment or no finished run matches a best_model request."""


def default_tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, else ./mlflow.db as an absolute SQLite URI."""
    return normalize_uri(os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db")


def normalize_uri(uri: str) -> str:
    """Relative SQLite paths and plain folders become absolute, so they resolve the same
    in the driver and in Tune's per-trial working folders."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).expanduser().resolve())
    if "://" not in uri:
        return Path(uri).expanduser().resolve().as_uri()
    return uri


def client(uri: str | None = None):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=normalize_uri(uri) if uri else default_tracking_uri())


def check_reachable(uri: str) -> None:
    """Fail fast, before any compute, when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
    except Exception as err:
        raise TrackingUnavailableError(f"MLflow tracking server {uri} is unreachable "
                                       f"({type(err).__name__}: {err}); start it or fix --tracking-uri") from None


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def _experiment_id(c, method: str) -> str:
    exp = c.get_experiment_by_name(method)
    if exp is not None:
        return exp.experiment_id
    try:
        return c.create_experiment(method)
    except Exception:  # created concurrently by another driver
        return c.get_experiment_by_name(method).experiment_id


def _find_run(c, experiment_id: str, filter_string: str):
    runs = c.search_runs([experiment_id], filter_string=filter_string, max_results=2)
    return runs[0] if runs else None


def _flat_params(config: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(config.items())}


def numeric_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(result[k]) for k in METRIC_KEYS
            if isinstance(result.get(k), (int, float)) and math.isfinite(float(result[k]))}


@dataclass
class SweepRun:
    """The parent run of one sweep, and a handle for logging trials under it."""

    uri: str
    method: str
    sweep: str
    experiment_id: str
    run_id: str

    @classmethod
    def start(cls, uri: str, method: str, sweep: str, params: dict[str, Any]) -> "SweepRun":
        check_reachable(uri)
        c = client(uri)
        exp = _experiment_id(c, method)
        found = _find_run(c, exp, f"tags.sweep = '{sweep}' and tags.role = 'sweep'")
        if found is not None:  # a resumed sweep keeps its parent run
            run_id = found.info.run_id
            c.update_run(run_id, status="RUNNING")
        else:
            run = c.create_run(exp, run_name=sweep, tags={"sweep": sweep, "role": "sweep", "method": method,
                                                          "git_commit": git_commit()})
            run_id = run.info.run_id
            c.log_batch(run_id, params=_params(params))
        return cls(uri, method, sweep, exp, run_id)

    # --- trials -------------------------------------------------------------
    def trial_run(self, trial_id: str, config: dict[str, Any]) -> str:
        """The child run for a trial: found again on resume, created once otherwise."""
        c = client(self.uri)
        found = _find_run(c, self.experiment_id, f"tags.sweep = '{self.sweep}' and tags.trial_id = '{trial_id}'")
        if found is not None:
            if found.info.status != "RUNNING":
                c.update_run(found.info.run_id, status="RUNNING")
            return found.info.run_id
        run = c.create_run(self.experiment_id, run_name=f"{self.method}-{trial_id}", tags={
            "mlflow.parentRunId": self.run_id, "sweep": self.sweep, "trial_id": trial_id, "role": "trial",
            "method": self.method, "status": "running", "git_commit": git_commit(),
            # a sampler job's link to the GAN run it samples from
            **({GENERATOR_RUN: config["base"]} if config.get("base") else {})})
        c.log_batch(run.info.run_id, params=_params(config))
        return run.info.run_id

    def log_report(self, run_id: str, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric
        import time

        step, now = int(result.get("step", 0)), int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in numeric_metrics(result).items()]
        client(self.uri).log_batch(run_id, metrics=metrics)

    def log_samples(self, run_id: str, image_path: str | Path, step: int) -> None:
        from PIL import Image

        with Image.open(image_path) as image:
            client(self.uri).log_image(run_id, image.copy(), key=SAMPLES_KEY, step=step)

    def log_checkpoint(self, run_id: str, folder: str | Path) -> None:
        client(self.uri).log_artifacts(run_id, str(folder), CHECKPOINT_ARTIFACT)

    def end_trial(self, run_id: str, status: str, reason: str = "") -> None:
        c = client(self.uri)
        c.set_tag(run_id, "status", status)
        if reason:
            c.set_tag(run_id, "stop_reason", reason[:4000])
        c.set_terminated(run_id, "FAILED" if status in ("diverged", "failed") else "FINISHED")

    # --- the sweep's end ----------------------------------------------------
    def log_figures(self, figures: dict[str, Any]) -> None:
        c = client(self.uri)
        for name, fig in figures.items():
            c.log_figure(self.run_id, fig, f"optuna/{name}.png")

    def log_table(self, name: str, text: str) -> None:
        client(self.uri).log_text(self.run_id, text, name)

    def finish(self, summary: dict[str, Any]) -> None:
        c = client(self.uri)
        c.log_batch(self.run_id, metrics=[_metric(k, v) for k, v in numeric_metrics(summary).items()])
        c.set_terminated(self.run_id, "FINISHED")


def _params(config: dict[str, Any]):
    from mlflow.entities import Param

    return [Param(k, v[:6000]) for k, v in _flat_params(config).items()]


def _metric(key: str, value: float):
    from mlflow.entities import Metric
    import time

    return Metric(key, value, int(time.time() * 1000), 0)


# --- finding the best run, and the champion alias ------------------------------

@dataclass
class RunRecord:
    run_id: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


def finished_runs(method: str, uri: str | None = None, *, sweep: str | None = None) -> list[RunRecord]:
    """Completed trial runs of a method (not pruned, diverged or failed), optionally of one sweep."""
    if uri:
        check_reachable(normalize_uri(uri))
    c = client(uri)
    exp = c.get_experiment_by_name(method)
    if exp is None:
        raise ModelNotFoundError(f"no MLflow experiment {method!r} at {c.tracking_uri}; run a sweep for it first")
    query = "tags.status = 'completed' and attributes.status = 'FINISHED'"
    if sweep:
        query += f" and tags.sweep = '{sweep}'"
    runs = c.search_runs([exp.experiment_id], filter_string=query, max_results=10_000)
    return [RunRecord(r.info.run_id, dict(r.data.metrics), dict(r.data.params), dict(r.data.tags)) for r in runs]


def rank(runs: Iterable[RunRecord], metric: str = "fid") -> tuple[list[RunRecord], str]:
    """Runs best first, by ``metric`` among runs that used the same (largest) sample count.

    Inception ``fid`` falls back to ``fid_mnist`` only where no run has ``fid``.
    """
    runs = list(runs)
    used = metric
    if not any(metric in r.metrics for r in runs) and metric == "fid":
        used = "fid_mnist"
        warnings.warn("no finished run has Inception 'fid'; ranking by 'fid_mnist'", stacklevel=3)
    count_key = "inception_samples" if used in ("fid", "precision", "recall") else "eval_samples"
    scored = [r for r in runs if used in r.metrics]
    if not scored:
        return [], used
    top_count = max(r.metrics.get(count_key, 0) for r in scored)
    same_count = [r for r in scored if r.metrics.get(count_key, 0) == top_count]
    higher_is_better = used.startswith(("precision", "recall"))
    same_count.sort(key=lambda r: r.metrics[used], reverse=higher_is_better)
    return same_count, used


def download_checkpoint(run_id: str, uri: str | None = None) -> Path:
    import mlflow.artifacts

    dest = tempfile.mkdtemp(prefix="gan_ckpt_")
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CHECKPOINT_ARTIFACT,
                                               dst_path=dest, tracking_uri=str(client(uri).tracking_uri))
    return Path(path)


def promote_champion(method: str, run: RunRecord, metric: str, uri: str | None = None) -> tuple[bool, str]:
    """Register ``run``'s checkpoint as a version of gan-<method>; move ``champion`` to it
    if it beats the current champion on the same metric and sample count."""
    c = client(uri)
    name = f"gan-{method}"
    try:
        c.get_registered_model(name)
    except Exception:
        c.create_registered_model(name, description=f"Best generators for {method}, by sweep")
    count_key = "inception_samples" if metric in ("fid", "precision", "recall") else "eval_samples"
    value, count = run.metrics[metric], run.metrics.get(count_key, 0)
    try:
        current = c.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        current = None
    if current is not None:
        same_basis = current.tags.get("metric") == metric and float(current.tags.get("count", -1)) == count
        if current.run_id == run.run_id or (same_basis and float(current.tags["value"]) <= value):
            return False, current.version
    source = f"runs:/{run.run_id}/{CHECKPOINT_ARTIFACT}"
    version = c.create_model_version(name, source, run_id=run.run_id,
                                     tags={"metric": metric, "value": str(value), "count": str(count)})
    c.set_registered_model_alias(name, CHAMPION, version.version)
    return True, version.version


# --- samplers linked to a GAN run ----------------------------------------------------------

def comparable_metric(a: dict[str, float], b: dict[str, float]) -> str | None:
    """The FID two runs can be ranked on: Inception fid at equal sample counts, else fid_mnist."""
    for metric, count in (("fid", "inception_samples"), ("fid_mnist", "eval_samples")):
        if metric in a and metric in b and a.get(count) == b.get(count):
            return metric
    return None


def record_sampler(generator_run_id: str, sampler: str, run: RunRecord, uri: str | None = None) -> bool:
    """Tag the GAN run with ``sampler`` (fitted in ``run``) if it beats the run's current best
    sampler, or plain sampling when it has none; return whether it was recorded."""
    c = client(uri)
    try:
        gan = c.get_run(generator_run_id)
    except Exception:
        return False  # a checkpoint path, not a tracked run: nothing to tag
    tags, metrics = gan.data.tags, dict(gan.data.metrics)
    current = dict(metrics)  # plain sampling, unless a sampler was recorded before
    if tags.get("best_sampler_run"):
        current = {k[len("best_sampler."):]: float(v) for k, v in tags.items() if k.startswith("best_sampler.")}
    metric = comparable_metric(run.metrics, current)
    if metric is not None and current[metric] <= run.metrics[metric]:
        return False
    for key in ("fid", "inception_samples", "fid_mnist", "eval_samples"):
        if key in run.metrics:
            c.set_tag(generator_run_id, f"best_sampler.{key}", str(run.metrics[key]))
    c.set_tag(generator_run_id, "best_sampler_run", run.run_id)
    c.set_tag(generator_run_id, "best_sampler", sampler)
    return True


def best_linked_run(job: str, generator_run_id: str, uri: str | None = None) -> str | None:
    """The best finished ``job`` run fitted on ``generator_run_id``, or None."""
    try:
        runs = [r for r in finished_runs(job, uri) if r.tags.get(GENERATOR_RUN) == generator_run_id]
    except ModelNotFoundError:
        return None
    ranked, _ = rank(runs, "fid") if any("fid" in r.metrics for r in runs) else rank(runs, "fid_mnist")
    return ranked[0].run_id if ranked else None
