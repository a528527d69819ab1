"""Kill a sweep's driver partway (a real subprocess), resume it, and find every trial exactly once."""
import os
import signal
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


def test_killed_sweep_resumes_without_duplicates(tmp_path):
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", str(NUM),
           "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--storage-path", str(tmp_path / "rr")]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    try:
        # kill once some trials have ended and others have not
        while time.time() < deadline:
            ended = [r for r in trial_runs(tmp_path / "mlflow.db") if r.info.status != "RUNNING"]
            if len(ended) >= 2 or first.poll() is not None:
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


def test_failing_trials_end_failed_with_a_reason_and_the_sweep_goes_on(tmp_path):
    space = tmp_path / "space.yaml"
    # device=cuda fails on a machine without CUDA: a real trial error, not a mock
    space.write_text("method: san\nsmoke: {max_steps: 20, eval_every_steps: 10, eval_samples: 200, inception_samples: 0}\n"
                     "search:\n  device: {type: categorical, choices: [cpu, cuda]}\n")
    result = subprocess.run([sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", "4",
                             "--search-space", str(space), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
                             "--storage-path", str(tmp_path / "rr")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900)
    runs = trial_runs(tmp_path / "mlflow.db")
    statuses = {r.data.params["device"]: r.data.tags["status"] for r in runs}
    assert statuses.get("cpu") in ("completed", "pruned"), result.stdout[-2000:]
    failed = [r for r in runs if r.data.params["device"] == "cuda"]
    assert failed and all(r.data.tags["status"] == "failed" and r.info.status == "FAILED" for r in failed)
    assert "CUDA is not available" in failed[0].data.tags["stop_reason"]
