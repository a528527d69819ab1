"""The fixed generator and the discriminators that methods may train against it."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

LATENT_DIM = 100
IMAGE_DIM = 784


class Generator(nn.Module):
    """The course generator. Fixed: do not change layers, sizes or activations.

    Its state_dict keys are fc1.* … fc4.*, so checkpoints load into the course's
    ``Generator(g_output_dim=784)``.
    """

    def __init__(self, g_output_dim: int = IMAGE_DIM):
        super().__init__()
        self.fc1 = nn.Linear(LATENT_DIM, 256)
        self.fc2 = nn.Linear(self.fc1.out_features, self.fc1.out_features * 2)
        self.fc3 = nn.Linear(self.fc2.out_features, self.fc2.out_features * 2)
        self.fc4 = nn.Linear(self.fc3.out_features, g_output_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fc1(z), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        x = F.leaky_relu(self.fc3(x), 0.2)
        return torch.tanh(self.fc4(x))


class Discriminator(nn.Module):
    """The baseline MLP 784→1024→512→256→out, returning logits (no sigmoid).

    ``features(x)`` is the last hidden layer h(x); ``forward`` applies the head.
    ``out_dim`` > 1 gives an embedding head (MD-GAN); ``in_dim`` and ``hidden`` change only
    for the 2-D toy problems (gan_core.toy), never on MNIST.
    """

    def __init__(self, *, dropout: float = 0.0, spectral_norm: bool = False, out_dim: int = 1,
                 in_dim: int = IMAGE_DIM, hidden: tuple[int, ...] = (1024, 512, 256)):
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [wrap(nn.Linear(width, h)), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        # out_dim=0 leaves the head to a subclass (SAN's direction ω).
        self.head = wrap(nn.Linear(width, out_dim)) if out_dim else None
        self.feature_dim = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x))
        return out.squeeze(-1) if out.shape[-1] == 1 else out


class SANDiscriminator(Discriminator):
    """SAN (Takida et al., ICLR 2024): f(x) = <ω, h(x)> with ω on the unit sphere.

    ω replaces the linear head and has no bias: SAN's direction is a pure projection.
    """

    def __init__(self, **kwargs):
        super().__init__(out_dim=0, **kwargs)
        self.omega = nn.Parameter(torch.randn(self.feature_dim) / self.feature_dim ** 0.5)

    def direction(self) -> torch.Tensor:
        return self.omega / self.omega.norm().clamp_min(1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.direction()

    def split_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(⟨ω⁻, h(x)⟩, ⟨ω, h(x)⁻⟩): the logits that train h and ω respectively."""
        h = self.features(x)
        omega = self.direction()
        return h @ omega.detach(), h.detach() @ omega


def frozen_generator(state_dict: dict, device: torch.device | str = "cpu") -> Generator:
    """A Generator with ``state_dict`` loaded, in eval mode and without gradients: for sampling."""
    G = Generator()
    G.load_state_dict(state_dict)
    return G.to(device).eval().requires_grad_(False)
