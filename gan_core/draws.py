"""Counter-based random draws: value = hash(key, counter, index), so a run draws the same numbers alone or as
a member of a population (where the key is a [K] tensor and one batched op serves every member).

torch's generators cannot be split per member inside one batched op (or under vmap), so the training
step's randomness (latent noise, penalty interpolation, dropout masks) comes from here instead: a PCG
hash (O'Neill 2014, as used for GPU noise by Jarzynski & Olano 2020) over 32-bit words held in int64.
"""
from __future__ import annotations

import math

import torch

MASK = 0xFFFFFFFF


def _pcg(x: torch.Tensor) -> torch.Tensor:
    """One round of the PCG-RXS-M-XS hash on uint32 values stored in int64 (products wrap, masks keep 32 bits)."""
    state = (x * 747796405 + 2891336453) & MASK
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & MASK
    return ((word >> 22) ^ word) & MASK


def key_for(seed: int | torch.Tensor, stream: int = 0) -> torch.Tensor:
    """The key of ``stream`` for a seed (or a [K] tensor of seeds): distinct streams never share draws."""
    seed = torch.as_tensor(seed, dtype=torch.int64)
    return _pcg(_pcg(seed & MASK) ^ _pcg(torch.as_tensor(stream + 0x9E3779B9, dtype=torch.int64)))


def bits(key: torch.Tensor, counter: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform 32-bit words, shape ``key.shape + shape``; ``counter`` (a number, or one per key)
    numbers the draw within the stream."""
    n = math.prod(shape)
    counter = torch.as_tensor(counter, dtype=torch.int64, device=key.device)
    lift = lambda t: t.reshape(*t.shape, *([1] * len(shape)))
    salt = _pcg(lift(key) ^ _pcg(lift(counter)))
    index = torch.arange(n, dtype=torch.int64, device=key.device).view(shape)
    return _pcg(_pcg(index ^ salt) + salt)


def uniform(key: torch.Tensor, counter: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """In (0, 1), never 0 or 1 (24-bit mantissa, offset by half a step): the same values in any float dtype
    (torch's default dtype, so a float64 run draws what a float32 run draws)."""
    return ((bits(key, counter, shape) >> 8).to(torch.get_default_dtype()) + 0.5) * (1.0 / 2 ** 24)


def normal(key: torch.Tensor, counter: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """N(0, 1) in the default dtype, by Box–Muller from two uniform draws."""
    u = uniform(key, counter, (2, *shape))
    u1, u2 = u.select(key.dim(), 0), u.select(key.dim(), 1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)


class Draws:
    """One run's stream (a 0-d key) or a population's (a [K] key, a counter per member): every draw
    advances the counters. Shapes are per member: ``uniform(64, 1)`` gives [64, 1] for a run and
    [K, 64, 1] for a population. ``restart(k, key)`` gives member k a new stream (a new member)."""

    def __init__(self, key: torch.Tensor):
        self.key = key
        self.counter = torch.zeros_like(key)

    def uniform(self, *shape: int) -> torch.Tensor:
        self.counter += 1
        return uniform(self.key, self.counter, shape)

    def normal(self, *shape: int) -> torch.Tensor:
        self.counter += 1
        return normal(self.key, self.counter, shape)

    def restart(self, k: int, key: torch.Tensor) -> None:
        self.key[k], self.counter[k] = key, 0

    def copy_member(self, dst: int, src: int) -> None:
        """Member ``dst`` continues ``src``'s stream (PBT's exploit)."""
        self.key[dst], self.counter[dst] = self.key[src], self.counter[src]

    def state_dict(self, member: int | None = None) -> dict:
        """The counters, or ``member``'s alone (a single run's format)."""
        counter = self.counter if member is None else self.counter[member]
        return {"counter": counter.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.counter.copy_(torch.as_tensor(state["counter"], dtype=torch.int64))

    def load_members(self, states: list[dict]) -> None:
        self.counter.copy_(torch.as_tensor([s["counter"] for s in states], dtype=torch.int64))
