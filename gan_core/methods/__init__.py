"""One module per GAN method; this registry maps method names to them."""
from __future__ import annotations

from typing import Any, Callable

import torch

from ..errors import ConfigError
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


def frozen_critic(state: dict[str, Any], device: torch.device | str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """A finished run's D, rebuilt from its checkpoint, as a frozen scalar function of x (for DRS)."""
    method = get(state["method"])
    config = method.resolve({k: v for k, v in state["config"].items() if k in method.schema})
    D = method.build_discriminator(config)
    D.load_state_dict(state["discriminator"])
    D.to(device).eval().requires_grad_(False)
    critic, pack = method.critic(D), config["d_pack"]
    # a packed D judges packs: one sample is scored as the pack of its own copies
    return lambda x: critic(x.repeat_interleave(pack, dim=0) if pack > 1 else x).reshape(-1)
