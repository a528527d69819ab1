"""Checkpoints on disk: the one file name, atomic saves, safe loads, and the RNG state they carry.

Imports nothing from gan_core but its errors, so anything that saves state can use it.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, StorageError

FILE = "checkpoint.pt"  # the name in run folders, Tune checkpoints and MLflow artifacts


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` through a temporary file, so a reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    buffer = io.BytesIO()  # serialized in memory: torch's own file writer reports a full disk as an opaque RuntimeError
    torch.save(state, buffer)
    try:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename, so a crash never leaves a torn checkpoint
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)  # give the space back; the previous checkpoint at ``path`` is untouched
        reason = err.strerror or type(err).__name__
        kept = "; the previous checkpoint there is kept" if path.exists() else ""
        raise StorageError(f"cannot write {path}: {reason}{kept}") from None
    return path


def load(path: str | Path, *, method: str | None = None) -> dict[str, Any]:
    """A checkpoint that a gan_core report wrote (tensors and primitives only, loaded safely).

    ``method`` additionally requires it to be a run of that method or job.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:160] if str(err) else ''})") from None
    if not isinstance(state, dict) or "method" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a gan_core checkpoint (no method and config in it)")
    if method is not None and state["method"] != method:
        raise CheckpointError(f"{path} is a {state['method']!r} run, not {method!r}")
    return state


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
