"""Discriminator rejection sampling, DRS (Azadi et al., ICLR 2019).

1. Calibrate: D's raw output d(x) becomes a logit D̃ = a·d(x) + b, fitted by logistic regression
   on real and fresh fake images. Then D̃ ≈ log p_data(x)/p_g(x) for any method's D, including
   Wasserstein critics and SAN, whose raw outputs are not logits.
2. Burn-in: M = the largest D̃ over ``burn_in`` fakes, raised whenever a larger value appears.
3. Accept x with p = σ(F̂(x)), F̂ = D̃ − M − log(1 − exp(D̃ − M − ε)) − γ, where γ is the
   ``percentile``-th percentile of F = F̂ + γ over each batch of proposals (the paper's choice).
   With γ = 0 and ε → 0, p = exp(D̃ − M): exact rejection sampling.

Real images for calibration come from the training set: the test set is the evaluation
reference and must stay unseen. Fitting two numbers on images D trained on barely overfits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import to_unit_range
from ..models import LATENT_DIM
from .rejection import BATCH, rejection_sample


def acceptance_logit(logit: torch.Tensor, max_logit: float, eps: float) -> torch.Tensor:
    """F(x) = D̃ − M − log(1 − exp(D̃ − M − ε)), before the shift by γ."""
    delta = logit - max_logit
    return delta - torch.log1p(-torch.exp(delta - eps))


def acceptance_probability(logit: torch.Tensor, max_logit: float, gamma: float, eps: float) -> torch.Tensor:
    return torch.sigmoid(acceptance_logit(logit, max_logit, eps) - gamma)


def fit_calibration(raw_real: torch.Tensor, raw_fake: torch.Tensor) -> tuple[float, float]:
    """(a, b) of the logistic regression σ(a·d + b) separating real (1) from fake (0) outputs."""
    d = torch.cat([raw_real, raw_fake]).double()
    target = torch.cat([torch.ones_like(raw_real), torch.zeros_like(raw_fake)]).double()
    scale = d.std().clamp_min(1e-12)  # standardize so LBFGS starts well-conditioned for any critic range
    params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * d / scale + params[1], target)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = params.detach().tolist()
    return a / float(scale), b


@dataclass
class DRS:
    critic: Callable[[torch.Tensor], torch.Tensor]  # x in [-1, 1], [B, 784] -> raw output [B]
    scale: float
    shift: float
    max_logit: float
    percentile: float | None  # None: γ = 0, exact rejection sampling (needs an exact log-ratio)
    eps: float
    latent_dim: int = LATENT_DIM

    @torch.no_grad()
    def logit(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.critic(x).double() + self.shift

    @torch.no_grad()
    def sample(self, generator: torch.nn.Module, n: int, *,
               rng: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """n accepted samples [n, 784] in [-1, 1], and the acceptance statistics."""
        device = next(generator.parameters()).device

        def propose(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = generator(torch.randn(batch, self.latent_dim, generator=rng).to(device)).flatten(1)
            logit = self.logit(x)
            self.max_logit = max(self.max_logit, float(logit.max()))  # M keeps rising with new maxima
            f = acceptance_logit(logit, self.max_logit, self.eps)
            gamma = 0.0 if self.percentile is None else float(np.percentile(f.cpu().numpy(), self.percentile))
            return x, acceptance_probability(logit, self.max_logit, gamma, self.eps)

        return rejection_sample(propose, n, rng=rng, what="DRS (lower drs_percentile)")

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "shift": self.shift, "max_logit": self.max_logit}


@torch.no_grad()
def fit(generator: torch.nn.Module, critic: Callable[[torch.Tensor], torch.Tensor], real_u8: torch.Tensor, *,
        percentile: float | None, eps: float, calibration_samples: int, burn_in: int, rng: torch.Generator) -> DRS:
    """Calibrate ``critic`` on ``calibration_samples`` real and fake images, then burn in M."""
    device = next(generator.parameters()).device

    def fakes(n: int) -> torch.Tensor:
        return generator(torch.randn(n, LATENT_DIM, generator=rng).to(device)).flatten(1)

    idx = torch.randperm(real_u8.shape[0], generator=rng)[:calibration_samples]
    real = to_unit_range(real_u8[idx].to(device))
    scale, shift = fit_calibration(critic(real).double().cpu(), critic(fakes(calibration_samples)).double().cpu())
    drs = DRS(critic, scale, shift, -float("inf"), percentile, eps)
    for start in range(0, burn_in, BATCH):
        drs.max_logit = max(drs.max_logit, float(drs.logit(fakes(min(BATCH, burn_in - start))).max()))
    return drs
