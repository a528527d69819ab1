"""A real `mlflow server` that goes away in the middle of a real study (local Ray, Optuna, ASHA).

A short outage: the study goes on training, its writes wait in the outbox and reach the server once it
answers again. An outage past the limit: the driver stops with one line naming the server and the command
that resumes, and that command completes the study. Either way every report, grid, checkpoint and end status
reaches the store exactly once.
"""
from __future__ import annotations

import glob
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import BIN, ROOT, free_port, start_mlflow, stop_session, wait_healthy

pytestmark = pytest.mark.skipif(not (BIN / "mlflow").exists(), reason=f"the mlflow CLI is not next to {sys.executable}")

TRIALS = 3
SPACE = """method: san
search:
  san_lambda: {type: loguniform, low: 0.5, high: 2}
smoke: {max_steps: 150, eval_every_steps: 25, eval_samples: 200, inception_samples: 0}
"""
LIMIT = 60  # seconds the study waits for the server before stopping (GAN_TRACKING_OUTAGE_LIMIT)


def tune_reports(storage: Path) -> dict[str, list[int]]:
    """The steps of each trial's reports as Tune saw them (its result.json). A trial restored from its last
    checkpoint reports that step again: the store keeps it once."""
    out = {}
    for path in glob.glob(str(storage / "*" / "*" / "result.json")):
        trial_id = Path(path).parent.name.split("_")[1]
        out[trial_id] = [json.loads(line)["step"] for line in Path(path).read_text().splitlines() if line.strip()]
    return out


def reported(storage: Path) -> int:
    return sum(len(set(steps)) for steps in tune_reports(storage).values())


def query(db: Path, sql: str) -> list[tuple]:
    """The server's store, read without MLflow (read-only: the server owns the file)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def tracking_server(tmp_path: Path):
    """A real `mlflow server` on SQLite in ``tmp_path``: (its database, its URI, serve), where serve() starts it,
    again after a stop, on the same port and returns its session id."""
    db, port = tmp_path / "mlflow.db", free_port()
    uri = f"http://127.0.0.1:{port}"

    def serve() -> int:
        proc = start_mlflow(f"sqlite:///{db}", tmp_path / "artifacts", port, tmp_path)
        wait_healthy(uri, proc, tmp_path / "mlflow.log")
        return proc.pid
    return db, uri, serve


def study_env(limit: int) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local",
            "PYTHONPATH": str(ROOT), "GAN_TRACKING_OUTAGE_LIMIT": str(limit), "OMP_NUM_THREADS": "1"}


def parent_run(db: Path) -> tuple[str, str]:
    """(sweep name, MLflow status) of the study's parent run."""
    [(sweep, status)] = query(db, "SELECT t.value, runs.status FROM runs JOIN tags t ON t.run_uuid = runs.run_uuid "
                                  "WHERE t.key = 'sweep' AND runs.run_uuid IN (SELECT run_uuid FROM tags WHERE "
                                  "key = 'role' AND value = 'sweep')")
    return sweep, status


STORED = "SELECT COUNT(*) FROM metrics WHERE key LIKE '%fid_mnist'"  # reports in the server's store


def start_study(cmd: list[str], folder: Path, limit: int, server: int) -> subprocess.Popen:
    """The study's driver in its own session, once the server holds its first report (on failure both the
    driver's and the ``server``'s sessions are stopped)."""
    proc = subprocess.Popen(cmd, cwd=folder, env=study_env(limit), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_for(lambda: (query(folder / "mlflow.db", STORED) or [(0,)])[0][0] > 0, 300, proc, "report in the store")
    except BaseException:
        stop_session(proc.pid)
        stop_session(server)
        raise
    return proc


def wait_for(condition, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the sweep ended before {what}: {proc.stderr.read()[-3000:]}"
        assert time.time() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.5)


def test_a_study_trains_through_a_server_outage_and_resumes_after_one_past_the_limit(tmp_path):
    db, uri, serve = tracking_server(tmp_path)
    sid = serve()
    (tmp_path / "space.yaml").write_text(SPACE)
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", str(TRIALS),
           "--max-concurrent", "1", "--finalists", "0", "--search-space", "space.yaml", "--tracking-uri", uri,
           "--storage-path", "rr"]
    env = study_env(LIMIT)
    proc = start_study(cmd, tmp_path, LIMIT, sid)
    try:
        # 1. a short outage: training goes on, and the store catches up once the server is back
        stop_session(sid)
        before = reported(tmp_path / "rr")
        wait_for(lambda: reported(tmp_path / "rr") >= before + 2, 120, proc,
                 "training while the server is away")
        sid = serve()
        caught_up = lambda: (query(db, STORED) or [(0,)])[0][0] >= reported(tmp_path / "rr")
        wait_for(caught_up, 120, proc, "catching up after the outage")

        # 2. an outage past the limit: one line naming the server, and the command that resumes
        stop_session(sid)
        stdout, stderr = proc.communicate(timeout=LIMIT + 240)
    finally:
        if proc.poll() is None:
            stop_session(proc.pid)
        stop_session(sid)
    assert proc.returncode == 75, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1 and f"MLflow tracking server {uri} has not answered" in lines[0], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    resume = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert resume == [*cmd, "--resume"]

    sid = serve()
    try:
        done = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    finally:
        stop_session(sid)
    assert done.returncode == 0, done.stderr[-3000:]

    # every trial once, ended; every report Tune saw once in the store; a grid per report; checkpoints
    runs = query(db, "SELECT runs.run_uuid, runs.status, t.value FROM runs JOIN tags t ON t.run_uuid = runs.run_uuid "
                     "WHERE t.key = 'trial_id'")
    seen = tune_reports(tmp_path / "rr")
    assert sorted(r[2] for r in runs) == sorted(seen) and len(runs) == TRIALS
    for run_id, status, trial_id in runs:
        assert status in ("FINISHED", "FAILED"), (trial_id, status)
        steps = [s for (s,) in query(db, f"SELECT step FROM metrics WHERE run_uuid = '{run_id}' "
                                         "AND key LIKE '%fid_mnist'")]
        assert sorted(steps) == sorted(set(seen[trial_id])), (trial_id, sorted(steps), seen[trial_id])
        tag = dict(query(db, f"SELECT key, value FROM tags WHERE run_uuid = '{run_id}'"))
        assert tag["status"] in ("completed", "pruned"), tag
        artifacts = next((tmp_path / "artifacts").glob(f"*/{run_id}/artifacts"))
        grids = [p.name.split("+")[2] for p in (artifacts / "images").glob("samples+step+*.png")]
        assert sorted(map(int, grids)) == sorted(set(seen[trial_id])), (trial_id, grids)  # one per report
        if tag["status"] == "completed":
            assert (artifacts / "checkpoint" / "checkpoint.pt").exists()
    sweep, status = parent_run(db)
    assert status == "FINISHED"
    journal = Path(os.environ["GAN_CACHE_DIR"]) / "outbox" / sweep / "driver" / "journal.json"
    assert journal.exists() and json.loads(journal.read_text())["pending"] == []  # it was used, and emptied


