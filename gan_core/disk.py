"""Local files written so that a full disk cannot tear them: a file is replaced whole or not at all, a line
is appended whole or not at all, and a failed write raises one StorageError naming the path.

Imports nothing from gan_core but its errors, so anything that writes a run's files can use it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from .errors import StorageError


def failed(path: Path, err: OSError, kept: str = "") -> StorageError:
    """The one line for a write that failed: the path, the OS's reason, and what is still there."""
    reason = err.strerror or type(err).__name__
    return StorageError(f"cannot write {path}: {reason}" + (f"; {kept}" if kept else ""))


def replace_all(items: Iterable[tuple[str | Path, bytes]], *, what: str = "file", durable: bool = True) -> None:
    """Write each (path, data) to a temporary file beside it, then rename them all into place: on a write that
    fails (or a signal) none is replaced. ``items`` may be a generator, so one payload is in memory at a time.
    ``durable`` fsyncs each file before its rename, so a crash never leaves a torn file."""
    staged: list[tuple[Path, Path]] = []
    path = None
    try:
        for path, data in items:
            path = Path(path)
            tmp = path.with_name(path.name + ".tmp")
            staged.append((tmp, path))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
    except BaseException as err:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)  # give the space back; the files they would replace are untouched
        if isinstance(err, OSError) and path is not None:
            raise failed(path, err, f"the previous {what} there is kept" if path.exists() else "") from None
        raise
    for tmp, path in staged:  # renames need no space, so past the writes they all happen
        os.replace(tmp, path)


def replace(path: str | Path, data: bytes, *, what: str = "file", durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half of it."""
    replace_all([(path, data)], what=what, durable=durable)
    return Path(path)


def append_line(path: str | Path, line: str) -> Path:
    """Append one line whole: a write the disk cuts short is cut back, so the lines before it stay complete."""
    path = Path(path)
    data = memoryview((line.rstrip("\n") + "\n").encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as err:
        raise failed(path, err) from None
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError as err:
            os.ftruncate(fd, size)
            raise failed(path, err, "its earlier lines are kept") from None
    finally:
        os.close(fd)
    return path


def keep_lines(path: str | Path, keep: Callable[[str], bool]) -> int:
    """Rewrite ``path`` with only its complete lines for which ``keep(line)`` holds (a torn last line goes too);
    the number of lines dropped. Nothing is written when none is."""
    path = Path(path)
    if not path.exists():
        return 0
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and keep(line)]
    if len(kept) < len(lines):
        replace(path, "".join(kept).encode())
    return len(lines) - len(kept)
