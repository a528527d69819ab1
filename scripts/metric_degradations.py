"""FID of real digits under graded degradations, per MNIST feature layer and on Inception.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/metric_degradations.py [--n 500] [--inception]

Degradations: a share of the digits replaced by uniform noise (5%, 20%, 50%) or blank
images (5%), Gaussian blur (sigma 1, 1.5), 10% of pixels speckled, one repeated digit,
and pure noise; real train digits are the undegraded row. Inception `fid` is the
ground truth the cheap metric should rank like: with --inception (about 0.25 s per image
on one CPU core) the script prints each layer's Spearman and Kendall correlation with it.
"""
from __future__ import annotations

import argparse

import torch
from scipy.stats import kendalltau, spearmanr

from gan_core.data import quantize, to_unit_range
from gan_core.metrics.evaluate import score_images
from gan_core.metrics.features import mnist_extractor
from gan_core.metrics.known_cases import blank, one_digit, train_digits, uniform_noise
from gan_core.metrics.mnist_classifier import FEATURE_LAYERS
from gan_core.metrics.off_manifold import gaussian_blur


def blurred(images_u8: torch.Tensor, sigma: float) -> torch.Tensor:
    return quantize(gaussian_blur(to_unit_range(images_u8).view(-1, 1, 28, 28), sigma)).view(-1, 784)


def speckled(images_u8: torch.Tensor, share: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    hit = torch.rand(images_u8.shape, generator=g) < share
    return torch.where(hit, torch.randint(0, 256, images_u8.shape, dtype=torch.uint8, generator=g), images_u8)


def mixed(images_u8: torch.Tensor, junk: torch.Tensor, share: float) -> torch.Tensor:
    out = images_u8.clone()
    k = round(share * len(out))
    out[:k] = junk[:k]
    return out


def degradations(n: int) -> dict[str, torch.Tensor]:
    digits, noise = train_digits(n), uniform_noise(n)
    return {"real train digits": digits, "5% blank": mixed(digits, blank(n), 0.05),
            "5% noise": mixed(digits, noise, 0.05), "20% noise": mixed(digits, noise, 0.2),
            "50% noise": mixed(digits, noise, 0.5), "blur 1": blurred(digits, 1.0), "blur 1.5": blurred(digits, 1.5),
            "speckle 10%": speckled(digits, 0.1), "one digit": one_digit(n), "noise": noise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="samples per row, and test images in the reference")
    parser.add_argument("--inception", action="store_true", help="also Inception fid (slow on CPU)")
    args = parser.parse_args()

    rows = degradations(args.n)
    columns = {layer: mnist_extractor(layer=layer) for layer in FEATURE_LAYERS}
    if args.inception:
        columns["inception"] = "inception"
    table = {name: {} for name in rows}
    for column, extractor in columns.items():
        for name, images in rows.items():
            scores = score_images(images, extractor)
            table[name][column] = scores["fid" if column == "inception" else "fid_mnist"]
        print(f"scored {column}", flush=True)

    print(f"\nfid on {args.n} samples against {args.n} test images")
    width = max(len(name) for name in rows)
    print(f"{'':{width}s}  " + "  ".join(f"{c:>16s}" for c in columns))
    for name, values in table.items():
        print(f"{name:{width}s}  " + "  ".join(f"{values[c]:16.4g}" for c in columns))
    if args.inception:
        truth = [table[name]["inception"] for name in rows]
        for layer in FEATURE_LAYERS:
            mine = [table[name][layer] for name in rows]
            print(f"{layer:16s} vs Inception fid: Spearman {spearmanr(mine, truth)[0]:.3f}, "
                  f"Kendall {kendalltau(mine, truth)[0]:.3f}")


if __name__ == "__main__":
    main()
