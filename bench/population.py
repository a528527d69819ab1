"""Population throughput: member-steps per second of K members trained as one batched computation,
next to the single-trial loop and the course-template loop, in one run, per device.

    .venv/bin/python bench/population.py [--sizes 1,4,16,64,256] [--steps 60] [--method vanilla] [--tiny]

Each population size runs in a fresh child process (so its peak memory is its own): K seeds of
the method's defaults at batch 64, ``warmup`` untimed steps, then ``steps`` timed ones. Rows:
member-steps/s (K × steps/s), the ratio to the single-trial loop's steps/s on the same device,
peak memory per member (CPU: the child's peak RSS over K; CUDA: peak allocated over K), and the
evaluation's cost per member (fid/precision/recall_mnist on ``--eval-samples`` each). On CUDA it
also prints the estimated wall time of a 100-epoch SAN population of 64 (the issue's target).
Exit status 1 when a row that should run could not be measured.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

import _common
import torch

STEPS_PER_EPOCH = 937  # batch 64: 60,000 // 64
TARGET_OPS_RATIO = 1.2  # a population step launches at most 1.2x the single-trial step's operators
TARGET_GPU_RATIO, TARGET_GPU_MINUTES = 30.0, 10.0


def top_level_ops(step) -> int:
    """aten operators one call of ``step`` launches from Python (those not inside another aten op), counted
    with torch.profiler: on a GPU each is at least one kernel launch, what bounds a small MLP's step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.events()
    return sum(1 for e in events if e.name.startswith("aten::")
               and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))


def single_trial_ops(method_name: str, device_name: str) -> int:
    from gan_core import methods
    from gan_core.device import pick_device
    from gan_core.gan_trainer import GanTrainer

    method = methods.get(method_name)
    trainer = GanTrainer(method, method.resolve({"seed": 0, "device": device_name, "max_steps": 10 ** 6}),
                         pick_device(device_name))
    for _ in range(3):
        trainer.step()
    return top_level_ops(trainer.step)


