"""Which configs can share one population: one method, the same shape-changing settings; the rest per member.

A member may differ from the others in every float hyperparameter of its method (learning
rates, Adam's betas, λ, penalty weights, the clip, dropout, averaging) and in its seed. Settings
that change shapes or code paths (batch size, n_critic, the loss, the optimizer, spectral norm,
MD-GAN's mixture, the budget and evaluation) are shared: configs that differ there form separate
populations (a sweep groups members by ``signature``).
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError

# Floats that build a fixed structure rather than weigh a term: MD-GAN's simplex and its σ; the signal's rungs.
SHARED_FLOATS = ("md_scale", "md_sigma", "probe_reduction")
REFUSED = {
    "unrolled": "its generator loss differentiates through k simulated discriminator updates, which in a "
                "population would need a functional update of every member's D inside the step; train it alone",
}


def check_method(method) -> None:
    """A one-line refusal for what a population cannot train."""
    if "base" in method.schema:
        raise ConfigError(f"{method.name} is a sampler job, not a GAN method: populations train GANs")
    if method.name in REFUSED:
        raise ConfigError(f"{method.name} cannot train in a population: {REFUSED[method.name]}")


def per_member_keys(method) -> list[str]:
    return ["seed", *(k for k, p in method.schema.items() if p.kind is float and k not in SHARED_FLOATS)]


def signature(method, config: dict[str, Any]) -> tuple:
    """What members must share to train together."""
    varying = set(per_member_keys(method))
    return tuple(sorted((k, v) for k, v in config.items() if k not in varying))


def check_together(method, configs: list[dict[str, Any]]) -> None:
    check_method(method)
    if not configs:
        raise ConfigError("a population needs at least one member")
    if configs[0]["compile"]:
        raise ConfigError("compile=true applies to single runs; a population batches its members instead")
    first = dict(signature(method, configs[0]))
    for config in configs[1:]:
        for key, value in signature(method, config):
            if first.get(key) != value:
                raise ConfigError(f"members differ in {key} ({first.get(key)!r} vs {value!r}): shape-changing "
                                  f"settings need one population each")


def step_config(method, configs: list[dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """The config the method's step code sees: shared values as numbers, values that differ as [K] tensors."""
    out = dict(configs[0])
    for key in per_member_keys(method):
        values = [c[key] for c in configs]
        if any(v != values[0] for v in values) and key != "seed":
            out[key] = torch.tensor(values, dtype=torch.get_default_dtype(), device=device)
    return out


def signature_text(method, config: dict[str, Any]) -> str:
    """The signature of a config not yet resolved, as text (what a population sweep groups members by)."""
    return repr(signature(method, method.resolve(config)))
