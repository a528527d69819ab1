"""Readers during writes: MLflow clients in other processes read the SQLite store in a loop while a study's
writer logs to it; no "database is locked", no lost or doubled write (the store is in WAL mode)."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from gan_core import tracking

ROOT = Path(__file__).resolve().parents[1]
TRIALS, REPORTS = 2, 15

WRITER = f"""
import sys
from gan_core import tracking
sweep = tracking.SweepRun.start(sys.argv[1], "san", "readers-study", {{"num_samples": {TRIALS}}})
for t in range({TRIALS}):
    run = sweep.trial_run(f"t{{t}}", {{"san_lambda": t}})
    for step in range(1, {REPORTS} + 1):
        sweep.log_report(run, {{"step": step, "fid_mnist": 100.0 / step, "loss_d": float(t)}})
    sweep.end_trial(run, "completed", "reached its budget")
sweep.finish({{"trials": {TRIALS}}})
"""

# A reader as `mlflow ui` is one: the plain MLflow client, nothing of gan_core.
READER = """
import os, sys, time
from mlflow import MlflowClient
c, reads = MlflowClient(sys.argv[1]), 0
while not os.path.exists(sys.argv[2]) or reads < 5:
    for exp in c.search_experiments():
        for run in c.search_runs([exp.experiment_id]):
            c.get_metric_history(run.info.run_id, "quality/fid_mnist")
    reads += 1
    time.sleep(0.02)  # a UI polls; it does not spin
print(reads)
"""


def test_readers_read_in_a_loop_while_a_study_writes(tmp_path, env):
    uri, done = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "writer-done"
    env = {**env, "PYTHONPATH": str(ROOT)}
    # the store exists (and is put in WAL mode by the study's client) before the readers start
    tracking.client(uri).search_experiments()
    readers = [subprocess.Popen([sys.executable, "-c", READER, uri, str(done)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    writer = subprocess.run([sys.executable, "-c", WRITER, uri], env=env, capture_output=True, text=True, timeout=300)
    done.touch()
    outputs = [r.communicate(timeout=120) for r in readers]
    assert writer.returncode == 0 and "locked" not in writer.stderr, writer.stderr[-2000:]
    for reader, (stdout, stderr) in zip(readers, outputs):
        assert reader.returncode == 0 and "locked" not in stderr, stderr[-2000:]
        assert int(stdout.split()[-1]) >= 5
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    from mlflow import MlflowClient

    from gan_core.tracking.metric_names import logged

    c = MlflowClient(uri)
    trials = c.search_runs([c.get_experiment_by_name("san").experiment_id], "tags.role = 'trial'")
    assert len(trials) == TRIALS and all(r.info.status == "FINISHED" for r in trials)
    for run in trials:  # every report once (stored in its MLflow section, tracking.metric_names)
        history = c.get_metric_history(run.info.run_id, logged("fid_mnist"))
        assert sorted(m.step for m in history) == list(range(1, REPORTS + 1))
