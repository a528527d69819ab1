"""Named configurations: the seeds' hand-tuned runs behind the numbers the product must beat.

``gan train --preset seed-san`` reproduces one; ``gan methods`` lists them; each study's
first trial (``points_to_evaluate``) is its method's seed, so a study starts from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    method: str
    config: dict[str, Any] = field(default_factory=dict)
    doc: str = ""


# The protocol's budget and the course baseline (Adam 2e-4, default betas, batch 64, no
# averaging) unless the seed's method says otherwise; the FIDs are the seeds' own figures.
PRESETS: dict[str, Preset] = {
    "seed-vanilla": Preset("vanilla", {"epochs": 100, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4},
                           "the course template: BCE, Adam 2e-4 (0.9, 0.999), batch 64 (seed FID 28)"),
    "seed-hinge": Preset("hinge", {"epochs": 100, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4},
                         "hinge loss with the template's optimizer (seed FID 22)"),
    "seed-san": Preset("san", {"epochs": 100, "batch_size": 64, "san_lambda": 1.0, "d_dropout": 0.0,
                               "lr_g": 2e-4, "lr_d": 2e-4},
                       "SAN, λ 1, batch 64, no dropout, the template's Adam (seed FID 19.0)"),
    "seed-wgan_gp": Preset("wgan_gp", {"epochs": 100, "batch_size": 64, "gp_lambda": 10.0, "n_critic": 5,
                                       "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
                           "WGAN-GP, the paper's λ 10, n_critic 5, Adam 1e-4 (0, 0.9) (seed FID 16)"),
}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def seed_point(method: str) -> dict[str, Any]:
    """The seed preset's config for ``method`` ({} when it has none)."""
    preset = PRESETS.get(f"seed-{method}")
    return dict(preset.config) if preset else {}
