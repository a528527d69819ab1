"""Density and coverage (Naeem et al. 2020) on k-NN balls of the real samples only, k = 5.

Precision asks whether a fake lies in *any* real ball, so one outlying real image with
a huge ball can swallow junk; density counts *how many* real balls hold each fake
(divided by k, so ≈1 when fakes match reals), and coverage asks which real balls hold
at least one fake, so neither depends on the fakes' own outliers.
"""
from __future__ import annotations

import numpy as np
import torch

from .knn import as_tensor, knn_radii, sq_dist_chunks

K = 5  # the paper's k


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = K,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """(density, coverage) of fakes against reals; ``real_radii`` are the reals' k-NN radii
    (squared, from ``knn_radii``), which a cached reference supplies."""
    r, f = as_tensor(real), as_tensor(fake)
    if real_radii is None:
        real_radii = knn_radii(r, k)
    balls_holding = 0
    covered = torch.zeros(r.shape[0], dtype=torch.bool)
    for _, d2 in sq_dist_chunks(f, r):  # rows: fakes, columns: reals
        inside = d2 <= real_radii[None, :]
        balls_holding += int(inside.sum())
        covered |= inside.any(dim=0)
    return balls_holding / (k * f.shape[0]), covered.float().mean().item()
