"""Pure loss and penalty functions, and the tables a config picks them from (``loss``, penalty weights).

Discriminator outputs are logits. Names follow torch-mimicry: <loss>_loss_dis / _gen. Adding a
loss is its functions here and one entry in ``LOSSES``; every method's ``loss`` key accepts it.
Every reduction is over the last (batch) axis only, so a population's [K, B] outputs give one
loss per member, and a run's [B] outputs the usual scalar.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, NamedTuple

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .draws import Draws


def minimax_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """BCE: -E[log D(x)] - E[log(1 - D(G(z)))] on logits."""
    return F.softplus(-real).mean(-1) + F.softplus(fake).mean(-1)


def minimax_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """The original (saturating) minimax generator loss: E[log(1 - D(G(z)))]."""
    return -F.softplus(fake).mean(-1)


def ns_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -E[log D(G(z))]."""
    return F.softplus(-fake).mean(-1)


def wasserstein_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean(-1) - real.mean(-1)


def wasserstein_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean(-1)


def hinge_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean(-1) + F.relu(1.0 + fake).mean(-1)


def hinge_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean(-1)


def least_squares_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN with a=0, b=1: ½E[(D(x)-1)²] + ½E[D(G(z))²]."""
    return 0.5 * ((real - 1.0) ** 2).mean(-1) + 0.5 * (fake ** 2).mean(-1)


def least_squares_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean(-1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     rng: "Draws") -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates x̂ (flat images)."""
    eps = rng.uniform(real.shape[-2], 1).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=-1) - 1.0) ** 2).mean(-1)


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
               fake: torch.Tensor | None = None, rng: "Draws | None" = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E‖∇D(x_real)‖² (fakes unused); weighted by γ/2 in ``PENALTIES``."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.pow(2).sum(-1).mean(-1)


def san_direction_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SAN's ω term: Wasserstein loss on ⟨ω, h⁻(x)⟩; the method weights it by λ."""
    return wasserstein_loss_dis(real, fake)


def mixture_log_likelihood(e: torch.Tensor, means: torch.Tensor, sigma: float) -> torch.Tensor:
    """MD-GAN's log lk(e) = log Σ_i 1/C·N(e; μ_i, σ²I) per row, via logsumexp (lk underflows in high d)."""
    components, dim = means.shape
    sq_dist = (e.unsqueeze(-2) - means).pow(2).sum(-1)  # not cdist: its gradient is NaN at distance 0
    log_norm = -0.5 * dim * math.log(2 * math.pi * sigma ** 2) - math.log(components)
    return torch.logsumexp(-0.5 * sq_dist / sigma ** 2, dim=-1) + log_norm


def per_member(value, like: torch.Tensor):
    """A hyperparameter (a number, or a population's [K] tensor) shaped to broadcast against ``like`` [K, ...]."""
    if not torch.is_tensor(value) or value.dim() == 0:
        return value
    return value.view(*value.shape, *([1] * (like.dim() - value.dim())))


def is_off(weight) -> bool:
    """A penalty weight that is 0 for the run (or every member); a per-member tensor is never skipped."""
    return not torch.is_tensor(weight) and weight == 0


def log_lambda_minus_lk(log_lk: torch.Tensor, log_lambda, eps: float = 1e-6) -> torch.Tensor:
    """log(λ − lk + ελ), computed from log lk. ε keeps it finite and differentiable where lk
    reaches λ (λ = max lk is allowed); lk/λ is capped at 1 in case lk ever exceeds λ."""
    log_lambda = per_member(log_lambda, log_lk)
    ratio = torch.exp(log_lk - log_lambda).clamp(max=1.0)
    return log_lambda + torch.log1p(eps - ratio)


def mdgan_loss_dis(log_lk_real: torch.Tensor, log_lk_fake: torch.Tensor, log_lambda,
                   eps: float = 1e-6) -> torch.Tensor:
    """MD-GAN (Eghbal-zadeh et al. 2019): -E[log lk(D(x))] - E[log(λ − lk(D(G(z))))]."""
    return -log_lk_real.mean(-1) - log_lambda_minus_lk(log_lk_fake, log_lambda, eps).mean(-1)


def mdgan_loss_gen(log_lk_fake: torch.Tensor, log_lambda, eps: float = 1e-6) -> torch.Tensor:
    """MD-GAN's generator side of the same minimax value: E[log(λ − lk(D(G(z))))]."""
    return log_lambda_minus_lk(log_lk_fake, log_lambda, eps).mean(-1)


def mdgan_ns_loss_gen(log_lk_fake: torch.Tensor) -> torch.Tensor:
    """A non-saturating alternative for G: -E[log lk(D(G(z)))]."""
    return -log_lk_fake.mean(-1)


def importance_weight_loss(w: torch.Tensor, critic_values: torch.Tensor, *, delta: torch.Tensor | float,
                           lambda1: float, lambda2: float, m: float) -> torch.Tensor:
    """Latent reweighting (Issenhuth et al. 2023), negated to minimize:
    -(E[w(z)(D(G(z)) − Δ)] − λ1(E[w(z)] − 1)² − λ2 E[max(0, w(z) − m)²])."""
    gain = (w * (critic_values - delta)).mean()
    mass = (w.mean() - 1.0) ** 2
    over = F.relu(w - m).pow(2).mean()
    return -(gain - lambda1 * mass - lambda2 * over)


class LossPair(NamedTuple):
    dis: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (D(real), D(fake)) logits -> D's loss
    gen: Callable[[torch.Tensor], torch.Tensor]                # D(G(z)) logits -> G's loss


# The config key ``loss`` names one of these D/G pairs.
LOSSES: dict[str, LossPair] = {
    "minimax": LossPair(minimax_loss_dis, minimax_loss_gen),
    "non_saturating": LossPair(minimax_loss_dis, ns_loss_gen),
    "wasserstein": LossPair(wasserstein_loss_dis, wasserstein_loss_gen),
    "hinge": LossPair(hinge_loss_dis, hinge_loss_gen),
    "least_squares": LossPair(least_squares_loss_dis, least_squares_loss_gen),
}


class Penalty(NamedTuple):
    term: Callable[..., torch.Tensor]  # (critic, real, fake, rng) -> the penalty
    scale: float                       # the paper's constant in front of the config weight


# Config weight key -> penalty on D's scalar critic; a weight of 0 leaves it out.
PENALTIES: dict[str, Penalty] = {
    "gp_lambda": Penalty(gradient_penalty, 1.0),
    "r1_gamma": Penalty(r1_penalty, 0.5),
}
