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
        # The ReLU features' norm that training digits stay under (99.9th percentile), set by the
        # training script: junk's norms are unbounded, and one far sample must not dominate FID.
        self.register_buffer("feature_radius", torch.tensor(1.0))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float [N, 1, 28, 28] in [-1, 1] -> penultimate layer [N, 64], before its ReLU."""
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc1(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.features(x))))


def _relu_ball(model: MnistClassifier, h: torch.Tensor) -> torch.Tensor:
    # Digits keep their geometry; junk beyond the digits' radius lands on its surface. Radius 10
    # puts noise's fid_mnist near 100 and train-vs-test digits near 0.05.
    r = F.relu(h)
    return r * (10.0 / torch.maximum(r.norm(dim=1, keepdim=True), model.feature_radius))


def _unit_x10(model: MnistClassifier, h: torch.Tensor) -> torch.Tensor:
    return F.normalize(h, dim=1).mul_(10.0)


# What the metrics read of the penultimate layer (pre-activation h); the name is part of the
# metric's version. docs/metrics.md has what each does on the known cases and degradations.
FEATURE_LAYERS: dict[str, Callable[[MnistClassifier, torch.Tensor], torch.Tensor]] = {
    "fc1_relu_ball10": _relu_ball,
    "fc1_unit_x10": _unit_x10,
    "fc1_relu": lambda model, h: F.relu(h),
    "fc1": lambda model, h: h,
}
FEATURE_LAYER = "fc1_relu_ball10"


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
