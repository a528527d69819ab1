"""Every benchmark in bench/ runs at --tiny size, exits 0 and prints its tables and ratio lines.

Only that they ran is asserted, never their timings: CI machines differ, and this
guards the scripts against rot. They run side by side, because most of their wall
time is process and Ray start-up, which overlaps.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each script must print: its table headers and its ratio / target lines. The first three
# run inside bench/gpu_check.sh --dry-run (the GPU script's CPU dry run: the same code path).
EXPECTED = {
    "train_throughput.py": ["steps/s", "images/s", "ratio (ours/template)", "target >= 1.3x template on CPU"],
    "eval_throughput.py": ["cold cache s", "warm s", "cold/warm ratio", "precision + recall (k=3)",
                           "Inception (fid, P/R, D/C)", "density + coverage (k=5)", "ms per image", "target < 2 s"],
    "population.py": ["member-steps/s", "ratio (to single-trial)", "peak MB per member", "eval s per member",
                      "aten ops per step", "operator launches (cpu)",
                      "target on CPU: a population costs no more per member-step"],
    "memory.py": ["peak RSS MB", "loop adds MB", "GPU max allocated MB", "largest CPU trial peak RSS"],
    "trial_overhead.py": ["created -> actor up s", "eval s/report", "hand-off: checkpoint + grid + tune.report",
                          "MLflow metrics (log_batch)", "reporting / training", "target: reporting < 10%"],
    "sweep_efficiency.py": ["trial-epochs", "best fid_mnist (at cap)", "compute ratio (ASHA / no early stopping)",
                            "best fid_mnist gap", "same configs tried by both sweeps: yes",
                            "rank agreement with the cap", "population row: the ASHA sweep's trials packed"],
    "pbt_vs_asha.py": ["member-epochs", "best fid_mnist", "Inception fid (champion)", "one exploit event",
                       "target < 1%", "target PBT at least as good"],
}
GPU_LINE = {"train_throughput.py": "CUDA rows were not measured", "eval_throughput.py": "GPU: not measured",
            "memory.py": "GPU: not measured", "population.py": "CUDA rows were not measured"}
IN_GPU_CHECK = ("train_throughput.py", "eval_throughput.py", "population.py")
TIMEOUT_S = 1800  # a hang guard: under a parallel test run the scripts share the cores with another file


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    env.pop("MLFLOW_TRACKING_URI", None)  # the benches use their own temporary stores
    procs = {}
    commands = {script: [sys.executable, str(ROOT / "bench" / script), "--tiny"]
                for script in EXPECTED if script not in IN_GPU_CHECK}
    commands["gpu_check.sh"] = ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"]
    env["PYTHON"] = sys.executable
    for script, command in commands.items():
        log = open(folder / f"{script}.log", "w")
        procs[script] = (subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    deadline = time.monotonic() + TIMEOUT_S
    results = {}
    for script, (proc, log) in procs.items():
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = f"timed out after {TIMEOUT_S} s"
        log.close()
        results[script] = (rc, (folder / f"{script}.log").read_text())
    return results


def section(output: str, script: str) -> str:
    """The part of gpu_check's log that one script printed."""
    start = output.index(f"bench/{script}")
    end = output.find("=== ", output.index("\n", start) + 1)
    return output[start:end if end > 0 else None]


def test_gpu_check_dry_run_runs_every_step(outputs):
    rc, output = outputs["gpu_check.sh"]
    assert rc == 0 and "step failed" not in output and "gpu_check: done (--dry-run)" in output, output[-4000:]


@pytest.mark.parametrize("script", list(EXPECTED))
def test_bench_runs_at_tiny_size_and_prints_its_figures(outputs, script):
    rc, output = outputs["gpu_check.sh" if script in IN_GPU_CHECK else script]
    if script in IN_GPU_CHECK:
        output = section(output, script)
    assert rc == 0, output[-4000:]
    assert "machine: CPU: " in output
    missing = [line for line in EXPECTED[script] if line not in output]
    assert not missing, f"{script} did not print {missing}:\n{output[-4000:]}"
    import torch
    if not torch.cuda.is_available() and script in GPU_LINE:
        assert GPU_LINE[script] in output  # no GPU: said so, no invented numbers
