"""A chaos run: one real study with every fault of docs/faults.md injected in turn, then an accounting.

    OMP_NUM_THREADS=1 .venv/bin/python bench/chaos.py [--trials 6] [--limit 60] [--folder DIR]

A real `mlflow server` (SQLite backend) and a real local study (SAN, `--smoke` budget, one trial at a
time, ASHA) that writes to it. While it runs, a second process reads the server's SQLite file in a loop
(what `mlflow ui` on the file does). In turn:
1. the server stops for 20 s and comes back (the study trains on; its writes wait in the outbox);
2. a running trial's worker process is killed (Tune restarts the trial from its last checkpoint);
3. the driver gets SIGINT once half the trials have ended (one line, exit 130), and its printed
   command resumes the study to its end.
The accounting, from the store: trials planned, completed, pruned, failed, lost (planned but not ended
in the store: must be 0), runs duplicated (a trial with two runs, or a report step stored twice: must be
0), and the reader's reads and errors. Exit status 1 if anything was lost or duplicated.
Too long for CI (several minutes on one core): its figures are in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import free_port, start_mlflow, stop_session, wait_healthy  # noqa: E402  (the tests' process helpers)

SPACE = """method: san
search:
  san_lambda: {type: loguniform, low: 0.3, high: 3}
  lr_d: {type: loguniform, low: 1.0e-4, high: 1.0e-3}
smoke: {max_steps: 150, eval_every_steps: 25, eval_samples: 200, inception_samples: 0}
"""
READER = """
import json, sys, time
from mlflow import MlflowClient
client, reads, errors = MlflowClient(sys.argv[1]), 0, []
while not __import__("os").path.exists(sys.argv[2]):
    try:
        client.search_runs(client.search_experiments()[0].experiment_id if client.search_experiments() else "0")
        reads += 1
    except Exception as err:
        errors.append(f"{type(err).__name__}: {str(err)[:120]}")
    time.sleep(0.3)
