"""Outbox: a sweep's MLflow writes survive a tracking server that goes away.

A write that cannot reach the server, and every write after it, is kept on local disk in order (a JSON
journal, with the sample grids and checkpoint folders it needs) while the study goes on training. The
journal is written to the server, oldest first, as soon as it answers again; a resumed study writes what an
earlier one left. Replays are idempotent: a metric carries the timestamp of its first attempt (MLflow drops
an identical metric), tags and end states overwrite, a checkpoint lands at the same artifact path, and a
grid is skipped when one is already stored at its step. If the server stays away for ``limit`` seconds
(``$GAN_TRACKING_OUTAGE_LIMIT``, default 30 minutes), ``overdue`` says so; the sweep driver then stops as for
Ctrl-C, and ``--resume`` completes the study from the journal and Tune's saved state.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .. import disk
from ..errors import TrackingUnavailableError
from ..images import png
from .store import health_error

LIMIT_ENV = "GAN_TRACKING_OUTAGE_LIMIT"
DEFAULT_LIMIT = 1800.0
RETRY_EVERY = 5.0    # seconds between attempts while the server is away: one health request each
PENDING = "pending:"  # a trial's run id until the server has created its run


class OutageTooLong(TrackingUnavailableError):
    """The tracking server stayed away past the outbox's limit; the journal keeps every write."""


def limit_from_env() -> float:
    text = os.environ.get(LIMIT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_LIMIT
    except ValueError:
        raise TrackingUnavailableError(f"${LIMIT_ENV}={text!r}: expected seconds, e.g. 1800") from None
    if value <= 0:
        raise TrackingUnavailableError(f"${LIMIT_ENV}={text!r}: must be positive")
    return value


def answers(uri: str) -> bool:
    return health_error(uri, timeout=3.0) is None


def few_retries() -> None:
    """MLflow's client retries a failed request for minutes on its own, freezing the study; the outbox retries
    instead, so one attempt fails within seconds (a user's own settings win)."""
    for key, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                       ("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")):
        os.environ.setdefault(key, value)


class Outbox:
    """Ordered writes to ``uri`` through ``execute(name, kwargs)``, journaled in ``folder`` while it is away."""

    def __init__(self, uri: str, folder: str | Path, execute: Callable[[str, dict], Any], limit: float):
        self.uri, self.folder, self.execute, self.limit = uri, Path(folder), execute, limit
        self.journal = self.folder / "journal.json"
        saved = json.loads(self.journal.read_text()) if self.journal.exists() else {}
        self.pending: list[dict] = saved.get("pending", [])
        self.aliases: dict[str, str] = saved.get("aliases", {})
        self.seq = max((op["seq"] for op in self.pending), default=0)
        self.down_since: float | None = None
        self.overdue: str | None = None  # why the study should stop: the server away past the limit
        self.last_try = 0.0

    # --- what callers use --------------------------------------------------
    def write(self, name: str, **kwargs) -> Any:
        """Run one write now if nothing waits before it and the server answers, else journal it."""
        if not self.pending:
            try:
                return self.execute(name, self._resolved(kwargs))
            except Exception:
                if answers(self.uri):
                    raise  # the server answered: a real error, not an outage
                self._went_down()
        self._keep(name, kwargs)
        self.flush()
        return None

    def flush(self, *, wait: bool = False) -> None:
        """Write the journal, oldest first, while the server answers. Past the limit, ``overdue`` says so;
        ``wait`` blocks until the journal is empty, or raises ``OutageTooLong`` past the limit."""
        while self.pending:
            now = time.time()
            if not wait and now - self.last_try < RETRY_EVERY:
                return
            self.last_try = now
            if answers(self.uri):
                try:
                    self._drain()
                    continue
                except Exception:
                    if answers(self.uri):
                        raise
            self._went_down()
            if time.time() - self.down_since > self.limit:
                self.overdue = (f"MLflow tracking server {self.uri} has not answered for "
                                f"{time.time() - self.down_since:.0f} s (limit {self.limit:.0f} s, ${LIMIT_ENV}); "
                                f"{len(self.pending)} writes are kept in {self.journal}; start the server")
                if wait:
                    raise OutageTooLong(self.overdue)
            if not wait:
                return
            time.sleep(RETRY_EVERY)
        self.down_since = self.overdue = None

    def run_id(self, trial_id: str) -> str:
        """A placeholder for a run the server has not created yet; writes that name it wait for it."""
        return self.aliases.get(PENDING + trial_id, PENDING + trial_id)

    # --- inside --------------------------------------------------------------
    def _went_down(self) -> None:
        if self.down_since is None:
            self.down_since = time.time()
            print(f"MLflow tracking server {self.uri} does not answer: the study goes on, its writes are kept "
                  f"in {self.journal} until it answers (limit {self.limit:.0f} s)", flush=True)

    def resolve(self, run_id: str) -> str:
        """The server's id for ``run_id`` (a placeholder once its run exists); LookupError before that."""
        if not run_id.startswith(PENDING):
            return run_id
        if run_id not in self.aliases:
            raise LookupError(f"run {run_id} is not created yet")
        return self.aliases[run_id]

    def _resolved(self, kwargs: dict) -> dict:
        return {**kwargs, "run_id": self.resolve(kwargs["run_id"])} if "run_id" in kwargs else kwargs

    def _keep(self, name: str, kwargs: dict) -> None:
        self.seq += 1
        payload = self.folder / "payload" / str(self.seq)
        kept = dict(kwargs)
        if "image" in kept and not isinstance(kept["image"], dict):  # a PIL image: kept as its PNG
            disk.replace(payload / "grid.png", png(kept["image"]))
            kept["image"] = {"file": str(payload / "grid.png")}
        if "folder" in kept:  # Tune's checkpoint folder may be gone by the time the server answers
            shutil.copytree(kept["folder"], payload / "folder", dirs_exist_ok=True)
            kept["folder"] = str(payload / "folder")
        self.pending.append({"seq": self.seq, "name": name, "kwargs": kept})
        self._save()

    def _drain(self) -> None:
        while self.pending:
            op = self.pending[0]
            result = self.execute(op["name"], {**self._resolved(op["kwargs"]), "replay": True})
            if op["name"] == "trial_run":
                self.aliases[PENDING + op["kwargs"]["trial_id"]] = result
            self.pending.pop(0)
            shutil.rmtree(self.folder / "payload" / str(op["seq"]), ignore_errors=True)
            self._save()

    def _save(self) -> None:
        disk.replace(self.journal, json.dumps({"uri": self.uri, "pending": self.pending,
                                               "aliases": self.aliases}).encode(), what="journal")
