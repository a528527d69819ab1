"""Folders the user names (--out, --storage-path): refused in one line before compute when they cannot be written."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def writable_folder(path: str | Path, flag: str) -> Path:
    """``path`` as a folder that exists or can be made: its nearest existing ancestor is a writable folder."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {existing} is not writable")
    return path
