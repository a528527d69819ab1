"""Peak memory of one trial, the number that decides how many trials share a GPU (docs/cluster.md).

    python infra/trial_memory.py                         # on CPU: peak RSS per configuration
    python infra/trial_memory.py --device cuda           # on a GPU node: also peak CUDA memory

Each configuration trains SAN in a fresh process (gan_core.train: the same loop a trial runs,
data and models on the device) for --max-steps steps with one evaluation at the end, then
prints the process's peak RSS and, on CUDA, torch's peak allocated and reserved memory plus
the device memory the process holds (CUDA context included). The baseline row is the same
process after imports only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
import gan_core
args = json.loads(sys.argv[1])
out = {"label": args.pop("label")}
dev = args.get("device", "cpu")
if dev == "cuda":
    torch.cuda.init()
    free0, total = torch.cuda.mem_get_info()
if args.pop("train"):
    t0 = time.time()
    gan_core.train("san", args)
    out["seconds"] = round(time.time() - t0, 1)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
if dev == "cuda":
    out["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out["cuda_max_reserved_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    free1, _ = torch.cuda.mem_get_info()
    out["device_used_by_process_mb"] = round((total - free1) / 2**20, 1)
    out["gpu"] = torch.cuda.get_device_name()
print("RESULT " + json.dumps(out))
"""


def measure(label: str, config: dict, train: bool = True) -> dict:
    payload = json.dumps({"label": label, "train": train, **config})
    proc = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    p.add_argument("--max-steps", type=int, default=40)
    p.add_argument("--eval-samples", type=int, default=10_000, help="generated samples for fid_mnist")
    p.add_argument("--inception-samples", type=int, nargs="+", default=[0, 500])
    args = p.parse_args(argv)
    rows = [measure("imports only", {"device": args.device}, train=False)]
    for inception in args.inception_samples:
        for batch in args.batch_sizes:
            rows.append(measure(f"batch {batch}, inception_samples {inception}", {
                "device": args.device, "batch_size": batch, "max_steps": args.max_steps,
                "eval_every_steps": args.max_steps, "eval_samples": args.eval_samples,
                "inception_samples": inception}))
    keys = [k for k in rows[-1] if k != "label"]
    print("| configuration | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        print(f"| {row['label']} | " + " | ".join(str(row.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
