"""Shared by the bench scripts: the machine's description and a plain-text table."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/x.py` from a checkout without an install
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming what the numbers were measured on."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"CPU: {cpu_model()}, {cores} cores usable, torch threads {torch.get_num_threads()}",
             f"torch {torch.__version__}", f"Python {platform.python_version()}"]
    if hasattr(os, "getloadavg"):  # other users' jobs on these cores make every wall time slower
        parts.append(f"load average {os.getloadavg()[0]:.1f} at start")
    if torch.cuda.is_available():
        parts.append(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        parts.append("GPU: none (CUDA not available; no GPU rows measured)")
    return " | ".join(parts)


def load_line() -> str:
    """The 1/5/15-minute load averages now, printed at the end of a run: a run on a busy machine says so."""
    one, five, fifteen = os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    busy = " (busier than its cores: wall times are inflated)" if five > cores else ""
    return f"load average at end: {one:.1f} {five:.1f} {fifteen:.1f} on {cores} cores{busy}"


def finish(errors: list[str], *, gpu_rows: bool = True) -> int:
    """How every script ends: the no-GPU line where it has CUDA rows, the load average, what
    could not be measured (stderr); the exit status, 1 when something could not be measured."""
    import torch

    if gpu_rows and not torch.cuda.is_available():
        print("no GPU here: CUDA rows were not measured.")
    print(load_line())
    for e in errors:
        print(f"could not measure: {e}", file=sys.stderr)
    return 1 if errors else 0


def table(headers: list[str], rows: list[list]) -> str:
    """Rows under headers, columns padded; floats already formatted by the caller."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def local_ray(num_cpus: int | None = None) -> None:
    """A fresh local Ray for this process alone: never joins a cluster someone else started on
    this machine (address="local"), and its workers import this checkout's gan_core."""
    import ray

    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # workers inherit it
    ray.init(address="local", num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process on this machine, in MiB; None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None
