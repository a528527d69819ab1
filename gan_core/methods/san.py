"""SAN, the Slicing Adversarial Network (Takida et al., ICLR 2024); hinge SAN by default.

f(x) = ⟨ω, h(x)⟩ with ‖ω‖ = 1. The feature map h is trained by the config's D loss (``loss``,
hinge by default) on ⟨ω⁻, h⟩; the direction ω by λ·Wasserstein loss on ⟨ω, h⁻⟩ (⁻: stop-gradient).
"""
from .. import losses
from ..config import Param
from ..models import SANDiscriminator
from .base import Method, body, loss_param


class SAN(Method):
    name = "san"
    doc = "The config's loss (hinge) on h with ω frozen, plus λ·Wasserstein loss on ω with h frozen."
    params = {
        "loss": loss_param("hinge"),
        "san_lambda": Param(1.0, float, low=0.0, high=100.0, low_open=True,
                            help="weight λ of the direction (ω) term"),
    }

    def build_discriminator(self, config, **shape):
        return SANDiscriminator(**body(config), **shape)

    def discriminator_loss(self, D, real, fake, config, rng):
        real_h, real_w = D.split_logits(real)
        fake_h, fake_w = D.split_logits(fake)
        loss_h = losses.LOSSES[config["loss"]].dis(real_h, fake_h)
        loss_w = losses.san_direction_loss_dis(real_w, fake_w)
        loss = loss_h + config["san_lambda"] * loss_w + self.penalties(D, real, fake, config, rng)
        return loss, {"d_real": real_h.mean(-1), "d_fake": fake_h.mean(-1)}


METHOD = SAN()
