"""Mode coverage on the 2-D ring of 8 Gaussians (VEEGAN's protocol): MD-GAN with and without
spectral norm, and vanilla, over seeds. Prints a Markdown table for docs/RESULTS.md.

    python scripts/toy_modes.py --seeds 0 1 2 --steps 5000
"""
from __future__ import annotations

import argparse
import time

import torch

from gan_core import toy

SETTINGS = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "batch_size": 256}
RUNS = [
    ("mdgan", "spectral norm (default)", {}),
    ("mdgan", "no spectral norm", {"d_spectral_norm": False}),
    ("vanilla", "", {}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--mixture", choices=sorted(toy.MIXTURES), default="ring8")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"{args.mixture}, {args.steps} steps, Adam lr 2e-4, beta1 0.5, batch 256; "
          f"modes with >= {toy.MIN_SAMPLES_PER_MODE} of {toy.EVAL_SAMPLES} samples within 3 std\n")
    print("| method | variant | " + " | ".join(f"seed {s}: modes (high quality)" for s in args.seeds) + " | s/run |")
    print("|---|---|" + "---|" * len(args.seeds) + "---|")
    for method, variant, extra in RUNS:
        cells, start = [], time.perf_counter()
        for seed in args.seeds:
            r = toy.train_toy(method, {**SETTINGS, **extra, "seed": seed}, mixture=args.mixture, steps=args.steps)
            cells.append(f"{r['modes']}/{r['of_modes']} ({r['high_quality']:.2f})")
        per_run = (time.perf_counter() - start) / len(args.seeds)
        print(f"| {method} | {variant} | " + " | ".join(cells) + f" | {per_run:.0f} |", flush=True)


if __name__ == "__main__":
    main()
