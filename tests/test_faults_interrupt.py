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


def interrupt_after_a_report(cmd: list[str], out: Path, env: dict, signum: int) -> str:
    """Start ``cmd``, send ``signum`` once it has written a new report, and return its last stderr line."""
    before = len(reports(out))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(reports(out)) <= before and proc.poll() is None and time.time() < deadline:
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
    assert steps[-1] == 160 and steps == sorted(set(steps)), steps  # nothing twice, in order
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 160
