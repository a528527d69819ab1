"""Post-hoc samplers on a finished run: plain, DRS and latent reweighting (RS, GA, RS+GA).

``draw`` is the one entry for sampling from a finished run: it needs the run's generator,
its checkpoint (DRS reads its D), and a fitted sampler's checkpoint where the sampler needs
one (``sweeps/drs.py``, ``sweeps/latent_reweighting.py`` fit them). DRS has nothing to
train, so without a fitted state it is calibrated on the spot with its job's defaults.
No training object is built: sampling calls the samplers' own functions.
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError, ModelNotFoundError
from ..methods import frozen_critic
from ..models import LATENT_DIM
from .jobs import JOBS, DRSJob, fit_drs, fitted_drs
from .latent import SAMPLERS as LATENT_SAMPLERS, ImportanceNetwork, draw_latents

SAMPLERS: tuple[str, ...] = ("plain", "drs", *LATENT_SAMPLERS)
JOB_OF = {"drs": "drs", **{s: "latent_reweighting" for s in LATENT_SAMPLERS}}  # sampler -> the job that fits it

__all__ = ["SAMPLERS", "JOBS", "JOB_OF", "check_sampler", "draw"]


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")


def _plain(G, base, fitted, n, rng):
    device = next(G.parameters()).device
    return G(torch.randn(n, LATENT_DIM, generator=rng).to(device))


def _drs(G, base, fitted, n, rng):
    device = next(G.parameters()).device
    critic = frozen_critic(base, device)
    if fitted is None:  # no DRS job was run on this generator: calibrate with the job's defaults
        config = {k: p.default for k, p in DRSJob.params.items()}
        sampler = fit_drs(G, critic, config, rng)
    else:
        sampler = fitted_drs(critic, fitted["config"], fitted["drs"])
    return sampler.sample(G, n, rng=rng)[0]


def _latent(name):
    def draw_with(G, base, fitted, n, rng):
        if fitted is None:
            raise ModelNotFoundError(f"sampler {name!r} needs a fitted importance network for this run; "
                                     f"run sweeps/latent_reweighting.py --base <the run>")
        device = next(G.parameters()).device
        w = ImportanceNetwork().to(device)
        w.load_state_dict(fitted["w"])
        z, _ = draw_latents(w.eval().requires_grad_(False), name, n, fitted["config"], rng=rng, device=device)
        return G(z)
    return draw_with


DRAW = {"plain": _plain, "drs": _drs, **{name: _latent(name) for name in LATENT_SAMPLERS}}


@torch.no_grad()
def draw(sampler: str, n: int, *, generator: torch.nn.Module, base: dict[str, Any],
         fitted: dict[str, Any] | None = None, seed: int | None = None) -> torch.Tensor:
    """n samples [n, 1, 28, 28] in [-1, 1] from ``generator`` (the run's checkpoint ``base``) through
    ``sampler``; ``fitted`` is the checkpoint of the job that fitted it, if any."""
    check_sampler(sampler)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    # no seed: one drawn from the global RNG, which a reseed would disturb
    seed = seed if seed is not None else int(torch.randint(2 ** 62, ()))
    rng = torch.Generator().manual_seed(seed)
    x = DRAW[sampler](generator, base, fitted, n, rng)
    return x.reshape(n, 1, 28, 28).clamp(-1, 1)
