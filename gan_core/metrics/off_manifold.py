"""Off-manifold images made on the fly: the MNIST classifier's "not a digit" class.

Every kind is a batched torch function of a seeded ``torch.Generator`` (deterministic
on CPU), on images in [-1, 1] shaped [N, 1, 28, 28]. The corruptions are strong on
purpose: they teach the features to put junk far from digits, not to grade mild flaws.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

Images = torch.Tensor  # float [N, 1, 28, 28] in [-1, 1]


def _u(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    """n uniform draws in [lo, hi), shaped to broadcast over images."""
    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1, 1)


def gaussian_blur(x: Images, sigma: float) -> Images:
    """Separable Gaussian blur; the border is padded with background (-1), as MNIST's is."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), value=-1.0)
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def uniform_noise(digits: Images, g: torch.Generator) -> Images:
    n = digits.shape[0]
    lo = _u(n, -1.0, 0.6, g)
    width = _u(n, 0.2, 1.0, g) * (1.0 - lo)
    return lo + width * torch.rand(digits.shape, generator=g)


def gaussian_noise(digits: Images, g: torch.Generator) -> Images:
    n = digits.shape[0]
    return (_u(n, -1.0, 0.8, g) + _u(n, 0.1, 0.9, g) * torch.randn(digits.shape, generator=g)).clamp(-1, 1)


def grey_blobs(digits: Images, g: torch.Generator) -> Images:
    """Smooth random blobs: low-resolution noise upsampled, often under a centred window."""
    n = digits.shape[0]
    res = int(torch.randint(2, 9, (1,), generator=g))
    x = F.interpolate(torch.rand(n, 1, res, res, generator=g), size=28, mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 28), torch.linspace(-1, 1, 28), indexing="ij")
    width = _u(n, 0.2, 3.0, g)
    window = torch.exp(-(xx ** 2 + yy ** 2) / width)
    x = x.clamp(0, 1) * window * _u(n, 0.1, 1.0, g)
    return (x + _u(n, 0.0, 0.3, g)).clamp(0, 1) * 2 - 1


def constant(digits: Images, g: torch.Generator) -> Images:
    """Flat images, blank (-1) for a quarter of them, any grey level otherwise."""
    n = digits.shape[0]
    level = torch.where(torch.rand(n, 1, 1, 1, generator=g) < 0.25, -1.0, _u(n, -1.0, 1.0, g))
    return level.expand_as(digits).clone()


def blurred_digits(digits: Images, g: torch.Generator) -> Images:
    sigma = float(_u(1, 1.8, 4.0, g))
    return gaussian_blur(digits, sigma)


def speckled_digits(digits: Images, g: torch.Generator) -> Images:
    """A large random fraction of pixels replaced by random values: salt, pepper and grey."""
    n = digits.shape[0]
    hit = torch.rand(digits.shape, generator=g) < _u(n, 0.2, 0.7, g)
    return torch.where(hit, torch.rand(digits.shape, generator=g) * 2 - 1, digits)


def noisy_shapes(digits: Images, g: torch.Generator) -> Images:
    """A blurred digit under strong noise on a raised background: an early GAN's look."""
    n = digits.shape[0]
    shape = gaussian_blur(digits, float(_u(1, 0.8, 2.0, g)))
    background = _u(n, 0.0, 0.5, g)
    x = (shape + 1) / 2 * (1 - background) + background
    x = x * (1 + _u(n, 0.5, 1.5, g) * torch.randn(digits.shape, generator=g))
    return x.clamp(0, 1) * 2 - 1


def overlays(digits: Images, g: torch.Generator) -> Images:
    """Two digits on top of each other (brighter pixel wins), the second shifted."""
    other = digits.roll(1, dims=0)
    dy, dx = torch.randint(-5, 6, (2,), generator=g).tolist()
    return torch.maximum(digits, other.roll((dy, dx), dims=(2, 3)))


def inverted(digits: Images, g: torch.Generator) -> Images:
    return -digits


KINDS: dict[str, Callable[[Images, torch.Generator], Images]] = {
    "uniform_noise": uniform_noise, "gaussian_noise": gaussian_noise, "grey_blobs": grey_blobs,
    "constant": constant, "blurred_digits": blurred_digits, "speckled_digits": speckled_digits,
    "noisy_shapes": noisy_shapes, "overlays": overlays, "inverted": inverted,
}


def off_manifold(digits: Images, g: torch.Generator) -> Images:
    """One junk image per input digit, the kinds in equal shares (digits feed the kinds that
    corrupt digits; the others only use the batch's shape)."""
    parts = torch.tensor_split(digits, len(KINDS))
    return torch.cat([make(part, g) for make, part in zip(KINDS.values(), parts)])
