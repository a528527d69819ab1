"""The MLflow store: its URI, a client, whether a server answers, and what a report logs (numbers, versions)."""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sqlite3
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TrackingUnavailableError

CHECKPOINT_ARTIFACT = "checkpoint"
SAMPLES_KEY = "samples"
CHAMPION = "champion"
GENERATOR_RUN = "generator_run_id"  # tag on a sampler job's run: the GAN run it works on
# The UI opens an experiment without this tag in its GenAI view (traces, judges); this value is the training view.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# MLflow's tracking stores (a database URI may name its driver: postgresql+psycopg2://)
SCHEMES = ("file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc")


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
    scheme = uri.partition("://")[0].split("+")[0]
    if scheme not in SCHEMES:  # MLflow's own refusal is a page of traceback
        raise ConfigError(f"tracking URI {uri!r}: MLflow cannot store runs at a {scheme!r} URI; use "
                          f"sqlite:///ABS/mlflow.db, http://HOST:PORT or file:///ABS/folder")
    return uri


def client(uri: str | None = None):
    from mlflow import MlflowClient  # deferred: MLflow takes seconds to import; the training core never needs it

    uri = normalize_uri(uri) if uri else default_tracking_uri()
    if uri.startswith("sqlite:////"):
        write_ahead_log(uri[len("sqlite:///"):])
    return MlflowClient(tracking_uri=uri)


@functools.lru_cache(maxsize=None)
def write_ahead_log(path: str) -> None:
    """Put a SQLite store in WAL mode (kept in the file): `mlflow ui` and other readers then read while a
    study writes, neither waiting on the other; MLflow's own sessions wait 20 s on a busy writer."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path, timeout=20)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def health_error(uri: str, timeout: float = 5.0) -> Exception | None:
    """Why an HTTP tracking server's /health does not answer, or None when it does."""
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).read()
        return None
    except Exception as err:
        return err


def check_reachable(uri: str) -> None:
    """Fail fast, before any compute, when an HTTP tracking server does not answer."""
    if uri.startswith(("http://", "https://")) and (err := health_error(uri)) is not None:
        raise TrackingUnavailableError(f"MLflow tracking server {uri} is unreachable "
                                       f"({type(err).__name__}: {err}); start it or fix --tracking-uri")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def experiment_id(c, method: str) -> str:
    """The method's experiment, created if needed; either way marked as a model-training experiment."""
    exp = c.get_experiment_by_name(method)
    if exp is None:
        try:
            return c.create_experiment(method, tags=EXPERIMENT_KIND)
        except Exception:  # created concurrently by another driver
            exp = c.get_experiment_by_name(method)
    for key, value in EXPERIMENT_KIND.items():  # stores written before the tag existed
        if exp.tags.get(key) != value:
            c.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


def find_run(c, experiment_id: str, filter_string: str):
    runs = c.search_runs([experiment_id], filter_string=filter_string, max_results=2)
    return runs[0] if runs else None


def flat_params(config: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(config.items())}


def numeric_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Every finite number in a report (booleans and text are not metrics)."""
    return {k: float(v) for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def text_tags(result: dict[str, Any]) -> dict[str, str]:
    """The report's versions (e.g. metrics_version): strings that decide what can be compared."""
    return {k: v for k, v in result.items() if k.endswith("_version") and isinstance(v, str)}


def mlflow_params(config: dict[str, Any]):
    from mlflow.entities import Param  # deferred with MLflow itself (start-up time)

    return [Param(k, v[:6000]) for k, v in flat_params(config).items()]
