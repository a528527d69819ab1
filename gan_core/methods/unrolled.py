"""Unrolled GAN (Metz et al. 2017): G's loss is taken against D after k simulated updates.

The k updates run on a functional copy of D's parameters with create_graph=True, so
G's gradient flows through them and G is penalized for what D would learn next.
The simulated update is plain SGD with lr_d (Metz unrolled Adam; D's real Adam
moments are not visible to the method, and fresh moments reduce Adam to sign steps).
Penalties are left out of the unroll: they would need third-order gradients.
"""
import torch
from torch.func import functional_call

from .. import losses
from ..config import Param
from ..errors import ConfigError
from .base import Method


class Unrolled(Method):
    name = "unrolled"
    doc = "Vanilla GAN whose generator loss looks k SGD steps ahead of the discriminator."
    params = {
        "unroll_steps": Param(5, int, low=0, high=20,
                              help="simulated D updates in G's loss (0: vanilla)"),
    }

    def resolve(self, user):
        config = super().resolve(user)
        # the unroll scores real and fake in one call on D's bare module: packs would straddle the two,
        # the batch's std would mix them, and augmentation would not be drawn
        for key, off in (("d_pack", 1), ("d_mbstd", False), ("augment", "none")):
            if config[key] != off and config["unroll_steps"] > 0:
                raise ConfigError(f"unrolled does not support {key}={config[key]!r} "
                                  f"(set unroll_steps=0 or {key}={off!r})")
        return config

    def generator_loss(self, D, fake, config, next_real):
        k = config["unroll_steps"]
        if k == 0:
            return super().generator_loss(D, fake, config, next_real)
        D = getattr(D, "_orig_mod", D)  # torch.compile has no double backward: unroll the eager module
        # Detached leaves: the loop froze D for G's step, and the unroll must not write into D.
        params = {name: p.detach().requires_grad_(True) for name, p in D.named_parameters()}
        loss_dis, loss_gen = losses.LOSSES[config["loss"]]
        for _ in range(k):
            real = next_real()
            logits = functional_call(D, params, (torch.cat([real, fake]),))
            loss_d = loss_dis(logits[:real.shape[0]], logits[real.shape[0]:])
            grads = torch.autograd.grad(loss_d, list(params.values()), create_graph=True)
            params = {name: p - config["lr_d"] * g for (name, p), g in zip(params.items(), grads)}
        return loss_gen(functional_call(D, params, (fake,)))


METHOD = Unrolled()
