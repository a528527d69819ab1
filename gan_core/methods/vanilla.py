"""Vanilla GAN (Goodfellow et al. 2014): BCE D loss, non-saturating G loss; course defaults."""
from .base import Method

METHOD = Method(
    "vanilla", doc="BCE discriminator loss, non-saturating generator loss; Adam 2e-4, betas (0.9, 0.999), batch 64.",
)
