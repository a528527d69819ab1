"""Images whose scores are known in advance: junk, one repeated digit, real digits.

Every case is uint8 [n, 784], the same for the same n. They are built apart from
off_manifold.py (other shapes, other seeds), so scoring them is not scoring the
classifier's own training junk.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..data import load_mnist
from ..models import Generator
from .evaluate import generate

SEED = 0


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(SEED)


def uniform_noise(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 784), dtype=torch.uint8, generator=_gen())


def gaussian_noise(n: int) -> torch.Tensor:
    return (127.5 + 50 * torch.randn(n, 784, generator=_gen())).clamp(0, 255).round().to(torch.uint8)


def grey_blobs(n: int) -> torch.Tensor:
    """Smooth grey blobs (4x4 noise upsampled, under a centred window): what early GANs draw."""
    g = _gen()
    x = F.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=28, mode="bilinear", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 28), torch.linspace(-1, 1, 28), indexing="ij")
    x = x * torch.exp(-(xx ** 2 + yy ** 2) / 0.6) * (0.4 + 0.6 * torch.rand(n, 1, 1, 1, generator=g))
    return (x * 255).round().to(torch.uint8).view(n, 784)


def blank(n: int) -> torch.Tensor:
    return torch.zeros(n, 784, dtype=torch.uint8)


def flat_grey(n: int) -> torch.Tensor:
    return torch.full((n, 784), 128, dtype=torch.uint8)


def untrained_generator(n: int) -> torch.Tensor:
    """The fixed Generator at its seeded initialisation: grey noise, as every trial starts."""
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        generator = Generator()
    return generate(generator, n)


def one_digit(n: int) -> torch.Tensor:
    """The first test image n times: a perfect sample of one mode."""
    return load_mnist("test")[:1].repeat(n, 1)


def train_digits(n: int) -> torch.Tensor:
    """Real digits the reference (test split) never saw."""
    return load_mnist("train")[:n]


JUNK: dict[str, Callable[[int], torch.Tensor]] = {
    "uniform_noise": uniform_noise, "gaussian_noise": gaussian_noise, "grey_blobs": grey_blobs,
    "blank": blank, "flat_grey": flat_grey, "untrained_generator": untrained_generator,
}
CASES: dict[str, Callable[[int], torch.Tensor]] = {**JUNK, "one_digit": one_digit, "train_digits": train_digits}
