"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020) for MNIST's flat images in [-1, 1].

D sees every image, real and fake, through the same random transforms, so it cannot memorize the
60,000 training digits, and G's gradient flows back through them. Draws are counter-based
(``gan_core.draws``): a member of a population augments exactly as the same run alone, and the
transforms broadcast over any leading axes (a population's [K, B, 784]).
Erased and uncovered pixels take the background's value (-1), where DiffAugment's zero would be grey.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .errors import ConfigError

SIZE = 28
BACKGROUND = -1.0
SHIFT = 4      # translation: up to ±4 pixels (DiffAugment's ratio 1/8 of the side, rounded)
CUTOUT = 14    # cutout: a 14×14 square (DiffAugment's ratio 1/2)


def color(x: torch.Tensor, rng) -> torch.Tensor:
    """Brightness (+U(-0.5, 0.5)) then contrast (×U(0.5, 1.5) about the image's mean); no saturation in grey."""
    u = rng.uniform(x.shape[-2], 2).to(x.dtype)
    x = x + (u[..., :1] - 0.5)
    mean = x.mean(-1, keepdim=True)
    return (x - mean) * (u[..., 1:] + 0.5) + mean


def translation(x: torch.Tensor, rng) -> torch.Tensor:
    """Each image moved by whole pixels, up to ±SHIFT on each axis, the border filled with background."""
    side = SIZE + 2 * SHIFT
    offset = (rng.uniform(x.shape[-2], 2) * (2 * SHIFT + 1)).floor().long()  # [..., B, 2] in [0, 2·SHIFT]
    padded = F.pad(x.unflatten(-1, (SIZE, SIZE)), (SHIFT,) * 4, value=BACKGROUND).flatten(-2)
    i = torch.arange(SIZE, device=x.device)
    rows, cols = offset[..., :1] + i, offset[..., 1:] + i  # [..., B, 28] each
    index = (rows.unsqueeze(-1) * side + cols.unsqueeze(-2)).flatten(-2)
    return padded.gather(-1, index)


def cutout(x: torch.Tensor, rng) -> torch.Tensor:
    """A CUTOUT×CUTOUT square at a uniform centre (clipped at the borders) set to background."""
    centre = (rng.uniform(x.shape[-2], 2) * SIZE).floor()  # [..., B, 2]
    i = torch.arange(SIZE, device=x.device, dtype=centre.dtype)
    inside = lambda c: (i >= c - CUTOUT // 2) & (i < c + CUTOUT // 2)
    erased = (inside(centre[..., :1]).unsqueeze(-1) & inside(centre[..., 1:]).unsqueeze(-2)).flatten(-2)
    return torch.where(erased, torch.full_like(x, BACKGROUND), x)


OPS: dict[str, Callable[[torch.Tensor, Any], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout}


def parse(policy: str) -> tuple[str, ...]:
    """The transforms of a policy ("none", or a comma list such as "color,translation,cutout"), in order."""
    if policy.strip() == "none":
        return ()
    ops = tuple(p.strip() for p in policy.split(","))
    bad = [p for p in ops if p not in OPS]
    if bad or len(set(ops)) != len(ops):
        raise ConfigError(f"augment must be 'none' or a comma list of distinct {', '.join(OPS)}, got {policy!r}")
    return ops


def augment(x: torch.Tensor, ops: tuple[str, ...], p, rng) -> torch.Tensor:
    """x with ``ops`` applied, each image with probability ``p`` (a number, or a population's [K] tensor)."""
    out = x
    for name in ops:
        out = OPS[name](out, rng)
    chance = rng.uniform(x.shape[-2], 1)  # drawn even at p = 1, so every member draws the same sequence
    p = torch.as_tensor(p, dtype=chance.dtype, device=x.device)
    p = p.reshape(*p.shape, *([1] * (chance.dim() - p.dim())))
    return torch.where(chance < p, out, x)


class Augmented:
    """D seen through augmentation: a call, and each of D's forward parts (SAN's split logits, MD-GAN's
    likelihood), augments its input first; anything else is D's own."""

    def __init__(self, D, ops: tuple[str, ...], p, rng):
        self.D, self.ops, self.p, self.rng = D, ops, p, rng

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, self.ops, self.p, self.rng)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self.augment(x))

    def __getattr__(self, name: str) -> Any:
        D = self.__dict__["D"]
        if name in getattr(D, "parts", ()):
            part = getattr(D, name)
            return lambda x: part(self.augment(x))
        return getattr(D, name)


def wrap(D, config: dict, rng):
    """D as the training step should call it: augmented when the config asks, else D itself."""
    ops = parse(config.get("augment", "none"))
    return Augmented(D, ops, config["augment_p"], rng) if ops else D
