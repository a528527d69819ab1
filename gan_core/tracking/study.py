"""Reading one study back from MLflow: its parent run, every trial run whatever its status, their metric
histories (for learning curves and the cost of finding the champion), and the study's cost totals."""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cost
from ..errors import ModelNotFoundError
from ..ranking import RunRecord
from .metric_names import from_mlflow, spellings, study
from .store import GENERATOR_RUN, SAMPLES_KEY, check_reachable, client


@dataclass
class Study:
    method: str
    sweep: str
    experiment_id: str
    parent: RunRecord
    trials: list[RunRecord] = field(default_factory=list)  # every trial run: completed, pruned, diverged, failed
    started: float = 0.0                                   # the parent run's start, in seconds


def _record(run) -> RunRecord:
    return RunRecord(run.info.run_id, from_mlflow(run.data.metrics), dict(run.data.params), dict(run.data.tags))


def load_study(uri: str | None, target: str) -> Study:
    """A study by its sweep's parent run id, its sweep name, or an experiment (its latest sweep)."""
    c = client(uri)
    check_reachable(str(c.tracking_uri))  # one clear line, not minutes of retries, when a server is down
    parent = None
    try:
        parent = c.get_run(target)
    except Exception:  # not a run id: a sweep name or an experiment
        found = c.search_runs(search_all(c), f"tags.role = 'sweep' and tags.sweep = '{target}'", max_results=1)
        if not found and c.get_experiment_by_name(target) is not None:
            exp = c.get_experiment_by_name(target)
            found = c.search_runs([exp.experiment_id], "tags.role = 'sweep'", max_results=1,
                                  order_by=["attributes.start_time DESC"])
        parent = found[0] if found else None
    if parent is None or parent.data.tags.get("role") != "sweep":
        raise ModelNotFoundError(f"{target!r} is neither a sweep's parent run, a sweep name, nor an experiment "
                                 f"with a sweep at {c.tracking_uri}")
    exp, sweep = parent.info.experiment_id, parent.data.tags["sweep"]
    trials = c.search_runs([exp], f"tags.sweep = '{sweep}' and tags.role = 'trial'", max_results=10_000)
    return Study(parent.data.tags.get("method", ""), sweep, exp, _record(parent), [_record(r) for r in trials],
                 parent.info.start_time / 1000)


def search_all(c) -> list[str]:
    return [e.experiment_id for e in c.search_experiments()]


def history(uri: str | None, run_id: str, name: str) -> list[tuple[int, float, float]]:
    """(step, time in seconds, value) of every logged value of metric ``name``, in either spelling."""
    c = client(uri)
    for key in spellings(name):
        points = c.get_metric_history(run_id, key)
        if points:
            return sorted((p.step, p.timestamp / 1000, p.value) for p in points)
    return []


def study_cost(uri: str | None, s: Study, metric: str, champion_run: str | None,
               higher_is_better: bool = False) -> dict[str, float]:
    """The study's totals (``study/…``): the trials' summed cost, its own wall seconds, the epochs trained,
    and the epochs and seconds it took until the champion's trial first led on ``metric``."""
    totals = cost.study_totals(t.metrics for t in s.trials)
    totals["trial_wall_seconds"] = totals.pop("wall_seconds")
    totals["wall_seconds"] = time.time() - s.started
    totals["epochs"] = float(sum(t.metrics.get("epoch", 0.0) for t in s.trials))
    if champion_run:
        reports = []
        for t in s.trials:
            epochs = {step: value for step, _, value in history(uri, t.run_id, "epoch")}
            reports += [(when, t.run_id, value, epochs.get(step, 0.0))
                        for step, when, value in history(uri, t.run_id, metric)]
        totals.update(cost.to_reach(reports, champion_run, higher_is_better))
    return {study(k): v for k, v in totals.items()}


def artifact_bytes(uri: str | None, run_id: str, path: str) -> bytes | None:
    """One artifact's bytes, or None when the run has no such file."""
    import mlflow.artifacts  # deferred with MLflow itself (start-up time)

    try:
        with tempfile.TemporaryDirectory() as folder:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=folder,
                                                        tracking_uri=str(client(uri).tracking_uri))
            return Path(local).read_bytes()
    except Exception:
        return None


def last_image(uri: str | None, run_id: str, key: str = SAMPLES_KEY) -> bytes | None:
    """The last sample grid a run logged under ``key`` (MLflow 3 names them images/<key>+step+<N>+…; older
    versions used % for +)."""
    found = [(int(m.group(1)), a.path) for a in client(uri).list_artifacts(run_id, "images")
             if a.path.endswith(".png") and (m := re.search(rf"/{re.escape(key)}[+%]step[+%](\d+)[+%]", a.path))]
    return artifact_bytes(uri, run_id, max(found)[1]) if found else None


def linked_runs(uri: str | None, experiment: str, generator_run_id: str) -> list[RunRecord]:
    """Every run of ``experiment`` (a sampler job) fitted on ``generator_run_id``, whatever its status."""
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id], f"tags.{GENERATOR_RUN} = '{generator_run_id}' and tags.role = 'trial'",
                         max_results=10_000)
    return [_record(r) for r in runs]


def log_file(uri: str | None, run_id: str, path: str | Path, folder: str | None = None) -> None:
    client(uri).log_artifact(run_id, str(path), folder)