print(json.dumps({"reads": reads, "errors": errors}))
"""


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def results(storage: Path) -> list[list[dict]]:
    """Each trial's Tune results so far (result.json rows)."""
    out = []
    for path in storage.glob("*/*/result.json"):
        out.append([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    return out


def wait(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> float:
    start = time.time()
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"chaos: the study ended before {what}:\n{proc.stderr.read()[-3000:]}")
        if time.time() - start > timeout:
            raise SystemExit(f"chaos: no {what} in {timeout:.0f} s")
        time.sleep(0.5)
    return time.time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--limit", type=int, default=60, help="GAN_TRACKING_OUTAGE_LIMIT for the study, seconds")
    parser.add_argument("--folder", help="where the store and Tune's state go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.trials < 4:
        parser.error(f"--trials must be at least 4 (one per fault and some to spare), got {args.trials}")
    print("machine:", _common.machine(), f"| commit {commit()}")
    folder = Path(args.folder or tempfile.mkdtemp(prefix="chaos_"))
    folder.mkdir(parents=True, exist_ok=True)
    db, port = folder / "mlflow.db", free_port()
    uri = f"http://127.0.0.1:{port}"
    events: list[tuple[str, str]] = []

    def serve() -> int:
        proc = start_mlflow(f"sqlite:///{db}", folder / "artifacts", port, folder)
        wait_healthy(uri, proc, folder / "mlflow.log")
        return proc.pid

    (folder / "space.yaml").write_text(SPACE)
    cmd = [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--num-samples", str(args.trials),
           "--max-concurrent", "1", "--finalists", "0", "--search-space", "space.yaml", "--tracking-uri", uri,
           "--storage-path", "rr", "--cpus-per-trial", "1"]
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local",
           "PYTHONPATH": str(ROOT), "GAN_TRACKING_OUTAGE_LIMIT": str(args.limit)}
    started, done = time.time(), None
    sid = serve()
    stop_reader = folder / "stop_reader"
    reader = subprocess.Popen([sys.executable, "-c", READER, f"sqlite:///{db}", str(stop_reader)],
                              stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    first = subprocess.Popen(cmd, cwd=folder, env=env, stdout=open(folder / "first.log", "w"),
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    storage = folder / "rr"
    try:
        stored = "SELECT COUNT(*) FROM metrics WHERE key LIKE '%fid_mnist'"
        wait(lambda: (query(db, stored) or [(0,)])[0][0] > 0, 600, "report in the store", first)
        stop_session(sid)
        events.append(("server stopped for 20 s", f"at {time.time() - started:.0f} s"))
        time.sleep(20)
        sid = serve()
        behind = lambda: (query(db, stored) or [(0,)])[0][0] >= sum(len({r["step"] for r in t}) for t in results(storage))
        events.append(("store caught up after the outage", f"in {wait(behind, 180, 'catch-up', first):.0f} s"))

        def running_trial() -> dict | None:
            for rows in results(storage):
                if len(rows) >= 2 and not rows[-1].get("done"):
                    return rows[-1]
            return None
        wait(lambda: running_trial() is not None, 600, "trial with two reports", first)
        victim = running_trial()
        try:
            os.kill(victim["pid"], signal.SIGKILL)
            events.append(("worker killed", f"trial {victim['trial_id']} at report {victim['training_iteration']}"))
        except ProcessLookupError:
            events.append(("worker kill missed", f"trial {victim['trial_id']} had ended"))

        ended = lambda: len(query(db, "SELECT run_uuid FROM tags WHERE key = 'status' AND value IN "
                                      "('completed', 'pruned', 'failed', 'diverged')")) >= args.trials // 2
        wait(ended, 1200, "half the trials ended", first)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=300)
        line = next((s for s in stderr.splitlines() if s.startswith("interrupted")), "")
        events.append(("driver SIGINT", f"exit {first.returncode}; {line[:160]}…"))
        resume = [*cmd, "--resume"]
        done = subprocess.run(resume, cwd=folder, env=env, capture_output=True, text=True, timeout=3600)
        events.append(("--resume", f"exit {done.returncode} after {time.time() - started:.0f} s in all"))
    finally:
        stop_reader.touch()
        read = json.loads(reader.communicate(timeout=60)[0] or '{"reads": 0, "errors": ["no output"]}')
        for proc in (first,):
            if proc.poll() is None:
                stop_session(proc.pid)
        stop_session(sid)

    runs = query(db, "SELECT r.run_uuid, r.status, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                     "WHERE t.key = 'trial_id'")
    status = {run_id: dict(query(db, f"SELECT key, value FROM tags WHERE run_uuid = '{run_id}'")).get("status")
              for run_id, _, _ in runs}
    per_trial = Counter(trial for _, _, trial in runs)
    twice = sum(count - 1 for (count,) in query(db, "SELECT COUNT(*) FROM metrics WHERE key LIKE '%fid_mnist' "
                                                    "GROUP BY run_uuid, step HAVING COUNT(*) > 1"))
    ended = Counter(status[run_id] for run_id, mlflow_status, _ in runs if mlflow_status in ("FINISHED", "FAILED"))
    lost = args.trials - sum(ended.values())
    duplicated = sum(c - 1 for c in per_trial.values()) + twice
    print("\nfault                             what happened")
    for name, what in events:
        print(f"{name:34s}{what}")
    print("\naccounting (from the store)")
    rows = [["trials planned", args.trials], ["completed", ended.get("completed", 0)], ["pruned", ended.get("pruned", 0)],
            ["failed or diverged", ended.get("failed", 0) + ended.get("diverged", 0)],
            ["lost (must be 0)", lost], ["runs or report steps duplicated (must be 0)", duplicated],
            ["reader: reads of the SQLite file", read["reads"]], ["reader: errors", len(read["errors"])]]
    print(_common.table(["", "count"], rows))
    if read["errors"]:
        print("reader errors:", *sorted(set(read["errors"]))[:5], sep="\n  ")
    print(f"store and logs: {folder}")
    print(_common.load_line())
    return 1 if lost or duplicated or done is None or done.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
