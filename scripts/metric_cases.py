"""Score the known cases (and any generator checkpoints) with the MNIST-feature metrics.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/metric_cases.py [--n 10000] [--layer all]
                                                                [--generators runs/x/generators/*.pt]

One row per case: junk (noise, grey blobs, blank, flat grey, an untrained generator),
one repeated digit, and real train digits against the test reference; then one row per
generator checkpoint (a file from `gan train --snapshots`, or any checkpoint with a
"generator" state dict). ``--layer all`` prints a table per MNIST feature layer, so the
layers can be compared on the same samples.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_core.metrics.evaluate import generate, score_images
from gan_core.metrics.features import mnist_extractor
from gan_core.metrics.known_cases import CASES
from gan_core.metrics.mnist_classifier import FEATURE_LAYER, FEATURE_LAYERS
from gan_core.metrics.version import metrics_version
from gan_core.models import Generator

COLUMNS = ("fid_mnist", "precision_mnist", "recall_mnist", "density_mnist", "coverage_mnist")


def checkpoint_samples(path: Path, n: int, key: str) -> torch.Tensor:
    state = torch.load(path, map_location="cpu", weights_only=True)
    generator = Generator()
    generator.load_state_dict(state[key] if key in state else state)
    return generate(generator, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per case, and test images in the reference")
    parser.add_argument("--layer", default=FEATURE_LAYER, help=f"one of {sorted(FEATURE_LAYERS)}, or 'all'")
    parser.add_argument("--generators", type=Path, nargs="*", default=[], help="generator checkpoints to score")
    parser.add_argument("--state-key", default="generator", help="the checkpoint's state dict (e.g. generator_raw)")
    args = parser.parse_args()

    samples = {name: make(args.n) for name, make in CASES.items()}
    samples.update({str(p): checkpoint_samples(p, args.n, args.state_key) for p in args.generators})
    width = max(len(name) for name in samples)
    for layer in (sorted(FEATURE_LAYERS) if args.layer == "all" else [args.layer]):
        extractor = mnist_extractor(layer=layer)
        print(f"\n{metrics_version(extractor.key)}, {args.n} samples against {args.n} test images")
        print(f"{'case':{width}s}  " + "  ".join(f"{c.removesuffix('_mnist'):>9s}" for c in COLUMNS))
        for name, images in samples.items():
            scores = score_images(images, extractor)
            print(f"{name:{width}s}  " + "  ".join(f"{scores[c]:9.3f}" for c in COLUMNS), flush=True)


if __name__ == "__main__":
    main()
