"""A small MNIST classifier (10 digits + "not a digit") whose penultimate layer is the
cheap feature space of the *_mnist metrics.

Strided convolutions keep it at ~1M multiply-adds per image, so 10,000 samples
take well under a second on two CPU cores. The weights next to this file were
made by scripts/train_mnist_classifier.py; the .json beside them records how.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

WEIGHTS = Path(__file__).with_name("weights") / "mnist_classifier.pt"
FEATURE_DIM = 64
DIGITS = 10
NOT_A_DIGIT = DIGITS  # the 11th class: noise, blobs, blurs, overlays (see off_manifold.py)


class MnistClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, stride=2, padding=2)   # 28 -> 14
        self.conv2 = nn.Conv2d(32, 64, 5, stride=2, padding=2)  # 14 -> 7
        self.fc1 = nn.Linear(64 * 7 * 7, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, DIGITS + 1)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float [N, 1, 28, 28] in [-1, 1] -> penultimate layer [N, 64], before its ReLU."""
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc1(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.features(x))))


def _unit_x10(h: torch.Tensor) -> torch.Tensor:
    # Unit length drops the norm, which junk inflates without bound; x10 puts noise's FID near 150.
    return F.normalize(h, dim=1).mul_(10.0)


# What the metrics see of the penultimate layer; the name is part of the metric's version.
FEATURE_LAYERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "fc1_unit_x10": _unit_x10,
    "fc1": lambda h: h,
    "fc1_relu": F.relu,
}
FEATURE_LAYER = "fc1_unit_x10"


def weights_hash(path: Path = WEIGHTS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=4)
def load(device: str = "cpu") -> MnistClassifier:
    if not WEIGHTS.exists():
        raise FileNotFoundError(f"MNIST classifier weights missing at {WEIGHTS}; "
                                f"run scripts/train_mnist_classifier.py to make them")
    model = MnistClassifier()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(device)
