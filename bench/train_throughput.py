"""Training throughput: this project's loop against the course-template loop, side by side.

    .venv/bin/python bench/train_throughput.py [--steps 300] [--batch-sizes 64,256] [--repeats 1] [--tiny]

Both loops train the same fixed Generator and baseline Discriminator (vanilla GAN,
Adam lr 2e-4, D step then G step) on the same device, in this one process.

- ``template``: the course's train.py, re-written here. torchvision MNIST with
  ToTensor + Normalize((0.5,), (0.5,)), DataLoader(batch_size=B, shuffle=True) with
  no workers, D as the baseline MLP followed by nn.Sigmoid and nn.BCELoss, default
  Adam, and, as in the course: the D step's fakes are not detached (its backward
  also runs through G), and both steps call ``.item()`` on their loss.
- ``ours``: ``gan_core.train("vanilla", ...)``, the loop every trial runs, timed
  by the loop itself (its ``steps_per_s``, which excludes evaluation). ``fast``
  toggles fused Adam; ``compile`` wraps G and D in torch.compile.

Each configuration first runs ``warmup`` untimed steps (for ours: the loop's first
report interval), so start-up and compilation are not in the rate.
Exit status 1 when the template or our default loop could not be measured.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import traceback

import _common  # noqa: F401  (puts the repo on sys.path)
import torch
from torch import nn

import gan_core
from gan_core.data import data_root
from gan_core.models import LATENT_DIM, Discriminator, Generator

TARGET_CPU_RATIO = 1.3


def template_loader(batch: int):
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = datasets.MNIST(root=str(data_root()), train=True, transform=transform, download=False)
    return DataLoader(dataset, batch_size=batch, shuffle=True)


def endless(loader):
    while True:  # the course's `for epoch ...: for x, _ in train_loader`
        yield from loader


def run_template(device: torch.device, batch: int, steps: int, warmup: int) -> float:
    """Steps per second of the course-template loop after ``warmup`` untimed steps."""
    torch.manual_seed(0)
    batches = endless(template_loader(batch))
    G = Generator().to(device)
    D = nn.Sequential(Discriminator(), nn.Sigmoid()).to(device)
    criterion = nn.BCELoss()
    G_optimizer = torch.optim.Adam(G.parameters(), lr=2e-4)
    D_optimizer = torch.optim.Adam(D.parameters(), lr=2e-4)

    def D_train(x):
        D.zero_grad()
        x_real, y_real = x, torch.ones(x.shape[0], device=device)
        D_real_loss = criterion(D(x_real), y_real)
        z = torch.randn(x.shape[0], LATENT_DIM, device=device)
        x_fake, y_fake = G(z), torch.zeros(x.shape[0], device=device)
        D_fake_loss = criterion(D(x_fake), y_fake)
        D_loss = D_real_loss + D_fake_loss
        D_loss.backward()
        D_optimizer.step()
        return D_loss.data.item()

    def G_train(x):
        G.zero_grad()
        z = torch.randn(x.shape[0], LATENT_DIM, device=device)
        y = torch.ones(x.shape[0], device=device)
        G_loss = criterion(D(G(z)), y)
        G_loss.backward()
        G_optimizer.step()
        return G_loss.data.item()

    def one_step():
        x, _ = next(batches)
        x = x.view(-1, 784).to(device)
        D_train(x)
        G_train(x)

    for _ in range(warmup):
        one_step()
    tick = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - tick)


def run_template_data_only(batch: int, steps: int) -> float:
    """Batches per second of the template's DataLoader alone: its input cost per step."""
    batches = endless(template_loader(batch))
    next(batches)
    tick = time.perf_counter()
    for _ in range(steps):
        next(batches)
    return steps / (time.perf_counter() - tick)


