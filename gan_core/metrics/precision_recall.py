"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds, k = 3.

Distances are compared squared and computed as ‖a‖² + ‖b‖² − 2ab in row chunks:
one matmul per chunk, and never a full n×n matrix in memory.
"""
from __future__ import annotations

import numpy as np
import torch

# Rows per chunk: 256 × 10k floats (10 MB) stay in cache across the chunk's passes (addmm, add,
# clamp, topk/compare); 2048 (80 MB) ran about 2x slower on 2 CPU cores, with identical values.
CHUNK = 256


def _sq_dists(a: torch.Tensor, b: torch.Tensor):
    """(start, squared distances of a[start:start+CHUNK] to every row of b), chunk by chunk."""
    b_sq = b.pow(2).sum(1)
    for start in range(0, a.shape[0], CHUNK):
        rows = a[start:start + CHUNK]
        d2 = torch.addmm(b_sq[None, :], rows, b.T, alpha=-2.0).add_(rows.pow(2).sum(1, keepdim=True))
        yield start, d2.clamp_min_(0.0)


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest other point (itself is the 0th)."""
    radii = torch.empty(features.shape[0], dtype=features.dtype)
    for start, d2 in _sq_dists(features, features):
        radii[start:start + d2.shape[0]] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """(precision, recall): fakes inside some real k-NN ball, reals inside some fake k-NN ball.

    Both are read off the same fake × real distances, so after the fakes' own radii this
    is one pass, not two. ``real_radii`` (from ``knn_radii``) lets a cached reference skip
    the reals' radii.
    """
    r = torch.from_numpy(np.ascontiguousarray(real, dtype=np.float32))
    f = torch.from_numpy(np.ascontiguousarray(fake, dtype=np.float32))
    if real_radii is None:
        real_radii = knn_radii(r, k)
    fake_radii = knn_radii(f, k)
    fake_inside = torch.zeros(f.shape[0], dtype=torch.bool)
    real_inside = torch.zeros(r.shape[0], dtype=torch.bool)
    for start, d2 in _sq_dists(f, r):  # rows: fakes, columns: reals
        fake_inside[start:start + d2.shape[0]] = (d2 <= real_radii[None, :]).any(dim=1)
        real_inside |= (d2 <= fake_radii[start:start + d2.shape[0], None]).any(dim=0)
    return fake_inside.float().mean().item(), real_inside.float().mean().item()