@pytest.mark.parametrize("value, message", [("soon", "expected seconds"), ("-5", "must be positive"),
                                            ("0", "must be positive")])
def test_a_bad_outage_limit_is_refused_in_one_line_before_the_study(value, message, monkeypatch):
    from gan_core.errors import UserError
    from gan_core.tracking.outbox import LIMIT_ENV, limit_from_env

    monkeypatch.setenv(LIMIT_ENV, value)
    with pytest.raises(UserError, match=f"GAN_TRACKING_OUTAGE_LIMIT={value!r}: {message}"):
        limit_from_env()


POPULATION_SPACE = """method: san
search:
  san_lambda: {type: loguniform, low: 0.5, high: 2}
smoke: {max_steps: 400, eval_every_steps: 50, eval_samples: 200, inception_samples: 0}
"""


def test_a_population_sweep_stops_past_the_limit_marks_its_members_and_resumes_with_each_report_once(tmp_path):
    """A population sweep's writes come from its coordinator actor: past the limit the driver stops cleanly
    (exit 75, one line, unfinished members marked interrupted, not failed), and --resume completes them."""
    db, uri, serve = tracking_server(tmp_path)
    sid = serve()
    (tmp_path / "space.yaml").write_text(POPULATION_SPACE)
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--population", "2",
           "--num-samples", "3", "--finalists", "0", "--search-space", "space.yaml", "--tracking-uri", uri,
           "--storage-path", "rr", "--cpus-per-trial", "1", "--metric", "fid_mnist",
           "--asha-grace", "8"]  # ASHA's one rung is the last report: every member completes
    env = study_env(10)
    proc = start_study(cmd, tmp_path, 10, sid)
    try:
        stop_session(sid)
        stdout, stderr = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            stop_session(proc.pid)
        stop_session(sid)
    assert proc.returncode == 75, stdout[-2000:] + stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1 and f"MLflow tracking server {uri} has not answered" in lines[0], stderr[-3000:]
    assert "populations cut short" in lines[0] and "Traceback" not in stderr, stderr[-3000:]
    assert "end as failed" not in stdout  # members are interrupted, not failed

    sid = serve()
    try:
        done = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    finally:
        stop_session(sid)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    runs = query(db, "SELECT runs.run_uuid, runs.status, t.value FROM runs JOIN tags t ON t.run_uuid = runs.run_uuid "
                     "WHERE t.key = 'trial_id'")
    assert len(runs) == len({r[2] for r in runs}) == 3  # every member once
    expected = list(range(50, 401, 50))
    for run_id, status, member in runs:
        tag = dict(query(db, f"SELECT key, value FROM tags WHERE run_uuid = '{run_id}'"))
        assert status == "FINISHED" and tag["status"] == "completed", (member, status, tag)
        steps = sorted(s for (s,) in query(db, f"SELECT step FROM metrics WHERE run_uuid = '{run_id}' "
                                               "AND key LIKE '%fid_mnist'"))
        assert steps == expected, (member, steps)  # each report once: none lost, none twice
        artifacts = next((tmp_path / "artifacts").glob(f"*/{run_id}/artifacts"))
        grids = sorted(int(p.name.split("+")[2]) for p in (artifacts / "images").glob("samples+step+*.png"))
        assert grids == expected, (member, grids)
        assert (artifacts / "checkpoint" / "checkpoint.pt").exists()
    sweep, status = parent_run(db)
    assert status == "FINISHED"
    journal = Path(os.environ["GAN_CACHE_DIR"]) / "outbox" / sweep / "coordinator" / "journal.json"
    assert journal.exists() and json.loads(journal.read_text())["pending"] == []
