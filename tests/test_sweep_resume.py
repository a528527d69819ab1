"""Kill a sweep's driver partway (a real subprocess), resume it, and find every trial exactly once."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
NUM = 6


def trial_runs(db: Path):
    if not db.exists():
        return []
    c = MlflowClient(f"sqlite:///{db}")
    exp = c.get_experiment_by_name("san")
    return c.search_runs([exp.experiment_id], "tags.role = 'trial'") if exp else []


def ended_trials_while_running(db: Path) -> int:
    """Trial runs that have ended, read from the live store without an MlflowClient.

    An MlflowClient would run MLflow's schema migrations on a file the driver is still
    creating; two migrators on one SQLite file fail. A read-only connection never writes.
    """
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute(
                "SELECT COUNT(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
                "WHERE tags.key = 'role' AND tags.value = 'trial' AND runs.status != 'RUNNING'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet, or a write in progress
        return 0


def test_killed_sweep_resumes_without_duplicates(tmp_path):
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", str(NUM),
           "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--storage-path", str(tmp_path / "rr")]
    # RAY_ADDRESS=local: a private Ray, never a cluster someone started on this machine
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local"}
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    try:
        # kill once some trials have ended and others have not
        while time.time() < deadline:
            if ended_trials_while_running(tmp_path / "mlflow.db") >= 2 or first.poll() is not None:
                break
            time.sleep(1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the driver and the local Ray it started
        first.wait()
    assert first.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    before = {r.data.tags["trial_id"]: r.info.status for r in trial_runs(tmp_path / "mlflow.db")}
    assert 2 <= sum(s != "RUNNING" for s in before.values()) and len(before) <= NUM

    resumed = subprocess.run(cmd + ["--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = trial_runs(tmp_path / "mlflow.db")
    ids = [r.data.tags["trial_id"] for r in runs]
    assert len(ids) == len(set(ids)) == NUM  # every trial once, none duplicated
    assert all(r.info.status in ("FINISHED", "FAILED") for r in runs)
    for trial_id, status in before.items():  # finished trials were not re-run
        if status != "RUNNING":
            run = next(r for r in runs if r.data.tags["trial_id"] == trial_id)
            assert run.info.status == status
    parents = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_runs(
        [runs[0].info.experiment_id], "tags.role = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


def test_diverged_and_failed_trials_end_with_a_reason_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """Three trials in one real sweep: a healthy one, one with an absurd learning rate (plain SGD
    at lr 10 overflows within 25 steps), and one asking for CUDA on a machine without it."""
    import ray
    from gan_core import search_space, sweep

    space = search_space.validate({
        "method": "san",
        "fixed": {"optimizer": "sgd"},
        "smoke": {"max_steps": 40, "eval_every_steps": 20, "eval_samples": 200, "inception_samples": 0},
        "search": {"device": {"type": "categorical", "choices": ["cpu", "cuda"]},
                   "lr_d": {"type": "categorical", "choices": [2e-4, 10.0]}}}, "test.yaml")
    points = [{"device": "cpu", "lr_d": 2e-4}, {"device": "cpu", "lr_d": 10.0}, {"device": "cuda", "lr_d": 2e-4}]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("RAY_ADDRESS", "local")  # a private Ray, never a cluster someone started here
    try:
        result = sweep.run_sweep("san", study="failures", space=space, num_samples=3, smoke=True, tracking_uri=uri,
                                 storage_path=str(tmp_path / "rr"), points_to_evaluate=points, max_failures=1,
                                 cpus_per_trial=0.5, verbose=0)
    finally:
        ray.shutdown()
    assert sorted(row["status"] for row in result.rows) == ["completed", "diverged", "failed"]
    runs = {(r.data.params["device"], float(r.data.params["lr_d"])): r for r in trial_runs(tmp_path / "mlflow.db")}
    assert len(runs) == 3
    healthy, absurd, cuda = runs[("cpu", 2e-4)], runs[("cpu", 10.0)], runs[("cuda", 2e-4)]
    assert healthy.data.tags["status"] == "completed" and healthy.info.status == "FINISHED"
    assert absurd.data.tags["status"] == "diverged" and absurd.info.status == "FAILED"
    assert "san diverged at step" in absurd.data.tags["stop_reason"] and "NaN or inf" in absurd.data.tags["stop_reason"]
    assert cuda.data.tags["status"] == "failed" and cuda.info.status == "FAILED"
    assert "CUDA is not available" in cuda.data.tags["stop_reason"]
    parent = MlflowClient(uri).search_runs([healthy.info.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FINISHED"  # the sweep completed around its failures
