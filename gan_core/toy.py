"""2-D mixtures of Gaussians: the standard testbed for mode collapse (Metz et al. 2017).

The fixed generator applies only to MNIST, so here G is a small MLP; everything else is
the project's own: the method's discriminator (2-D input), its losses, and the shared
training step from ``gan_trainer.make_train_step``. A mode counts as recovered when at least
``MIN_SAMPLES_PER_MODE`` of 2,500 samples land within 3σ of it (VEEGAN's protocol).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from . import loop, methods
from .draws import Draws, key_for
from .gan_trainer import make_optimizer, make_train_step

NOISE_DIM = 16
EVAL_SAMPLES = 2500
MIN_SAMPLES_PER_MODE = 20


@dataclass(frozen=True)
class Mixture:
    centers: torch.Tensor  # [modes, 2]
    std: float

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.centers), (n,), generator=generator)
        return self.centers[idx] + self.std * torch.randn(n, 2, generator=generator)


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    angles = torch.arange(modes) * 2 * math.pi / modes
    return Mixture(radius * torch.stack([angles.cos(), angles.sin()], 1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    axis = (torch.arange(side) - (side - 1) / 2) * spacing
    return Mixture(torch.cartesian_prod(axis, axis), std)


MIXTURES = {"ring8": ring, "grid25": grid}


def toy_generator() -> nn.Module:
    return nn.Sequential(nn.Linear(NOISE_DIM, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))


def mode_coverage(samples: torch.Tensor, mixture: Mixture) -> dict[str, float]:
    """Modes recovered and the fraction of high-quality samples (within 3σ of a centre)."""
    dist, nearest = torch.cdist(samples, mixture.centers).min(dim=1)
    good = dist <= 3 * mixture.std
    per_mode = torch.bincount(nearest[good], minlength=len(mixture.centers))
    return {"modes": int((per_mode >= MIN_SAMPLES_PER_MODE).sum()), "of_modes": len(mixture.centers),
            "high_quality": good.float().mean().item()}


def train_toy(method_name: str, config: dict | None = None, *, mixture: str = "ring8",
              steps: int = 2000) -> dict[str, float]:
    """Train ``method_name`` on a 2-D mixture and return its mode coverage."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 128-wide layers: threads only add sync cost, badly so on a busy machine
    try:
        return _train_toy(method_name, config, mixture, steps)
    finally:
        torch.set_num_threads(threads)


def _train_toy(method_name: str, config: dict | None, mixture: str, steps: int) -> dict[str, float]:
    method = methods.get(method_name)
    config = method.resolve(config)
    torch.manual_seed(config["seed"])
    data = MIXTURES[mixture]()
    data_rng = torch.Generator().manual_seed(config["seed"])
    G = toy_generator()
    D = method.build_discriminator(config, in_dim=2, hidden=(128, 128))
    opt_g = make_optimizer(G.parameters(), config, config["lr_g"])
    opt_d = make_optimizer(D.parameters(), config, config["lr_d"])
    step = make_train_step(method, config, G, D, opt_g, opt_d,
                                lambda: data.sample(config["batch_size"], data_rng),
                                lambda n: torch.randn(n, NOISE_DIM), Draws(key_for(config["seed"])))
    for _ in range(steps):
        loss_d, loss_g, _ = step()
    if not (math.isfinite(float(loss_d)) and math.isfinite(float(loss_g))):
        raise loop.Diverged(f"{method_name} diverged on {mixture}")
    with torch.no_grad():
        samples = G(torch.randn(EVAL_SAMPLES, NOISE_DIM, generator=torch.Generator().manual_seed(1)))
    return mode_coverage(samples, data)
