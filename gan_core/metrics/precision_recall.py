"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds, k = 3."""
from __future__ import annotations

import numpy as np
import torch

from .knn import as_tensor, knn_radii, sq_dist_chunks

K = 3  # the paper's k


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """(precision, recall): fakes inside some real k-NN ball, reals inside some fake k-NN ball.

    Both are read off the same fake × real distances, so after the fakes' own radii this
    is one pass, not two. ``real_radii`` (from ``knn_radii``) lets a cached reference skip
    the reals' radii.
    """
    r, f = as_tensor(real), as_tensor(fake)
    if real_radii is None:
        real_radii = knn_radii(r, k)
    fake_radii = knn_radii(f, k)
    fake_inside = torch.zeros(f.shape[0], dtype=torch.bool)
    real_inside = torch.zeros(r.shape[0], dtype=torch.bool)
    for start, d2 in sq_dist_chunks(f, r):  # rows: fakes, columns: reals
        fake_inside[start:start + d2.shape[0]] = (d2 <= real_radii[None, :]).any(dim=1)
        real_inside |= (d2 <= fake_radii[start:start + d2.shape[0], None]).any(dim=0)
    return fake_inside.float().mean().item(), real_inside.float().mean().item()
