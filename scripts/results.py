"""Measure every method and sampler with `gan train` and write its table into docs/RESULTS.md.

    python scripts/results.py                       # CPU budget: 1 epoch per method (about an hour on 2 cores)
    python scripts/results.py --epochs 100 --inception-samples 10000   # the protocol, on a GPU

Each row is one `gan train` command, shown beside its numbers; run it alone to reproduce
the row. Samplers start from the method runs this script trained (their checkpoint.pt).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- scripts/results.py rewrites everything below this line -->"
GAN = [sys.executable, "-m", "gan_core.cli", "train", "--quiet"]


def run(args: list[str]) -> tuple[dict, float]:
    """Run one `gan train` command; a row already measured (row.json in its --out) is read back."""
    cached = Path(ROOT / args[args.index("--out") + 1] / "row.json")
    if cached.exists():
        row = json.loads(cached.read_text())
        if row["command"] == args:
            return row["metrics"], row["seconds"]
    start = time.perf_counter()
    out = subprocess.run(GAN + args, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"failed: gan train {' '.join(args)}\n{out.stderr[-2000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("{"))
    metrics, seconds = json.loads(line), time.perf_counter() - start
    cached.write_text(json.dumps({"command": args, "metrics": metrics, "seconds": seconds}))
    return metrics, seconds


def hardware() -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}"


def main() -> None:
    import gan_core

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--inception-samples", type=int, default=250)
    p.add_argument("--eval-samples", type=int, default=10_000)
    p.add_argument("--latent-steps", type=int, default=500)
    p.add_argument("--latent-base", default="san", help="the method whose run the latent samplers reweight")
    p.add_argument("--methods", nargs="+", default=list(gan_core.METHODS))
    p.add_argument("--out", default="runs/results")
    p.add_argument("--doc", default="docs/RESULTS.md")
    args = p.parse_args()

    def write(rows: list) -> None:
        def f(metrics: dict, key: str) -> str:
            return f"{metrics[key]:.3f}" if key in metrics else "–"

        lines = [
            MARKER,
            f"## Every method and sampler after {args.epochs} epoch(s)",
            "",
            f"Measured on {time.strftime('%Y-%m-%d')} by `python scripts/results.py "
            f"--epochs {args.epochs} --inception-samples {args.inception_samples}` on: {hardware()}.",
            "",
            f"**Budget.** {args.epochs} epoch(s) of training per method (the fixed generator, seed 0, each method's "
            f"defaults), not the 100 epochs of the reference table, so these FIDs are far above it and rank the "
            f"methods only at this budget. Inception `fid`, `precision` and `recall` use {args.inception_samples} "
            f"samples against as many MNIST test images, not the protocol's 10,000: FID is biased upwards at small "
            f"counts, so compare rows with each other, never with published numbers. The `_mnist` columns use "
            f"{args.eval_samples} samples. Samplers start from the method's checkpoint in the rows above; latent "
            f"reweighting trains w(z) for {args.latent_steps} steps. Wall time is the whole command, evaluation "
            f"included, on a shared 2-core machine.",
            "",
            "| method | sampler | fid | precision | recall | fid_mnist | precision_mnist | recall_mnist | "
            "acceptance | epochs | wall s | hardware | command |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, sampler, metrics, epochs, seconds, cmd in rows:
            lines.append(" | ".join(["", label, sampler, f(metrics, "fid"), f(metrics, "precision"), f(metrics, "recall"),
                                     f(metrics, "fid_mnist"), f(metrics, "precision_mnist"), f(metrics, "recall_mnist"),
                                     f(metrics, "acceptance_rate"), epochs, f"{seconds:.0f}", "CPU",
                                     f"`{cmd}`", ""]).strip())
        doc = ROOT / args.doc
        doc.parent.mkdir(parents=True, exist_ok=True)
        # Keep what the doc holds above the marker (the protocol's table, written by hand from its runs).
        head = doc.read_text().split(MARKER)[0] if doc.exists() else "# Results\n\n"
        doc.write_text(head + "\n".join(lines) + "\n")

    common = ["--set", f"eval_samples={args.eval_samples}", "--set", f"inception_samples={args.inception_samples}"]
    rows = []

    def row(label: str, sampler: str, epochs: str, cmd: list[str]) -> None:
        metrics, seconds = run(cmd)
        rows.append((label, sampler, metrics, epochs, seconds, "gan train " + " ".join(cmd)))
        write(rows)  # the table grows row by row, so a long run can be read (and reused) before it ends
        print(f"{label:10s} {sampler:13s} fid {metrics.get('fid', float('nan')):8.2f} "
              f"fid_mnist {metrics['fid_mnist']:8.2f} {seconds:6.0f}s", flush=True)

    for m in args.methods:
        row(m, "plain", str(args.epochs), ["--method", m, "--epochs", str(args.epochs), "--seed", "0",
                                           "--out", f"{args.out}/{m}", *common])
    for m in args.methods:
        row(m, "drs", str(args.epochs), ["--method", "drs", "--set", f"base={args.out}/{m}/checkpoint.pt",
                                         "--out", f"{args.out}/{m}-drs", *common])
    m = args.latent_base
    for sampler in ("latent_rs", "latent_ga", "latent_rs_ga"):
        row(m, sampler, str(args.epochs),
            ["--method", "latent_reweighting", "--set", f"base={args.out}/{m}/checkpoint.pt",
             "--set", f"sampler={sampler}", "--max-steps", str(args.latent_steps),
             "--set", f"eval_every_steps={args.latent_steps}", "--out", f"{args.out}/{m}-{sampler}", *common])

    print(f"wrote {ROOT / args.doc}")


if __name__ == "__main__":
    main()
