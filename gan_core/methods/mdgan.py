"""MD-GAN, Mixture Density GAN (Eghbal-zadeh et al., CVPR 2019).

D embeds x as e = D(x). A fixed mixture lk(e) = Σ_i 1/C·N(e; μ_i, σ²I), with means on
the vertices of a regular simplex, scores it. D maximizes log lk(D(x)) + log(λ − lk(D(G(z))));
G minimizes −log lk(D(G(z))). Each mode of the data can settle in its own component,
which is what resists mode collapse.
"""
from __future__ import annotations


import torch
from torch import nn

from .. import losses
from ..config import ConfigError, Param
from ..models import Discriminator
from .base import Method, body


def check_dims(components: int, dim: int) -> None:
    if dim < components - 1:
        raise ConfigError(f"md_dim must be >= md_components - 1 = {components - 1} "
                          f"(a simplex of C vertices needs C - 1 dimensions), got {dim}")


def simplex_vertices(components: int, dim: int, scale: float) -> torch.Tensor:
    """C vertices of a regular simplex (edge scale·√2) centred at 0, as a [C, dim] tensor.

    dim = C - 1 uses the simplex's own hyperplane; dim >= C pads zeros after C coordinates.
    """
    check_dims(components, dim)
    centred = scale * (torch.eye(components, dtype=torch.float64) - 1.0 / components)
    if dim == components - 1:
        # The first C-1 centred vertices span the sum-zero hyperplane; QR gives it orthonormal axes.
        basis, _ = torch.linalg.qr(centred[:, :-1])
        return (centred @ basis).float()
    return nn.functional.pad(centred, (0, dim - components)).float()


class SimplexMixture(nn.Module):
    """log lk(e) of the fixed mixture, and ``log_max``: log lk at its mode, found by mean shift
    from a vertex (overlapping components move the mode off the vertex, so λ = max lk needs it)."""

    def __init__(self, components: int, dim: int, scale: float, sigma: float):
        super().__init__()
        # Not persistent: the means follow from the config, and D's state_dict keeps the baseline keys.
        self.register_buffer("means", simplex_vertices(components, dim, scale), persistent=False)
        self.sigma = sigma
        self.log_max = float(self(self._mode()))

    @torch.no_grad()
    def _mode(self, iterations: int = 500) -> torch.Tensor:
        e = self.means[:1].double()
        means = self.means.double()
        for _ in range(iterations):  # mean shift: a fixed point of e = Σ r_i(e) μ_i is a mode
            resp = torch.softmax(-0.5 * (e - means).pow(2).sum(1) / self.sigma ** 2, dim=0)
            e = (resp[:, None] * means).sum(0, keepdim=True)
        return e.float()

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return losses.mixture_log_likelihood(e, self.means, self.sigma)


class MDDiscriminator(Discriminator):
    """The baseline MLP with an md_dim embedding head, scored by a fixed simplex mixture."""
    parts = ("logits", "features", "log_likelihood")

    def __init__(self, mixture: SimplexMixture, **kwargs):
        super().__init__(out_dim=mixture.means.shape[1], **kwargs)
        self.mixture = mixture

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixture(self(x))


class MDGAN(Method):
    name = "mdgan"
    doc = "D embeds into a fixed Gaussian mixture on a simplex; fakes are pushed off its modes."
    params = {
        "md_components": Param(10, int, low=2, high=100, help="mixture components C"),
        "md_dim": Param(9, int, low=2, high=256, help="embedding dimension (>= md_components - 1)"),
        "md_scale": Param(1.0, float, low=0.0, high=100.0, low_open=True,
                          help="simplex size: vertices md_scale·√2 apart (about unit norm)"),
        "md_sigma": Param(0.5, float, low=0.0, high=100.0, low_open=True,
                          help="shared isotropic std σ of the components"),
        "md_lambda": Param(1.0, float, low=1.0, high=1e6,
                           help="λ as a multiple of max lk (at least 1: λ must not be below any lk)"),
        # D's loss is the mixture game's own; ``loss`` picks G's side of it.
        "loss": Param("minimax", str, choices=("minimax", "non_saturating"),
                      help="G minimizes E log(λ − lk(D(G(z)))) (minimax: the paper's game), or −E log lk"),
        # Spectral norm bounds how far D can stretch its embedding against the fixed mixture; without
        # it MD-GAN kept 1-3 of 8 modes on the 2-D ring in every setting tried, with it 8 of 8.
        "d_spectral_norm": Param(True, bool),
    }

    def resolve(self, user):
        config = super().resolve(user)
        check_dims(config["md_components"], config["md_dim"])
        return config

    def build_discriminator(self, config, **shape):
        mixture = SimplexMixture(config["md_components"], config["md_dim"], config["md_scale"],
                                 config["md_sigma"])
        return MDDiscriminator(mixture, **body(config), **shape)

    def critic(self, D):
        return D.log_likelihood

    @staticmethod
    def log_lambda(D, config):
        """log λ = log(md_lambda) + log max lk: a number, or a population's [K] tensor."""
        return torch.log(torch.as_tensor(config["md_lambda"], dtype=torch.float64)).float() + D.mixture.log_max

    def discriminator_loss(self, D, real, fake, config, rng):
        lk_real, lk_fake = D.log_likelihood(real), D.log_likelihood(fake)
        loss = losses.mdgan_loss_dis(lk_real, lk_fake, self.log_lambda(D, config))
        return loss + self.penalties(D, real, fake, config, rng), {"d_real": lk_real.mean(-1),
                                                                    "d_fake": lk_fake.mean(-1)}

    def generator_loss(self, D, fake, config, next_real):
        if config["loss"] == "non_saturating":
            return losses.mdgan_ns_loss_gen(D.log_likelihood(fake))
        return losses.mdgan_loss_gen(D.log_likelihood(fake), self.log_lambda(D, config))


METHOD = MDGAN()
