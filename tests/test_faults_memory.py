"""Ray's memory monitor kills a trial's worker and Tune aborts the study: one line, exit status 75, the runs cut
short marked interrupted, and --resume finishes every trial once.

Ray's monitor cannot be made to kill a worker at the moment Tune aborts on it (with a tiny
RAY_memory_usage_threshold it kills the actor in ``__init__``, which Tune takes as an ordinary trial error), so the
study's abort is raised by Ray's own actor manager on the OutOfMemoryError Ray raises, from inside a real study."""
import sys
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from ray import tune
from ray.air.execution._internal.actor_manager import RayActorManager
from ray.exceptions import OutOfMemoryError

from gan_core.sweep.memory_kill import memory_kill

# Ray's message, as its raylet formats it (src/ray/raylet: "%d worker(s) were killed due to …")
RAY_MESSAGE = ("Task was killed due to the node running low on memory.\nMemory on the node (IP: 10.0.0.5, ID: 9f3c) "
               "was 22.43GB used / 23.61GB limit (0.950000), which exceeds the memory usage threshold of 0.95. "
               "OOM kill reason: ...")


def tune_aborts() -> RuntimeError:
    """The exception Tune's controller raises when a trial actor's task returns Ray's OutOfMemoryError."""
    try:
        RayActorManager._actor_task_failed(None, SimpleNamespace(_tracked_actor=None), OutOfMemoryError(RAY_MESSAGE))
    except RuntimeError as err:
        return err
    raise AssertionError("Ray's actor manager handled OutOfMemoryError: Tune no longer aborts on it")


def test_memory_kill_is_told_from_other_errors():
    assert memory_kill(tune_aborts()) == ("Ray's memory monitor killed a trial's worker "
                                          "(node memory 95% used: 22.43 of 23.61 GB)")
    try:  # deeper in a chain, and Ray's words without its exception type
        raise ValueError("wrapped") from RuntimeError("1 worker(s) were killed due to the node running low on memory.")
    except ValueError as err:
        assert memory_kill(err) == "Ray's memory monitor killed a trial's worker"
    assert memory_kill(RuntimeError("Caught unexpected exception: something else")) is None


class KillAtFirstReport(tune.Callback):
    """Tune aborts as on a memory kill at the study's first report, a trial running; once only, as Tune restores
    its callbacks on --resume."""
    killed = False

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if not KillAtFirstReport.killed:
            KillAtFirstReport.killed = True
            raise tune_aborts()


def test_memory_kill_stops_the_study_with_one_line_and_resume_finishes_it(tmp_path, monkeypatch, capsys):
    import ray
    from gan_core import search_space
    from gan_core.sweep import cli, run_sweep

    space = search_space.validate({
        "method": "san", "search": {"san_lambda": {"type": "loguniform", "low": 0.5, "high": 2}},
        "smoke": {"max_steps": 40, "eval_every_steps": 20, "eval_samples": 200, "inception_samples": 0}},
        "test.yaml")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("RAY_ADDRESS", "local")  # a private Ray, never a cluster someone started here
    monkeypatch.setattr(sys, "argv", ["sweeps/memory.py", "--smoke"])
    options = dict(study="memory", space=space, num_samples=2, smoke=True, tracking_uri=uri, max_concurrent=1,
                   storage_path=str(tmp_path / "rr"), finalists=0, cpus_per_trial=1, verbose=0)
    try:
        with pytest.raises(SystemExit) as stop:
            cli.exit_on_user_error(lambda: run_sweep("san", callbacks=[KillAtFirstReport()], **options))
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert stop.value.code == 75 and "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith(
        "interrupted: Ray's memory monitor killed a trial's worker (node memory 95% used: 22.43 of 23.61 GB) and "
        "Tune stopped the study; 1 trials cut short (their runs marked KILLED in MLflow); Tune saved the study in "
        f"{tmp_path / 'rr'}/memory-"), lines
    assert lines[0].endswith(" --smoke --resume"), lines[0]  # this process's own arguments, and --resume
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("san").experiment_id
    runs = c.search_runs([exp], "")
    assert not [r for r in runs if r.info.status == "RUNNING"]  # nothing left RUNNING
    killed = [r.data.tags["trial_id"] for r in runs if r.data.tags.get("status") == "interrupted"]
    assert len(killed) == 1

    try:
        run_sweep("san", resume=True, **options)
    finally:
        ray.shutdown()
    runs = c.search_runs([exp], "tags.role = 'trial'")
    ids = [r.data.tags["trial_id"] for r in runs]
    assert len(ids) == len(set(ids)) == 2 and set(killed) <= set(ids)  # the cut-short run was continued
    assert all(r.info.status == "FINISHED" and r.data.tags["status"] != "interrupted" for r in runs)
    for run in runs:  # every report once, also across the kill
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "fid_mnist")]
        assert len(steps) == len(set(steps)), steps
