"""Memory: peak RSS of one trial's process on CPU, and peak GPU memory where CUDA exists.

    .venv/bin/python bench/memory.py [--steps 200] [--tiny]

Each row runs ``gan_core.train`` in a fresh Python process (a trial is one
process), with a report that writes the checkpoint and sample grid as a Tune
trial's does, and reads the process's own peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, i.e. VmHWM) at the end. The
row ``+ ray, tune, mlflow imported`` also imports what a Tune worker carries,
to show that part of a trial's footprint; the real Tune trial's peak is printed
by bench/trial_overhead.py (read from /proc/<pid>/status of the trial process).
With CUDA, ``torch.cuda.max_memory_allocated`` and ``max_memory_reserved`` rows
are added: these feed the GPU-packing table (trials per GPU).

All rows share one temporary reference-stat cache, filled before the first row,
so every row reads the MNIST reference from the cache as a warm trial does.
Exit status 1 when a row could not be measured.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import _common

MB = 1024 * 1024


def child(spec: dict) -> None:
    """Runs in the measured process: one trial's loop, then its own peak memory as JSON."""
    import torch

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if spec.get("tune_imports"):
        import mlflow  # noqa: F401
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    import gan_core
    from gan_core import checkpoint
    from gan_core.images import save_grid

    after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    scratch = tempfile.TemporaryDirectory(prefix="bench_mem_")  # removed when the process ends
    folder = scratch.name

    def report(metrics, state, samples_u8):  # what trainables' report writes
        checkpoint.save(state, Path(folder) / checkpoint.FILE)
        save_grid(samples_u8, Path(folder) / "samples.png")

    device = spec["config"].get("device", "cpu")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    last = gan_core.train(spec["method"], spec["config"], on_report=report)
    out = {"python_start_mb": before / MB, "after_import_mb": after_import / MB,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB,
           "steps": last["step"], "fid_mnist": last["fid_mnist"]}
    if device == "cuda":
        out["cuda_allocated_mb"] = torch.cuda.max_memory_allocated() / MB
        out["cuda_reserved_mb"] = torch.cuda.max_memory_reserved() / MB
    print("RESULT " + json.dumps(out))
    scratch.cleanup()


def measure(spec: dict, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True, timeout=1800)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or proc.stdout[-300:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per row (two reports)")
    parser.add_argument("--inception-samples", type=int, default=100,
                        help="Inception samples in the Inception row: its batch is 100, so 100 reaches "
                             "the same activation peak as 10,000 (the features add 16 KB per sample)")
    parser.add_argument("--tiny", action="store_true", help="20 steps, 1,000 eval samples, two rows (CI)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    import torch

    eval_samples = 1000 if args.tiny else 10_000
    steps = 20 if args.tiny else args.steps
    n_inc = args.inception_samples
    base = {"max_steps": steps, "eval_every_steps": max(1, steps // 2), "eval_samples": eval_samples,
            "inception_samples": 0}
    rows_spec = [("vanilla", "batch 64 (the default)", {"batch_size": 64}, False),
                 ("vanilla", "batch 64 + ray, tune, mlflow imported", {"batch_size": 64}, True)]
    if not args.tiny:  # tiny: the two rows above, so CI stays short
        rows_spec += [("vanilla", "batch 256", {"batch_size": 256}, False),
                      ("wgan_gp", "batch 64, n_critic 5", {"batch_size": 64, "n_critic": 5}, False),
                      ("san", "batch 512", {"batch_size": 512}, False),
                      ("vanilla", f"batch 64 + Inception final eval on {n_inc}",
                       {"batch_size": 64, "inception_samples": n_inc}, False)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    cache = tempfile.TemporaryDirectory(prefix="bench_mem_cache_")
    env = {**os.environ, "GAN_CACHE_DIR": cache.name, "PYTHONUNBUFFERED": "1"}
    os.environ["GAN_CACHE_DIR"] = cache.name
    from gan_core.metrics.features import mnist_extractor
    from gan_core.metrics.reference import load_reference
    load_reference(mnist_extractor("cpu"), eval_samples)  # every row reads it warm, as a trial mostly does

    print(f"machine: {_common.machine()}")
    print(f"each row: a fresh process, {steps} steps, a report every {base['eval_every_steps']} "
          f"(fid_mnist on {eval_samples} samples, checkpoint + grid written)", flush=True)
    rows, errors = [], []
    for device in devices:
        for method, label, extra, tune_imports in rows_spec:
            spec = {"method": method, "config": {**base, **extra, "device": device}, "tune_imports": tune_imports}
            try:
                r = measure(spec, env)
            except Exception as err:
                errors.append(f"{device} {method} {label}: {err}")
                rows.append([device, method, label, "failed", "", "", "", ""])
                continue
            cuda = (f"{r['cuda_allocated_mb']:.0f}", f"{r['cuda_reserved_mb']:.0f}") if device == "cuda" else ("", "")
            rows.append([device, method, label, f"{r['peak_rss_mb']:.0f}", f"{r['after_import_mb']:.0f}",
                         f"{r['peak_rss_mb'] - r['after_import_mb']:.0f}", *cuda])
            print(f"  {device} {method} {label}: peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    if "cuda" not in devices:
        rows.append(["cuda", "(all)", "GPU: not measured, no GPU available", "", "", "", "", ""])
    print()
    print(_common.table(["device", "method", "trial", "peak RSS MB", "after imports MB", "loop adds MB",
                         "GPU max allocated MB", "GPU max reserved MB"], rows))
    ok = [r for r in rows if r[0] == "cpu" and r[3] != "failed"]
    if ok:
        worst = max(float(r[3]) for r in ok)
        print(f"\nlargest CPU trial peak RSS: {worst:.0f} MB -> about {int(24 * 1024 // worst)} such trials "
              f"fit in 24 GiB of RAM (memory alone; cores decide first)")
    cache.cleanup()
    return _common.finish(errors)


if __name__ == "__main__":
    sys.exit(main())
