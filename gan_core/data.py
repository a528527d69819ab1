"""MNIST as one uint8 tensor on the trial's device, and batches drawn by index there.

No DataLoader, no workers, no per-sample transforms: a batch is one gather and
one affine map, which is what keeps a 3M-parameter GAN from being input-bound.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch

from .errors import ConfigError, DataNotFoundError

DATA_ENV = "GAN_DATA_DIR"
TRAIN_IMAGES = 60_000  # the MNIST training split



def cache_dir() -> Path:
    """Project cache (reference stats, downloads): $GAN_CACHE_DIR or ~/.cache/gan_core."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan_core").expanduser()


def data_root() -> Path:
    """The torchvision MNIST root: $GAN_DATA_DIR, else a folder in the project cache."""
    env = os.environ.get(DATA_ENV)
    if env:
        root = Path(env).expanduser().resolve()
        if not root.is_dir():
            raise DataNotFoundError(f"{DATA_ENV}={env} is not a folder; point {DATA_ENV} at a "
                                    f"torchvision MNIST root (one that holds MNIST/raw/)")
        return root
    return cache_dir() / "data"


@lru_cache(maxsize=4)
def _load_cpu(split: str) -> torch.Tensor:
    from torchvision.datasets import MNIST  # deferred: torchvision takes a second to import, data loads once

    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    root = data_root()
    try:
        dataset = MNIST(str(root), train=split == "train", download=False)
    except RuntimeError:
        try:  # the real path for users: torchvision downloads and verifies md5s
            dataset = MNIST(str(root), train=split == "train", download=True)
        except Exception as err:
            raise DataNotFoundError(
                f"MNIST is not under {root}/MNIST/raw and the download failed "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                f"set {DATA_ENV} to a folder that holds MNIST/raw/") from None
    return dataset.data.reshape(-1, 784).contiguous()  # uint8 [N, 784]


def load_mnist(split: str = "train", device: torch.device | str = "cpu") -> torch.Tensor:
    """All images of a split as uint8 [N, 784] on ``device``."""
    return _load_cpu(split).to(device)


def to_unit_range(images_u8: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels -> float in [-1, 1], the generator's range."""
    return images_u8.to(dtype).mul_(2.0 / 255.0).sub_(1.0)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 pixels, as a saved PNG holds them.

    uint8 = round((x + 1) / 2 · 255). (The course template's save_image on raw
    tanh output clamps [-1, 0] to black; this mapping does not.)
    """
    return ((x.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def quantize_template(x: torch.Tensor) -> torch.Tensor:
    """The course template's PNGs: ``save_image`` on the raw tanh output clamps to [0, 1] and rounds x·255,
    so every x < 0 is black. The seeds' figures were most likely made this way; compare on the same mapping."""
    return (x.detach().clamp(0, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8)


MAPPINGS = {"protocol": quantize, "template": quantize_template}  # pixel mappings by name, the protocol's first


class Batches:
    """Shuffled batches drawn by index on the data's device; one reshuffle per epoch.

    ``seed`` an int: one run's batches [B, 784]. ``seed`` a list of K ints: a population's [K, B, 784],
    member k drawing exactly what a run with seed k would (its own permutations and its own place in
    them, so a member that joins later starts at the beginning), in one gather.
    drop_last keeps every batch the same shape, which compiled and graphed steps need.
    """

    def __init__(self, images_u8: torch.Tensor, batch_size: int, *, seed: int | Sequence[int]):
        if batch_size > images_u8.shape[0]:
            raise ConfigError(f"batch_size {batch_size} exceeds the {images_u8.shape[0]} training images")
        self.members = not isinstance(seed, int)
        seeds = list(seed) if self.members else [seed]
        self.images = images_u8
        self.batch_size = batch_size
        self.batches_per_epoch = images_u8.shape[0] // batch_size
        # Permutations come from CPU generators, so CPU and CUDA runs see the same order.
        self.rngs = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
        self.epoch = [0] * len(seeds)
        self.position = [0] * len(seeds)
        self._perm = torch.stack([self._shuffle(k) for k in range(len(seeds))])
        self._offsets = torch.arange(batch_size, device=images_u8.device)
        # the positions again on the device, kept in step, so a batch costs no host-to-device copy (a sync)
        self._starts = torch.zeros(len(seeds), dtype=torch.int64, device=images_u8.device)

    def _shuffle(self, k: int) -> torch.Tensor:
        return torch.randperm(self.images.shape[0], generator=self.rngs[k]).to(self.images.device)

    def restart(self, k: int, seed: int) -> None:
        """Member k starts over with ``seed``: a new member in its slot."""
        self.rngs[k].manual_seed(seed)
        self.epoch[k] = self.position[k] = 0
        self._perm[k] = self._shuffle(k)
        self._starts[k] = 0

    def copy_member(self, dst: int, src: int) -> None:
        """Member ``dst`` continues ``src``'s batches from where they are (PBT's exploit)."""
        self.rngs[dst].set_state(self.rngs[src].get_state())
        self.epoch[dst], self.position[dst] = self.epoch[src], self.position[src]
        self._perm[dst], self._starts[dst] = self._perm[src], self._starts[src]

    def next(self) -> torch.Tensor:
        for k, position in enumerate(self.position):
            if position == self.batches_per_epoch:
                self.epoch[k] += 1
                self.position[k] = 0
                self._perm[k] = self._shuffle(k)
                self._starts[k] = 0
        index = self._perm.gather(1, self._starts[:, None] * self.batch_size + self._offsets)
        self.position = [p + 1 for p in self.position]
        self._starts += 1
        batch = to_unit_range(self.images[index], torch.get_default_dtype())  # a float64 test trains in float64
        return batch if self.members else batch[0]

    @property
    def epochs_done(self) -> float | list[float]:
        done = [e + p / self.batches_per_epoch for e, p in zip(self.epoch, self.position)]
        return done if self.members else done[0]

    def state_dict(self, member: int | None = None) -> dict:
        """All members' state, or ``member``'s alone in a single run's format."""
        keep = list(range(len(self.rngs))) if member is None else [member]
        return {"rng": [self.rngs[k].get_state() for k in keep], "epoch": [self.epoch[k] for k in keep],
                "position": [self.position[k] for k in keep], "perm": self._perm[keep].cpu()}

    def load_members(self, states: list[dict]) -> None:
        """A population's batches back from its members' states (each in a single run's format)."""
        self.load_state_dict({key: [v for s in states for v in s[key]] for key in ("rng", "epoch", "position")}
                             | {"perm": torch.cat([s["perm"] for s in states])})

    def load_state_dict(self, state: dict) -> None:
        if len(state["rng"]) != len(self.rngs):
            raise ConfigError(f"batches state for {len(state['rng'])} member(s), not {len(self.rngs)}")
        for rng, saved in zip(self.rngs, state["rng"]):
            rng.set_state(saved)
        self.epoch, self.position = [int(e) for e in state["epoch"]], [int(p) for p in state["position"]]
        self._perm = state["perm"].to(self.images.device)
        self._starts = torch.tensor(self.position, dtype=torch.int64, device=self.images.device)
