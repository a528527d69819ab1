"""Reference statistics of the MNIST test set, cached on disk.

A cache file is keyed by extractor (its weights hash and layer), metric version,
split, sample count and the k of every k-NN radius it holds, so a change of any of
them computes fresh statistics instead of reusing stale ones. Writes go to a
temporary file and are renamed, so concurrent trials never read half a file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import cache_dir, load_mnist
from .density_coverage import K as K_DENSITY
from .features import Extractor, extract
from .fid import gaussian_stats
from .knn import knn_radii_many
from .precision_recall import K as K_PRECISION
from .version import METRIC_VERSION

SUBSET_SEED = 0
KS = (K_PRECISION, K_DENSITY)


@dataclass
class Reference:
    features: np.ndarray            # float32 [n, D]
    mu: np.ndarray
    sigma: np.ndarray
    radii: dict[int, torch.Tensor]  # squared k-NN radii of the reals, for each k in KS
    path: Path


def reference_path(extractor: Extractor, split: str, n: int) -> Path:
    ks = "".join(f"k{k}" for k in KS)
    return (cache_dir() / "reference" /
            f"{extractor.name}-{extractor.key}-v{METRIC_VERSION}-{split}-n{n}-{ks}.npz")


def real_images(split: str, n: int) -> torch.Tensor:
    """n images of a split; the whole split when n covers it, else a fixed random subset.

    A random subset, not the first n: MNIST's first and last test halves differ
    (Inception FID 8.8 between them, against 2.5 for a random split).
    """
    images = load_mnist(split)
    if n >= images.shape[0]:
        return images
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(SUBSET_SEED))[:n]
    return images[idx]


def load_reference(extractor: Extractor, n: int, split: str = "test") -> Reference:
    path = reference_path(extractor, split, n)
    if path.exists():
        with np.load(path) as z:
            radii = {k: torch.from_numpy(z[f"radii_k{k}"]) for k in KS}
            return Reference(z["features"], z["mu"], z["sigma"], radii, path)
    features = extract(extractor, real_images(split, n),  # once per extractor and n, then cached
                       progress=f"{extractor.name} features of {n} MNIST {split} images (the reference)")
    mu, sigma = gaussian_stats(features)
    features32 = features.astype(np.float32)
    radii = knn_radii_many(torch.from_numpy(features32), KS)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, features=features32, mu=mu, sigma=sigma,
                 **{f"radii_k{k}": r.numpy() for k, r in radii.items()})
    os.replace(tmp, path)
    return Reference(features32, mu, sigma, radii, path)