def run_ours(device: torch.device, batch: int, steps: int, warmup: int, *, fast: bool, compile: bool,
             compile_mode: str = "default") -> float:
    """Steps per second of gan_core's loop, from its own reports, first interval dropped."""
    intervals = max(1, math.ceil(steps / warmup))
    reports: list[dict] = []
    config = {"max_steps": warmup * (intervals + 1), "eval_every_steps": warmup, "batch_size": batch,
              "device": device.type, "fast": fast, "compile": compile, "compile_mode": compile_mode,
              "eval_samples": 100, "inception_samples": 0}  # evaluation is outside the rate; keep it small
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        gan_core.train("vanilla", config, on_report=lambda metrics, state, samples: reports.append(metrics))
    finally:  # the loop turns deterministic algorithms on for CPU; leave the template as it was
        torch.use_deterministic_algorithms(deterministic)
    first, last = reports[0], reports[-1]  # train_seconds is the loop's own clock, evaluation excluded
    return (last["step"] - first["step"]) / (last["train_seconds"] - first["train_seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per configuration")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default 64,256; --tiny: 64)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds; the best rate of each row is kept")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--tiny", action="store_true", help="a few dozen steps, batch 64, no compile (CI)")
    parser.add_argument("--devices", default=None, help="cpu, cuda or cpu,cuda (default: every one here)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.steps, args.no_compile = 20, True
    batch_sizes = [int(b) for b in (args.batch_sizes or ("64" if args.tiny else "64,256")).split(",")]
    warmup = max(5, min(50, args.steps // 5))
    devices = [torch.device(d) for d in (args.devices.split(",") if args.devices else
                                         ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))]

    print(f"machine: {_common.machine()}")
    print(f"timed steps per row: {args.steps} (ours: {math.ceil(args.steps / warmup) * warmup}), "
          f"after {warmup} warm-up steps; repeats: {args.repeats}", flush=True)

    variants = [("template", None), ("ours fast=False", dict(fast=False, compile=False)),
                ("ours fast=True (default)", dict(fast=True, compile=False))]
    if not args.no_compile:
        variants.append(("ours fast=True compile=True", dict(fast=True, compile=True)))
        if any(d.type == "cuda" for d in devices):  # CUDA graphs: torch.compile's reduce-overhead mode
            variants.append(("ours compile reduce-overhead", dict(fast=True, compile=True,
                                                                  compile_mode="reduce-overhead")))

    best: dict[tuple, float] = {}
    errors: dict[tuple, str] = {}
    for _ in range(args.repeats):
        for device in devices:
            for batch in batch_sizes:
                for name, opts in variants:
                    key = (device.type, batch, name)
                    if key in errors or (opts or {}).get("compile_mode", "default") != "default" \
                            and device.type != "cuda":
                        continue
                    try:
                        rate = (run_template(device, batch, args.steps, warmup) if opts is None
                                else run_ours(device, batch, args.steps, warmup, **opts))
                    except Exception as err:  # a row that cannot run is reported, not fatal
                        errors[key] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:100]
                        traceback.print_exc(limit=2, file=sys.stderr)
                        continue
                    best[key] = max(best.get(key, 0.0), rate)
                    print(f"  {device.type} batch {batch} {name}: {rate:.2f} steps/s", flush=True)
                if device.type == "cpu":
                    key = (device.type, batch, "template data only")
                    rate = run_template_data_only(batch, args.steps)
                    best[key] = max(best.get(key, 0.0), rate)

    rows = []
    ok = True
    for device in devices:
        for batch in batch_sizes:
            base = best.get((device.type, batch, "template"))
            names = [n for n, _ in variants] + (["template data only"] if device.type == "cpu" else [])
            for name in names:
                key = (device.type, batch, name)
                if key not in best and key not in errors:
                    continue  # a CUDA-only row on CPU
                if key in errors:
                    rows.append([device.type, batch, name, "failed", "", errors[key]])
                    continue
                rate = best[key]
                ratio = "" if name == "template data only" or not base else f"{rate / base:.2f}x"
                rows.append([device.type, batch, name, f"{rate:.2f}", f"{rate * batch:.0f}", ratio])
            ok &= base is not None and (device.type, batch, "ours fast=True (default)") in best

    print()
    print(_common.table(["device", "batch", "loop", "steps/s", "images/s", "ratio (ours/template)"], rows))
    print("\n'template data only': the template's DataLoader + transforms alone, in batches/s (its input cost).")
    for batch in batch_sizes:
        base, ours = best.get(("cpu", batch, "template")), best.get(("cpu", batch, "ours fast=True (default)"))
        if base and ours:
            verdict = "met" if ours / base >= TARGET_CPU_RATIO else "NOT met"
            print(f"target >= {TARGET_CPU_RATIO}x template on CPU, batch {batch}: {ours / base:.2f}x, {verdict}")
    return _common.finish([] if ok else ["the template or our default loop"])


if __name__ == "__main__":
    sys.exit(main())
