"""What a GAN method is: its parameters and defaults, its discriminator, its losses and its trainer.

compare_gan style: the D/G loss pair (``loss``) and the penalties (``gp_lambda``, ``r1_gamma``)
are looked up from config, so one class serves every loss × penalty × normalization; a method
module only sets defaults or overrides the one piece that differs (SAN's split logits, WGAN's clip).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from .. import augment, losses
from ..config import COMMON, Param, resolve
from ..errors import ConfigError
from ..gan_trainer import GanTrainer, schedule
from ..models import Discriminator

if TYPE_CHECKING:
    from ..draws import Draws


def body(config: dict) -> dict[str, Any]:
    """The discriminator's shape from config: what every method's D is built with."""
    return dict(dropout=config["d_dropout"], spectral_norm=config["d_spectral_norm"], arch=config["d_arch"],
                width=config["d_width"], mbstd=config["d_mbstd"], pack=config["d_pack"])


def loss_param(default: str, choices: tuple[str, ...] = tuple(losses.LOSSES)) -> Param:
    return Param(default, str, choices=choices, help="the D/G loss pair: " + ", ".join(choices))


class Method:
    name: str = ""
    params: dict[str, Param] = {}
    doc: str = ""

    def __init__(self, name: str | None = None, *, params: dict[str, Param] | None = None, doc: str = ""):
        self.name = name or self.name
        self.params = {**type(self).params, **(params or {})}
        self.doc = doc or self.doc

    @property
    def schema(self) -> dict[str, Param]:
        return {**COMMON, **self.params}

    def resolve(self, user: dict[str, Any] | None) -> dict:
        config = resolve(self.schema, user, method=self.name)
        augment.parse(config["augment"])
        if config["batch_size"] % config["d_pack"]:
            raise ConfigError(f"d_pack={config['d_pack']} must divide batch_size={config['batch_size']} "
                              f"(D judges packs of d_pack samples)")
        return config

    def trainer(self, config: dict, device: torch.device, base: dict[str, Any] | None = None) -> GanTrainer:
        """What ``loop.drive`` steps; a GAN method trains from scratch, so ``base`` is unused."""
        return GanTrainer(self, config, device)

    def planned_reports(self, config: dict) -> int:
        """How many reports a run with this resolved config makes (ASHA's max_t)."""
        total, every = schedule(config)
        return math.ceil(total / every)

    def build_discriminator(self, config: dict, **shape) -> nn.Module:
        """The method's D; ``shape`` (in_dim, hidden) is set only by the 2-D toy problems."""
        return Discriminator(**body(config), **shape)

    def critic(self, D: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """The scalar logit that penalties and samplers (DRS) read."""
        return D

    # Shapes: a run's tensors are [B, ...] and its hyperparameters numbers; a population's tensors are
    # [K, B, ...] and a hyperparameter that differs between members is a [K] tensor. Losses reduce
    # over the batch only, so they return a scalar or one loss per member; code never branches on
    # a per-member value.
    def discriminator_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, config: dict,
                           rng: "Draws") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = D(real), D(fake)
        loss = losses.LOSSES[config["loss"]].dis(d_real, d_fake)
        return loss + self.penalties(D, real, fake, config, rng), {"d_real": d_real.mean(-1),
                                                                    "d_fake": d_fake.mean(-1)}

    def penalties(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, config: dict,
                  rng: "Draws") -> torch.Tensor | float:
        """Σ weight · scale · penalty over ``losses.PENALTIES`` whose weight is not 0."""
        total = 0.0
        for key, penalty in losses.PENALTIES.items():
            if not losses.is_off(config[key]):
                total = total + config[key] * penalty.scale * penalty.term(self.critic(D), real, fake, rng)
        return total

    def after_discriminator_step(self, D: nn.Module, config: dict) -> None:
        """Hook for constraints applied to D's weights after its update (WGAN's clip)."""

    def generator_loss(self, D: nn.Module, fake: torch.Tensor, config: dict,
                       next_real: Callable[[], torch.Tensor]) -> torch.Tensor:
        return losses.LOSSES[config["loss"]].gen(D(fake))
