"""Latent reweighting (Issenhuth et al., "Latent reweighting, an almost free improvement for GANs").

An importance network w_φ(z) ≥ 0 on the latent space of a frozen G is trained against a
Wasserstein critic D (with gradient penalty) that compares real images with the reweighted
fakes. w_φ maximizes E[w_φ(z)(D(G(z)) − Δ)] − λ₁(E w_φ(z) − 1)² − λ₂ E max(0, w_φ(z) − m)²;
Δ is the batch mean of D(G(z)), since a critic is defined only up to a constant.

Three samplers use w_φ:
- ``latent_rs``: accept z ~ N(0, I) with probability min(1, w_φ(z)/m);
- ``latent_ga``: move z by gradient ascent on w_φ (``ga_steps`` steps of ``ga_step_size``);
- ``latent_rs_ga``: rejection sampling, then ``rs_ga_steps`` (fewer) ascent steps.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .. import losses
from ..errors import ConfigError
from ..models import LATENT_DIM
from .rejection import rejection_sample

SAMPLERS = ("latent_rs", "latent_ga", "latent_rs_ga")


class ImportanceNetwork(nn.Module):
    """w_φ: R^100 → [0, ∞). Softplus keeps it non-negative and smooth, so ascent has gradients."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT_DIM, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(z)).squeeze(-1)


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weights: torch.Tensor,
                gp_lambda: float, rng) -> torch.Tensor:
    """Wasserstein loss between real and the weighted fakes (self-normalized weights), plus GP."""
    w = weights / weights.mean().clamp_min(1e-12)
    gp = losses.gradient_penalty(critic, real, fake, rng)
    return (w * critic(fake)).mean() - critic(real).mean() + gp_lambda * gp


def importance_loss(w: nn.Module, critic: nn.Module, G: nn.Module, z: torch.Tensor, config: dict):
    """The negated objective for w_φ, and (mean w, fraction of w above m) for the logs."""
    with torch.no_grad():
        values = critic(G(z))
    weights = w(z)
    loss = losses.importance_weight_loss(weights, values, delta=values.mean(), lambda1=config["lambda1"],
                                         lambda2=config["lambda2"], m=config["max_weight"])
    return loss, weights.detach()


def ascend(w: nn.Module, z: torch.Tensor, steps: int, step_size: float) -> torch.Tensor:
    """z ← z + η ∇_z w_φ(z), ``steps`` times."""
    z = z.detach()
    for _ in range(steps):
        z.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(w(z).sum(), z)
        z = (z + step_size * grad).detach()
    return z


@torch.no_grad()
def draw_latents(w: nn.Module, sampler: str, n: int, config: dict, *, rng: torch.Generator,
                 device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    """n latents for ``sampler``, and its statistics (acceptance rate, proposals per sample)."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown latent sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "latent_ga":
        z = torch.randn(n, LATENT_DIM, generator=rng).to(device)
        return ascend(w, z, config["ga_steps"], config["ga_step_size"]), \
            {"acceptance_rate": 1.0, "proposals_per_sample": 1.0}

    def propose(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(batch, LATENT_DIM, generator=rng).to(device)
        return z, (w(z) / config["max_weight"]).clamp(max=1.0)

    z, stats = rejection_sample(propose, n, rng=rng, what="latent rejection sampling")
    if sampler == "latent_rs_ga":
        z = ascend(w, z, config["rs_ga_steps"], config["ga_step_size"])
    return z, stats
