"""A small MNIST classifier whose penultimate layer is the cheap feature space of
fid_mnist / precision_mnist / recall_mnist.

Strided convolutions keep it at ~1M multiply-adds per image, so 10,000 samples
take well under a second on two CPU cores. The weights next to this file were
made by scripts/train_mnist_classifier.py; the script records their accuracy.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

WEIGHTS = Path(__file__).with_name("weights") / "mnist_classifier.pt"
FEATURE_DIM = 64


class MnistClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, stride=2, padding=2)   # 28 -> 14
        self.conv2 = nn.Conv2d(32, 64, 5, stride=2, padding=2)  # 14 -> 7
        self.fc1 = nn.Linear(64 * 7 * 7, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float [N, 1, 28, 28] in [-1, 1] -> penultimate layer [N, 64], before its ReLU.

        Pre-activation keeps off-manifold inputs from collapsing onto the ReLU's zero
        corner, where they would sit inside real k-NN balls and inflate precision.
        """
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc1(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.features(x))))


FEATURES_VERSION = "fc1pre"  # bump when ``features`` changes, so cached stats are not reused


def weights_hash(path: Path = WEIGHTS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def feature_key() -> str:
    return f"{weights_hash()}-{FEATURES_VERSION}"


@lru_cache(maxsize=4)
def load(device: str = "cpu") -> MnistClassifier:
    if not WEIGHTS.exists():
        raise FileNotFoundError(f"MNIST classifier weights missing at {WEIGHTS}; "
                                f"run scripts/train_mnist_classifier.py to make them")
    model = MnistClassifier()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(device)