def child(spec: dict) -> dict:
    """One measurement in this (fresh) process; printed as JSON for the parent."""
    from gan_core import methods
    from gan_core.device import pick_device
    from gan_core.population import PopulationTrainer

    device = pick_device(spec["device"])
    method = methods.get(spec["method"])
    configs = [method.resolve({"seed": k, "device": spec["device"], "eval_samples": spec["eval_samples"],
                               "inception_samples": 0, "max_steps": 10 ** 6}) for k in range(spec["size"])]
    trainer = PopulationTrainer(method, configs, device)
    for _ in range(spec["warmup"]):
        trainer.step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tick = time.perf_counter()
    for _ in range(spec["steps"]):
        trainer.step()
    sync()
    seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    means = {"loss_d": torch.zeros(spec["size"]), "loss_g": torch.zeros(spec["size"])}
    trainer.metrics(False, means, {})
    eval_seconds = time.perf_counter() - tick
    out = {"rate": spec["size"] * spec["steps"] / seconds, "eval_per_member_s": eval_seconds / spec["size"],
           "peak_rss_mb": _common.peak_rss_mb(os.getpid()), "ops": top_level_ops(trainer.step)}
    if device.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def measure(spec: dict) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True,
                          text=True, timeout=spec.get("timeout", 3600))
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["no output"])[-1][:200])
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="population sizes (default CPU 1,4,16; CUDA 1,4,16,64,256)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per row")
    parser.add_argument("--method", default="vanilla")
    parser.add_argument("--eval-samples", type=int, default=10_000)
    parser.add_argument("--devices", default=None, help="cpu, cuda or both (default: every one here)")
    parser.add_argument("--tiny", action="store_true", help="K = 1, 2 for a few steps on 500 samples (CI)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return 0
    if args.tiny:
        args.steps, args.eval_samples = 6, 500
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    warmup = max(3, args.steps // 5)

    import train_throughput  # the template and single-trial loops, measured by the same code as there

    print(f"machine: {_common.machine()}")
    print(f"method {args.method}, batch 64, {args.steps} timed steps after {warmup} warm-up steps; "
          f"evaluation on {args.eval_samples} samples per member", flush=True)
    rows, errors, single, ops = [], [], {}, {}
    for device_name in devices:
        device = torch.device(device_name)
        try:
            template = train_throughput.run_template(device, 64, args.steps, warmup)
            single[device_name] = train_throughput.run_ours(device, 64, args.steps, warmup, fast=True, compile=False)
        except Exception as err:
            errors.append(f"{device_name} single-trial/template loops: {type(err).__name__}: {err}")
            traceback.print_exc(limit=2, file=sys.stderr)
            continue
        ops[device_name] = single_trial_ops(args.method, device_name)
        rows.append([device_name, "template loop", 1, f"{template:.1f}", f"{template / single[device_name]:.2f}x",
                     "", "", "", ""])
        rows.append([device_name, "single-trial loop", 1, f"{single[device_name]:.1f}", "1.00x", "", "",
                     ops[device_name], ops[device_name]])
        sizes = args.sizes or ("1,2" if args.tiny else ("1,4,16,64,256" if device_name == "cuda" else "1,4,16"))
        for size in (int(k) for k in sizes.split(",")):
            spec = {"device": device_name, "size": size, "steps": args.steps, "warmup": warmup,
                    "method": args.method, "eval_samples": args.eval_samples}
            try:
                r = measure(spec)
            except Exception as err:
                errors.append(f"{device_name} K={size}: {err}")
                rows.append([device_name, "population", size, "failed", "", "", str(err)[:60], "", ""])
                continue
            memory = r.get("cuda_peak_mb", r["peak_rss_mb"]) / size
            rows.append([device_name, "population", size, f"{r['rate']:.1f}", f"{r['rate'] / single[device_name]:.2f}x",
                         f"{memory:.0f}", f"{r['eval_per_member_s']:.3f}", r["ops"], f"{r['ops'] / size:.1f}"])
            print(f"  {device_name} K={size}: {r['rate']:.1f} member-steps/s", flush=True)
            if device_name == "cuda" and size == 64:
                minutes = 100 * STEPS_PER_EPOCH * 64 / r["rate"] / 60
                print(f"  estimated 64-member, 100-epoch {args.method} population: {minutes:.1f} min of training "
                      f"(target <= {TARGET_GPU_MINUTES:.0f} min for SAN)")
                ratio = r["rate"] / single[device_name]
                print(f"target on GPU: K=64 >= {TARGET_GPU_RATIO:.0f}x the single-trial loop: {ratio:.1f}x, "
                      f"{'met' if ratio >= TARGET_GPU_RATIO else 'NOT met'}")
    print()
    print(_common.table(["device", "loop", "K", "member-steps/s", "ratio (to single-trial)",
                         "peak MB per member", "eval s per member", "aten ops per step", "ops per member-step"],
                        rows))
    for device_name, single_ops in ops.items():
        population_ops = [r[7] for r in rows if r[0] == device_name and r[1] == "population" and r[3] != "failed"]
        if population_ops:
            ratio = max(population_ops) / single_ops
            print(f"operator launches ({device_name}): a population step {max(population_ops)} whatever K, the "
                  f"single-trial step {single_ops}: {ratio:.2f}x; target <= {TARGET_OPS_RATIO}x: "
                  f"{'met' if ratio <= TARGET_OPS_RATIO else 'NOT met'}")
    cpu = [r for r in rows if r[0] == "cpu" and r[1] == "population" and r[3] != "failed"]
    if cpu:
        best = max(float(r[4][:-1]) for r in cpu)
        print(f"target on CPU: a population costs no more per member-step than separate runs: best ratio "
              f"{best:.2f}x, {'met' if best >= 0.95 else 'NOT met'}")
    return _common.finish(errors)


if __name__ == "__main__":
    sys.exit(main())
