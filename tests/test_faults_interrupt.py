"""SIGINT and SIGTERM to a real `gan train`: it stops with one line naming what was saved and the exact
command that resumes, and that command finishes the run with every report once."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--method", "hinge", "--max-steps", "160", "--seed", "3", "--quiet", "--set", "eval_every_steps=40",
         "--set", "eval_samples=200", "--set", "inception_samples=0"]


def reports(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.exists() else []


def committed(out: Path) -> int | None:
    """The checkpoint file's inode: each report's checkpoint, written last, replaces the file (a new inode)."""
    try:
        return os.stat(out / "checkpoint.pt").st_ino
    except FileNotFoundError:
        return None


def interrupt_after_a_report(cmd: list[str], out: Path, env: dict, signum: int) -> str:
    """Start ``cmd``, send ``signum`` once it has committed a new report, and return its last stderr line."""
    before = committed(out)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while committed(out) == before and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr[-2000:]
    return stderr.strip()


def test_sigint_then_sigterm_then_resume_finishes_every_report_once(tmp_path, env):
    out = tmp_path / "run"
    env = {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = [sys.executable, "-m", "gan_core.cli", *TRAIN, "--out", str(out)]
    line = interrupt_after_a_report(first, out, env, signal.SIGINT)
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert f"interrupted (SIGINT): checkpoint at step {step} saved in {out}; resume with: " in line, line
    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume == [*first, "--resume"]

    line = interrupt_after_a_report(resume, out, env, signal.SIGTERM)  # a closed terminal, a scheduler's stop
    assert "interrupted (SIGTERM): checkpoint at step" in line and shlex.split(line.split("resume with: ")[1]) == resume

    done = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = reports(out)
    assert steps == [40, 80, 120, 160], steps  # every report once, in order: lines past a checkpoint are rewound
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 160


SPACE = """method: san
search:
  san_lambda: {type: loguniform, low: 0.5, high: 2}
smoke: {max_steps: 80, eval_every_steps: 20, eval_samples: 200, inception_samples: 0}
"""


def running_trial_with_reports(db: Path) -> bool:
    """A trial run still RUNNING that has logged a report, read without MLflow (no migrations on a live file)."""
    import sqlite3

    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute(
                "SELECT COUNT(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid JOIN metrics "
                "ON metrics.run_uuid = runs.run_uuid WHERE tags.key = 'role' AND tags.value = 'trial' "
                "AND runs.status = 'RUNNING'").fetchone()[0] > 0
    except sqlite3.OperationalError:  # tables not created yet
        return False


def test_sigint_to_a_sweep_driver_leaves_no_run_running_and_resume_finishes_it(tmp_path):
    from mlflow import MlflowClient

    (tmp_path / "space.yaml").write_text(SPACE)
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", "2",
           "--max-concurrent", "1", "--finalists", "0", "--search-space", "space.yaml",
           "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--storage-path", "rr"]
    # RAY_ADDRESS=local: a private Ray, never a cluster someone started on this machine
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 600
    try:
        while not running_trial_with_reports(tmp_path / "mlflow.db") and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1 and "runs marked KILLED in MLflow" in lines[0] and "Traceback" not in stderr, stderr[-3000:]
    resume = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert resume == [*cmd, "--resume"]
    c = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = c.search_runs([c.get_experiment_by_name("san").experiment_id], "")
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]  # nothing left RUNNING
    killed = [r.data.tags["trial_id"] for r in runs if r.data.tags.get("status") == "interrupted"]
    assert killed and all(r.info.status == "KILLED" for r in runs if r.data.tags.get("status") == "interrupted")

    done = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = c.search_runs([c.get_experiment_by_name("san").experiment_id], "tags.role = 'trial'")
    ids = [r.data.tags["trial_id"] for r in runs]
    assert len(ids) == len(set(ids)) == 2 and set(killed) <= set(ids)  # the interrupted runs were continued
    assert all(r.info.status in ("FINISHED", "FAILED") and r.data.tags["status"] != "interrupted" for r in runs)
    for run in runs:  # every report once, also across the interruption
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "fid_mnist")]
        assert len(steps) == len(set(steps)), steps
