"""SweepRun: a sweep's parent run in MLflow, and the child run of each trial logged under it."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import cache_dir
from ..metrics import probe
from .metric_names import from_mlflow, logged, to_mlflow
from .outbox import Outbox, answers, few_retries, limit_from_env
from .store import (CHECKPOINT_ARTIFACT, GENERATOR_RUN, SAMPLES_KEY, check_reachable, client, experiment_id,
                    find_run, git_commit, numeric_metrics, mlflow_params, text_tags)


@dataclass
class SweepRun:
    """The parent run of one sweep, and a handle for logging trials under it. On a tracking server, the writes
    of a study's trials go through an ``Outbox`` (one per process, ``role``), so an outage loses none."""

    uri: str
    method: str
    sweep: str
    experiment_id: str
    run_id: str
    role: str = "driver"  # the process that writes: the sweep driver, or a population sweep's coordinator
    _box: Outbox | None = field(default=None, repr=False, compare=False)
    # steps already in the store per run and kind (report, grid): a trial that Tune restores re-reports its last
    # step, which is logged once; runs found again on resume are read from the store on first use
    _steps: dict[tuple[str, str], set[int]] = field(default_factory=dict, repr=False, compare=False)
    _found: set[str] = field(default_factory=set, repr=False, compare=False)

    def __getstate__(self):  # the outbox belongs to the process that built it; a copy builds its own
        return {**self.__dict__, "_box": None}

    @classmethod
    def start(cls, uri: str, method: str, sweep: str, params: dict[str, Any]) -> "SweepRun":
        check_reachable(uri)
        limit_from_env()  # a bad limit is one line before compute
        c = client(uri)
        exp = experiment_id(c, method)
        found = find_run(c, exp, f"tags.sweep = '{sweep}' and tags.role = 'sweep'")
        if found is not None:  # a resumed sweep keeps its parent run
            resumed = cls(uri, method, sweep, exp, found.info.run_id)
            resumed.flush(wait=True)  # first, what a driver stopped by an outage kept (its marks included)
            c.update_run(resumed.run_id, status="RUNNING")
            return resumed
        run = c.create_run(exp, run_name=sweep, tags={"sweep": sweep, "role": "sweep", "method": method,
                                                      "git_commit": git_commit()})
        c.log_batch(run.info.run_id, params=mlflow_params(params))
        return cls(uri, method, sweep, exp, run.info.run_id)

    # --- the outbox ---------------------------------------------------------
    @property
    def outbox(self) -> Outbox | None:
        if self._box is None and self.uri.startswith(("http://", "https://")):
            few_retries()
            self._box = Outbox(self.uri, cache_dir() / "outbox" / self.sweep / self.role, self._execute,
                               limit_from_env())
        return self._box

    def _write(self, name: str, **kwargs) -> Any:
        return self.outbox.write(name, **kwargs) if self.outbox else self._execute(name, kwargs)

    def _execute(self, name: str, kwargs: dict) -> Any:
        kwargs = dict(kwargs)
        if kwargs.pop("replay", False) and name == "log_image" and self._has_image(kwargs["run_id"], kwargs["step"]):
            return None  # written before the connection broke: once only
        return getattr(self, "_" + name)(**kwargs)

    def overdue(self) -> str | None:
        """Why the study should stop: its tracking server has been away past the outbox's limit."""
        return self._box.overdue if self._box else None

    def flush(self, *, wait: bool = False) -> None:
        """Write what the outbox holds; ``wait``: until it is empty or the server has been away too long."""
        if self.outbox:
            self.outbox.flush(wait=wait)

    # --- trials -------------------------------------------------------------
    def trial_run(self, trial_id: str, config: dict[str, Any]) -> str:
        """The child run for a trial: found again on resume, created once otherwise (while the server is away,
        a placeholder that the outbox resolves)."""
        run_id = self._write("trial_run", trial_id=trial_id, config={k: _plain(v) for k, v in config.items()})
        return run_id or self.outbox.run_id(trial_id)

    def _trial_run(self, trial_id: str, config: dict[str, Any]) -> str:
        c = client(self.uri)
        found = find_run(c, self.experiment_id, f"tags.sweep = '{self.sweep}' and tags.trial_id = '{trial_id}'")
        if found is not None:
            self._found.add(found.info.run_id)
            if found.info.status != "RUNNING":  # an interrupted trial that --resume continues
                c.update_run(found.info.run_id, status="RUNNING")
                c.set_tag(found.info.run_id, "status", "running")
            return found.info.run_id
        run = c.create_run(self.experiment_id, run_name=f"{self.method}-{trial_id}", tags={
            "mlflow.parentRunId": self.run_id, "sweep": self.sweep, "trial_id": trial_id, "role": "trial",
            "method": self.method, "status": "running", "git_commit": git_commit(),
            # a sampler job's link to the GAN run it samples from
            **({GENERATOR_RUN: config["base"]} if config.get("base") else {})})
        c.log_batch(run.info.run_id, params=mlflow_params(config))
        return run.info.run_id

    def _first_time(self, kind: str, run_id: str, step: int) -> bool:
        """Whether ``run_id`` has no ``kind`` ("report" or "grid") at ``step`` yet; from now on it has."""
        if (kind, run_id) not in self._steps:
            stored = set()
            if run_id in self._found:
                c = client(self.uri)
                stored = {int(m.step) for m in c.get_metric_history(run_id, logged("step"))} if kind == "report" \
                    else {step} if self._has_image(run_id, step) else set()
            self._steps[kind, run_id] = stored
        seen = self._steps[kind, run_id]
        if step in seen:
            return False
        seen.add(step)
        return True

    def log_report(self, run_id: str, result: dict[str, Any]) -> None:
        if not self._first_time("report", run_id, int(result.get("step", 0))):
            return
        # a carried pruning signal is not a measurement at this step: only fresh values are logged
        self._write("log_report", run_id=run_id, metrics=to_mlflow(numeric_metrics(probe.fresh_only(result))),
                    tags=text_tags(result), step=int(result.get("step", 0)), timestamp=int(time.time() * 1000))

    def _log_report(self, run_id: str, metrics: dict[str, float], tags: dict[str, str], step: int,
                    timestamp: int) -> None:
        from mlflow.entities import Metric, RunTag  # deferred with MLflow itself (start-up time)

        # the first attempt's timestamp: a replayed metric is identical, and MLflow stores it once
        client(self.uri).log_batch(run_id, metrics=[Metric(k, v, timestamp, step) for k, v in metrics.items()],
                                   tags=[RunTag(k, v) for k, v in tags.items()])

    def last_metrics(self, run_id: str, keys: tuple[str, ...]) -> dict[str, float]:
        """The last logged value of each of ``keys`` (code names; 0 where none was logged, or while the
        server is away)."""
        try:
            logged = from_mlflow(client(self.uri).get_run(self.outbox.resolve(run_id) if self.outbox else run_id)
                                 .data.metrics)
        except Exception:
            if self.outbox is None or answers(self.uri):
                raise
            logged = {}
        return {k: float(logged.get(k, 0.0)) for k in keys}

    def log_samples(self, run_id: str, image_path: str | Path, step: int) -> None:
        from PIL import Image  # deferred: only the driver logs images

        with Image.open(image_path) as image:
            self.log_image(run_id, image.copy(), step)

    def log_image(self, run_id: str, image, step: int) -> None:
        """A sample grid under the key ``samples``: the UI's step slider pages through training."""
        if self._first_time("grid", run_id, step):
            self._write("log_image", run_id=run_id, image=image, step=step)

    def _log_image(self, run_id: str, image, step: int) -> None:
        if isinstance(image, dict):  # kept by the outbox as a PNG file
            from PIL import Image  # deferred: only the driver logs images

            with Image.open(image["file"]) as kept:
                image = kept.copy()
        client(self.uri).log_image(run_id, image, key=SAMPLES_KEY, step=step)

    def _has_image(self, run_id: str, step: int) -> bool:
        """Whether a grid is stored at ``step`` (MLflow names it images/samples+step+N+…, older ones with %)."""
        names = [Path(f.path).name for f in client(self.uri).list_artifacts(run_id, "images")]
        return any(re.match(rf"{SAMPLES_KEY}[+%]step[+%]{step}[+%]", name) for name in names)

    def log_checkpoint(self, run_id: str, folder: str | Path) -> None:
        self._write("log_checkpoint", run_id=run_id, folder=str(folder))

    def _log_checkpoint(self, run_id: str, folder: str) -> None:
        client(self.uri).log_artifacts(run_id, folder, CHECKPOINT_ARTIFACT)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Tags on a trial's run (a PBT member's parent at an exploit)."""
        self._write("set_tags", run_id=run_id, tags={k: str(v)[:4000] for k, v in tags.items()})

    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        c = client(self.uri)
        for key, value in tags.items():
            c.set_tag(run_id, key, value)

    def end_trial(self, run_id: str, status: str, reason: str = "") -> None:
        self._write("end_trial", run_id=run_id, status=status, reason=reason)

    def _end_trial(self, run_id: str, status: str, reason: str = "") -> None:
        c = client(self.uri)
        c.set_tag(run_id, "status", status)
        if reason:
            c.set_tag(run_id, "stop_reason", reason[:4000])
        c.set_terminated(run_id, "FAILED" if status in ("diverged", "failed") else "FINISHED")

    def interrupt(self, trial_ids: list[str], reason: str, parent: bool = True) -> None:
        """Mark cut-short trials' runs (and the parent run) KILLED, never left RUNNING; --resume continues them."""
        self._write("interrupt", trial_ids=list(trial_ids), reason=reason, parent=parent)

    def _interrupt(self, trial_ids: list[str], reason: str, parent: bool = True) -> None:
        c = client(self.uri)
        for trial_id in trial_ids:
            found = find_run(c, self.experiment_id, f"tags.sweep = '{self.sweep}' and tags.trial_id = '{trial_id}'")
            if found is not None and found.info.status == "RUNNING":
                c.set_tag(found.info.run_id, "status", "interrupted")
                c.set_tag(found.info.run_id, "stop_reason", reason)
                c.set_terminated(found.info.run_id, "KILLED")
        if parent:
            c.set_terminated(self.run_id, "KILLED")

    # --- the sweep's end ----------------------------------------------------
    def log_figures(self, figures: dict[str, Any]) -> None:
        c = client(self.uri)
        for name, fig in figures.items():
            c.log_figure(self.run_id, fig, f"optuna/{name}.png")

    def log_table(self, name: str, text: str) -> None:
        client(self.uri).log_text(self.run_id, text, name)

    def finish(self, summary: dict[str, Any]) -> None:
        c = client(self.uri)
        c.log_batch(self.run_id, metrics=[_metric(k, v) for k, v in to_mlflow(numeric_metrics(summary)).items()])
        c.set_terminated(self.run_id, "FINISHED")



def _metric(key: str, value: float):
    from mlflow.entities import Metric  # deferred with MLflow itself (start-up time)

    return Metric(key, value, int(time.time() * 1000), 0)


def _plain(value: Any) -> Any:
    """A config value as the journal can keep it (numpy numbers and the like become Python's own)."""
    return value if isinstance(value, (str, int, float, bool, type(None))) else \
        (value.item() if hasattr(value, "item") else str(value))
