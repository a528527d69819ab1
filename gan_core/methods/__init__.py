"""One module per GAN method; this registry maps method names to them."""
from __future__ import annotations

from ..config import ConfigError
from .base import Method
from . import hinge, mdgan, r1, san, unrolled, vanilla, wgan, wgan_gp

REGISTRY: dict[str, Method] = {
    m.METHOD.name: m.METHOD for m in (vanilla, wgan, wgan_gp, hinge, san, r1, unrolled, mdgan)
}


def get(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of: {', '.join(REGISTRY)}") from None
