"""Which torch device a run trains on, refused in one line when the machine lacks it."""
from __future__ import annotations

import torch

from .errors import DeviceError


def pick_device(name: str) -> torch.device:
    """``auto`` (cuda when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device={name} was asked for but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        # "cuda:0", as a tensor's .device says: caches keyed by device name see one name
        device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
    elif device.type != "cpu":
        raise DeviceError(f"device={name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device
