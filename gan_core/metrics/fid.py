"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""
from __future__ import annotations

import numpy as np
from scipy import linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2(Σ1Σ2)^½).

    tr((Σ1Σ2)^½) is the sum of square roots of the eigenvalues of Σ1^½ Σ2 Σ1^½, a
    symmetric PSD matrix: two eigh calls instead of pytorch-fid's general sqrtm,
    same value, faster, and no complex parts to discard.
    """
    w1, v1 = linalg.eigh(sigma1)
    sqrt1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    inner = sqrt1 @ sigma2 @ sqrt1
    eig = linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
