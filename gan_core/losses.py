"""Pure loss and penalty functions. Methods compose these; nothing here holds state.

Discriminator outputs are logits. Names follow torch-mimicry: <loss>_loss_dis / _gen.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def minimax_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """BCE: -E[log D(x)] - E[log(1 - D(G(z)))] on logits."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def ns_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -E[log D(G(z))]."""
    return F.softplus(-fake).mean()


def wasserstein_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def hinge_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def least_squares_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN with a=0, b=1: ½E[(D(x)-1)²] + ½E[D(G(z))²]."""
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean()


def least_squares_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates x̂."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device,
                     generator=generator)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E‖∇D(x_real)‖²; the method multiplies by γ/2."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def san_direction_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SAN's ω term: Wasserstein loss on ⟨ω, h⁻(x)⟩; the method weights it by λ."""
    return wasserstein_loss_dis(real, fake)


LOSSES_DIS = {
    "minimax": minimax_loss_dis,
    "wasserstein": wasserstein_loss_dis,
    "hinge": hinge_loss_dis,
    "least_squares": least_squares_loss_dis,
}
LOSSES_GEN = {
    "minimax": ns_loss_gen,
    "wasserstein": wasserstein_loss_gen,
    "hinge": hinge_loss_gen,
    "least_squares": least_squares_loss_gen,
}
