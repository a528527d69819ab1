"""WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1)."""
import torch

from .. import losses
from ..config import COMMON, Param, lr
from .base import Method, loss_param


class WGAN(Method):
    name = "wgan"
    doc = "Wasserstein critic clipped to [-c, c] after each update; RMSProp 5e-5, n_critic 5."
    params = {
        "loss": loss_param("wasserstein"),
        "clip": Param(0.01, float, low=0.0, high=10.0, low_open=True, help="weight clipping bound c"),
        "optimizer": Param("rmsprop", str, choices=COMMON["optimizer"].choices),
        "lr_g": lr(5e-5),
        "lr_d": lr(5e-5),
        "n_critic": Param(5, int, low=1, high=100),
    }

    @torch.no_grad()
    def after_discriminator_step(self, D, config):
        for p in D.parameters():
            c = losses.per_member(config["clip"], p)  # a population's members may each have their own
            p.clamp_(-c, c)


METHOD = WGAN()
