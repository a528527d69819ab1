"""Reading runs back: finished runs, their checkpoints, the champion alias and the sampler record."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .. import checkpoint, ranking
from ..errors import ModelNotFoundError
from ..ranking import RunRecord
from .metric_names import from_mlflow, to_mlflow
from .store import (CHAMPION, CHECKPOINT_ARTIFACT, GENERATOR_RUN, check_reachable, client, normalize_uri,
                    numeric_metrics)


def _record(run) -> RunRecord:
    return RunRecord(run.info.run_id, from_mlflow(run.data.metrics), dict(run.data.params), dict(run.data.tags))


def run_record(run_id: str, uri: str | None = None) -> RunRecord:
    return _record(client(uri).get_run(run_id))


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
    return [_record(r) for r in c.search_runs([exp.experiment_id], filter_string=query, max_results=10_000)]


def log_metrics(run_id: str, metrics: dict[str, float], *, step: int, uri: str | None = None) -> None:
    """Numbers computed after a run ended (the finalists' Inception scores), at its last step."""
    from mlflow.entities import Metric  # deferred with MLflow itself (start-up time)

    now = int(time.time() * 1000)
    client(uri).log_batch(run_id, metrics=[Metric(k, v, now, step)
                                           for k, v in to_mlflow(numeric_metrics(metrics)).items()])


def load_checkpoint(run_id: str, uri: str | None = None, *, method: str | None = None) -> dict:
    """A tracked run's final checkpoint, loaded into memory; the downloaded copy is removed at once
    (a leaked copy per call once filled a disk: about 70 MB each)."""
    import mlflow.artifacts  # deferred with MLflow itself (start-up time)

    with tempfile.TemporaryDirectory(prefix="gan_ckpt_") as dest:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CHECKPOINT_ARTIFACT,
                                                   dst_path=dest, tracking_uri=str(client(uri).tracking_uri))
        return checkpoint.load(Path(path) / checkpoint.FILE, method=method)


def promote_champion(method: str, run: RunRecord, metric: str, uri: str | None = None) -> tuple[bool, str]:
    """Register ``run``'s checkpoint as a version of gan-<method>; move ``champion`` to it when
    ``ranking.beats_champion`` says so."""
    c = client(uri)
    name = f"gan-{method}"
    try:
        c.get_registered_model(name)
    except Exception:
        c.create_registered_model(name, description=f"Best generators for {method}, by sweep")
    candidate = ranking.score(run, metric)
    try:
        current = c.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        current = None
    if current is not None:
        if current.run_id == run.run_id:
            return False, current.version
        held = ranking.Score(current.tags.get("metric", ""), float(current.tags.get("value", "nan")),
                             float(current.tags.get("count", -1)), current.tags.get("version", ""))
        if not ranking.beats_champion(candidate, held):
            return False, current.version
    source = f"runs:/{run.run_id}/{CHECKPOINT_ARTIFACT}"
    version = c.create_model_version(name, source, run_id=run.run_id, tags={
        "metric": metric, "value": str(candidate.value), "count": str(candidate.count), "version": candidate.version})
    c.set_registered_model_alias(name, CHAMPION, version.version)
    return True, version.version


def record_sampler(generator_run_id: str, sampler: str, run: RunRecord, uri: str | None = None) -> bool:
    """Tag the GAN run with ``sampler`` (fitted in ``run``) when ``ranking.sampler_improves`` on its
    current best (its plain sampling, or the sampler recorded before); return whether it was recorded."""
    c = client(uri)
    try:
        gan = c.get_run(generator_run_id)
    except Exception:
        return False  # a checkpoint path, not a tracked run: nothing to tag
    tags = gan.data.tags
    current, current_version = from_mlflow(gan.data.metrics), tags.get(ranking.VERSION_TAG, "")
    if tags.get("best_sampler_run"):
        current = {k[len("best_sampler."):]: float(v) for k, v in tags.items()
                   if k.startswith("best_sampler.") and k != "best_sampler.version"}
        current_version = tags.get("best_sampler.version", "")
    version = run.tags.get(ranking.VERSION_TAG, "")
    if not ranking.sampler_improves(run.metrics, current, version, current_version):
        return False
    for key in ("fid", "inception_samples", "fid_mnist", "eval_samples"):
        if key in run.metrics:
            c.set_tag(generator_run_id, f"best_sampler.{key}", str(run.metrics[key]))
    c.set_tag(generator_run_id, "best_sampler.version", version)
    c.set_tag(generator_run_id, "best_sampler_run", run.run_id)
    c.set_tag(generator_run_id, "best_sampler", sampler)
    return True


def best_linked_run(job: str, generator_run_id: str, uri: str | None = None) -> str | None:
    """The best finished ``job`` run fitted on ``generator_run_id``, or None."""
    try:
        runs = [r for r in finished_runs(job, uri) if r.tags.get(GENERATOR_RUN) == generator_run_id]
    except ModelNotFoundError:
        return None
    ranked, _ = ranking.rank(runs, "fid" if any("fid" in r.metrics for r in runs) else "fid_mnist")
    return ranked[0].run_id if ranked else None
