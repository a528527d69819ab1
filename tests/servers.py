"""Processes that tests start and stop themselves: free ports, an MLflow server, stopping a whole session.

Every process is started in its own session and stopped by that session id; nothing else on the machine is
touched.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # free on every address, loopback aliases included
        return s.getsockname()[1]


def session_pids(sid: int) -> list[int]:
    """Processes of one session: everything a `ray start` or server we launched left running."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def stop_session(sid: int, grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(sid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace
        while session_pids(sid) and time.time() < deadline:
            time.sleep(0.2)


def base_env() -> dict[str, str]:
    """The test's environment for Ray and MLflow processes: our venv first on PATH (the job's
    `python`), no auth token (local test only), and no PYTHONPATH, so gan_core must come from
    the job's uploaded working dir."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_AUTH_MODE"] = "disabled"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_mlflow(backend: str, artifacts: Path, port: int, cwd: Path) -> subprocess.Popen:
    """`infra/mlflow_server.sh` on 127.0.0.1:``port`` in its own session, logging to ``cwd``/mlflow.log."""
    env = base_env()
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no background job runners on 2 cores
    log = open(Path(cwd) / "mlflow.log", "a")
    return subprocess.Popen([str(ROOT / "infra" / "mlflow_server.sh"), "--backend-store-uri", backend,
                             "--artifacts-destination", str(artifacts), "--port", str(port), "--workers", "1"],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(uri: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(uri + "/health", timeout=2).read()
            return
        except Exception:
            assert proc.poll() is None, Path(log).read_text()[-3000:]
            assert time.time() < deadline, f"MLflow server did not answer in {timeout:.0f} s"
            time.sleep(1)
