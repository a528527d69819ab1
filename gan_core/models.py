"""The fixed generator and the discriminators that methods may train against it."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from . import draws

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


class SpectralNorm(nn.Module):
    """W / σ(W), σ by one power iteration per forward in training (Miyato et al. 2018), as torch's
    spectral_norm computes it; the vectors are updated with copy_, which vmap can batch (torch's out= cannot)."""

    def __init__(self, weight: torch.Tensor, eps: float = 1e-12):
        super().__init__()
        self.eps = eps
        with torch.no_grad():
            self.register_buffer("_u", F.normalize(weight.new_empty(weight.shape[0]).normal_(0, 1), dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(weight.new_empty(weight[0].numel()).normal_(0, 1), dim=0, eps=eps))
            for _ in range(15):  # start near the top singular vectors, as torch does
                self._iterate(weight)

    @torch.no_grad()
    def _iterate(self, weight: torch.Tensor) -> None:
        matrix = weight.flatten(1)  # a convolution's kernel as [out, in·k·k], as torch's spectral_norm
        self._u.copy_(F.normalize(matrix @ self._v, dim=0, eps=self.eps))
        self._v.copy_(F.normalize(matrix.T @ self._u, dim=0, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._iterate(weight)
        sigma = torch.dot(self._u.clone(), weight.flatten(1) @ self._v.clone())
        return weight / sigma


def spectral_norm(layer: nn.Module) -> nn.Module:
    parametrize.register_parametrization(layer, "weight", SpectralNorm(layer.weight))
    return layer


class KeyedDropout(nn.Module):
    """Dropout whose mask is a counter-based draw (gan_core.draws) from this layer's key: a member of a
    population drops the same units as the same run alone. ``p`` and ``key`` are buffers, so members
    stacked into one population may each have their own, and so may the call counter ``calls``."""

    def __init__(self, p: float):
        super().__init__()
        self.rate = float(p)  # the layer's rate when built: 0 skips the draws altogether
        self.register_buffer("p", torch.tensor(float(p)), persistent=False)
        self.register_buffer("key", torch.tensor(0, dtype=torch.int64), persistent=False)
        self.register_buffer("calls", torch.tensor(0, dtype=torch.int64), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        self.calls.add_(1)  # in place: under vmap, each member's own count
        keep = draws.uniform(self.key, self.calls, tuple(x.shape)) >= self.p
        return x * keep / (1.0 - self.p)


def minibatch_std(h: torch.Tensor) -> torch.Tensor:
    """h with one more feature: the mean over features of their std across the batch (Karras et al. 2018),
    which lets D see a batch's lack of variety (a collapsing G)."""
    std = torch.sqrt(h.var(0, unbiased=False) + 1e-8).mean()
    return torch.cat([h, std.expand(*h.shape[:-1], 1)], dim=-1)


def mlp_body(in_dim: int, hidden: tuple[int, ...], wrap, dropout: float) -> tuple[nn.Sequential, int]:
    """The baseline MLP's hidden layers and their output width."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        # a dropout layer even at rate 0 (an identity then): every D of a method has the same
        # parameter names, so members with and without dropout stack into one population
        layers += [wrap(nn.Linear(width, h)), nn.LeakyReLU(0.2), KeyedDropout(dropout)]
        width = h
    return nn.Sequential(*layers), width


def conv_body(channels: int, width: int, wrap, dropout: float) -> tuple[nn.Sequential, int]:
    """Two strided 4×4 convolutions (28→14→7, ``width`` then 2·``width`` channels), DCGAN-style, flattened."""
    layers = [nn.Unflatten(1, (channels, 28, 28)),
              wrap(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2),
              wrap(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
              nn.Flatten(1), KeyedDropout(dropout)]
    return nn.Sequential(*layers), 2 * width * 7 * 7


class Discriminator(nn.Module):
    """The discriminator, returning logits (no sigmoid): the baseline MLP 784→1024→512→256→out, or
    (``arch="conv"``) two strided convolutions; optionally a minibatch-std feature before the head and
    PacGAN packing (Lin et al. 2018: D judges ``pack`` samples at once, one logit per pack).

    ``features(x)`` is the last hidden layer h(x); ``logits`` applies the head; ``forward(x, part)``
    returns either (a population reaches each part through the one forward it batches).
    ``out_dim`` > 1 gives an embedding head (MD-GAN); ``in_dim`` and ``hidden`` change only
    for the 2-D toy problems (gan_core.toy), never on MNIST.
    """
    parts = ("logits", "features")

    def __init__(self, *, dropout: float = 0.0, spectral_norm: bool = False, out_dim: int = 1,
                 in_dim: int = IMAGE_DIM, hidden: tuple[int, ...] = (1024, 512, 256),
                 arch: str = "mlp", width: int = 64, mbstd: bool = False, pack: int = 1):
        super().__init__()
        wrap = globals()["spectral_norm"] if spectral_norm else (lambda m: m)
        self.pack, self.mbstd = pack, mbstd
        if arch == "conv":
            self.body, features = conv_body(pack, width, wrap, dropout)
        else:
            self.body, features = mlp_body(in_dim * pack, hidden, wrap, dropout)
        self.feature_dim = features + int(mbstd)
        # out_dim=0 leaves the head to a subclass (SAN's direction ω).
        self.head = wrap(nn.Linear(self.feature_dim, out_dim)) if out_dim else None

    def seed_dropout(self, seed: int) -> None:
        """Key each dropout layer's stream to the run's seed (a distinct stream per layer)."""
        layers = [m for m in self.modules() if isinstance(m, KeyedDropout)]
        for i, layer in enumerate(layers):
            layer.key.copy_(draws.key_for(seed, stream=1 + i))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.pack > 1:  # consecutive samples side by side: [B, 784] → [B/pack, pack·784]
            x = x.reshape(x.shape[0] // self.pack, -1)
        h = self.body(x)
        return minibatch_std(h) if self.mbstd else h

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x))
        return out.squeeze(-1) if out.shape[-1] == 1 else out

    def forward(self, x: torch.Tensor, part: str = "logits") -> torch.Tensor:
        if part not in self.parts:
            raise ValueError(f"{type(self).__name__} has no part {part!r}; it has {', '.join(self.parts)}")
        return getattr(self, part)(x)


class SANDiscriminator(Discriminator):
    """SAN (Takida et al., ICLR 2024): f(x) = <ω, h(x)> with ω on the unit sphere.

    ω replaces the linear head and has no bias: SAN's direction is a pure projection.
    """
    parts = ("logits", "features", "split_logits")

    def __init__(self, **kwargs):
        super().__init__(out_dim=0, **kwargs)
        self.omega = nn.Parameter(torch.randn(self.feature_dim) / self.feature_dim ** 0.5)

    def direction(self) -> torch.Tensor:
        return self.omega / self.omega.norm().clamp_min(1e-12)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
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
