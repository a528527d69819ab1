"""Checkpoints on disk: the one file name, atomic saves, safe loads, and the RNG state they carry.

Imports nothing from gan_core but its errors and disk writes, so anything that saves state can use it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import disk
from .errors import CheckpointError

FILE = "checkpoint.pt"  # the name in run folders, Tune checkpoints and MLflow artifacts
# Budget keys a resumed run may extend; any other change would make the checkpoint a different run.
EXTENDABLE = ("epochs", "max_steps", "eval_every_epochs", "eval_every_steps", "inception_samples", "device")


def serialize(state: dict[str, Any]) -> bytes:
    """``state`` as a checkpoint file's bytes: serialized in memory, since torch's own file writer reports a
    full disk as an opaque RuntimeError."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` through a temporary file, so a reader never sees half of it; a full disk
    raises one StorageError naming the path, and the previous checkpoint there is kept."""
    return disk.replace(path, serialize(state), what="checkpoint")


def read(path: str | Path) -> dict[str, Any]:
    """Any dict saved with torch.save (tensors and primitives only, loaded safely), or one clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:160] if str(err) else ''})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a gan_core checkpoint (a {type(state).__name__}, not a dict)")
    return state


def load(path: str | Path, *, method: str | None = None) -> dict[str, Any]:
    """A checkpoint that a gan_core report wrote (tensors and primitives only, loaded safely).

    ``method`` additionally requires it to be a run of that method or job.
    """
    state = read(path)
    if "method" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a gan_core checkpoint (no method and config in it)")
    if method is not None and state["method"] != method:
        raise CheckpointError(f"{path} is a {state['method']!r} run, not {method!r}")
    return state


def check_resume(where: str, saved: dict, config: dict, step: int, total: int) -> None:
    """The one resume rule, for a run and for a population's members: the same settings but for the budget
    (``EXTENDABLE``), and a budget longer than the ``step`` trained so far (``total`` steps)."""
    changed = sorted(k for k in config if k not in EXTENDABLE and saved.get(k) != config[k])
    if changed:
        raise CheckpointError(f"{where} was trained with other settings ({', '.join(changed)}: "
                              f"{saved.get(changed[0])!r}, now {config[changed[0]]!r}); resume with its own config")
    if step >= total:
        raise CheckpointError(f"{where} has already trained its {step} steps; "
                              f"give a longer budget (--epochs, --max-steps) to go on")


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def trainer_state(method: str, config: dict, *, generator: dict, average: dict | None, ema_updates: int,
                  discriminator: dict, opt_g: dict, opt_d: dict, batches: dict, draws: dict, dropout_calls: int,
                  rng: dict, **extra: Any) -> dict[str, Any]:
    """A GAN run's checkpoint, the one writer of its format (a single run's, and each population member's).

    ``generator`` is the raw G that trains, ``average`` its average (None without one). The checkpoint's
    ``generator`` is the served one, the average when there is one (best_model and the samplers load it),
    with the raw G beside it as ``generator_raw``. ``extra`` adds what a population tracks per member."""
    state = {"method": method, "config": config, "generator": generator if average is None else average,
             "discriminator": discriminator, "opt_g": opt_g, "opt_d": opt_d, "batches": batches, "draws": draws,
             "dropout_calls": int(dropout_calls), "rng": rng, **extra}
    if average is not None:
        state.update(generator_raw=generator, ema_updates=int(ema_updates))
    return state


@dataclass
class TrainerState:
    """What a trainer loads from a run's checkpoint, read one way for a run and for a population member."""
    generator: dict          # the raw G that trains
    average: dict | None     # G's average, None for a run without one
    ema_updates: int
    discriminator: dict
    opt_g: dict
    opt_d: dict
    batches: dict
    draws: dict
    dropout_calls: int
    rng: dict | None
    age: int                 # steps this run (member) has trained
    last_probe: dict         # the pruning signal at its last rung (metrics.probe), carried to later reports


def read_trainer_state(state: dict[str, Any]) -> TrainerState:
    """The one reader of ``trainer_state``'s format."""
    averaged = "generator_raw" in state
    return TrainerState(
        generator=state["generator_raw"] if averaged else state["generator"],
        average=state["generator"] if averaged else None, ema_updates=int(state.get("ema_updates", 0)),
        discriminator=state["discriminator"], opt_g=state["opt_g"], opt_d=state["opt_d"],
        batches=state["batches"], draws=state["draws"], dropout_calls=int(state["dropout_calls"]),
        rng=state.get("rng"), age=int(state.get("member_step", state.get("step", 0))),
        last_probe=dict(state.get("last_probe", {})))
