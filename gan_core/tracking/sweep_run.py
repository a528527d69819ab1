"""SweepRun: a sweep's parent run in MLflow, and the child run of each trial logged under it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics import probe
from .metric_names import from_mlflow, to_mlflow
from .store import (CHECKPOINT_ARTIFACT, GENERATOR_RUN, SAMPLES_KEY, check_reachable, client, experiment_id,
                    find_run, git_commit, numeric_metrics, mlflow_params, text_tags)


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
        exp = experiment_id(c, method)
        found = find_run(c, exp, f"tags.sweep = '{sweep}' and tags.role = 'sweep'")
        if found is not None:  # a resumed sweep keeps its parent run
            run_id = found.info.run_id
            c.update_run(run_id, status="RUNNING")
        else:
            run = c.create_run(exp, run_name=sweep, tags={"sweep": sweep, "role": "sweep", "method": method,
                                                          "git_commit": git_commit()})
            run_id = run.info.run_id
            c.log_batch(run_id, params=mlflow_params(params))
        return cls(uri, method, sweep, exp, run_id)

    # --- trials -------------------------------------------------------------
    def trial_run(self, trial_id: str, config: dict[str, Any]) -> str:
        """The child run for a trial: found again on resume, created once otherwise."""
        c = client(self.uri)
        found = find_run(c, self.experiment_id, f"tags.sweep = '{self.sweep}' and tags.trial_id = '{trial_id}'")
        if found is not None:
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

    def log_report(self, run_id: str, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag  # deferred with MLflow itself (start-up time)

        step, now = int(result.get("step", 0)), int(time.time() * 1000)
        # a carried pruning signal is not a measurement at this step: only fresh values are logged
        fresh = numeric_metrics(probe.fresh_only(result))
        metrics = [Metric(k, v, now, step) for k, v in to_mlflow(fresh).items()]
        tags = [RunTag(k, v) for k, v in text_tags(result).items()]
        client(self.uri).log_batch(run_id, metrics=metrics, tags=tags)

    def last_metrics(self, run_id: str, keys: tuple[str, ...]) -> dict[str, float]:
        """The last logged value of each of ``keys`` (code names; 0 where none was logged)."""
        logged = from_mlflow(client(self.uri).get_run(run_id).data.metrics)
        return {k: float(logged.get(k, 0.0)) for k in keys}

    def log_samples(self, run_id: str, image_path: str | Path, step: int) -> None:
        from PIL import Image  # deferred: only the driver logs images

        with Image.open(image_path) as image:
            self.log_image(run_id, image.copy(), step)

    def log_image(self, run_id: str, image, step: int) -> None:
        """A sample grid under the key ``samples``: the UI's step slider pages through training."""
        client(self.uri).log_image(run_id, image, key=SAMPLES_KEY, step=step)

    def log_checkpoint(self, run_id: str, folder: str | Path) -> None:
        client(self.uri).log_artifacts(run_id, str(folder), CHECKPOINT_ARTIFACT)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Tags on a trial's run (a PBT member's parent at an exploit)."""
        c = client(self.uri)
        for key, value in tags.items():
            c.set_tag(run_id, key, str(value)[:4000])

    def end_trial(self, run_id: str, status: str, reason: str = "") -> None:
        c = client(self.uri)
        c.set_tag(run_id, "status", status)
        if reason:
            c.set_tag(run_id, "stop_reason", reason[:4000])
        c.set_terminated(run_id, "FAILED" if status in ("diverged", "failed") else "FINISHED")

    def interrupt(self, trial_ids: list[str], reason: str) -> None:
        """Mark cut-short trials' runs and the parent run KILLED, never left RUNNING; --resume continues them."""
        c = client(self.uri)
        for trial_id in trial_ids:
            found = find_run(c, self.experiment_id, f"tags.sweep = '{self.sweep}' and tags.trial_id = '{trial_id}'")
            if found is not None and found.info.status == "RUNNING":
                c.set_tag(found.info.run_id, "status", "interrupted")
                c.set_tag(found.info.run_id, "stop_reason", reason)
                c.set_terminated(found.info.run_id, "KILLED")
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
