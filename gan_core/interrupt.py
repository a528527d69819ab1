"""Ctrl-C and SIGTERM: a run stops cleanly and says in one line what was saved and the command that resumes it."""
from __future__ import annotations

import contextlib
import shlex
import signal
import sys
from pathlib import Path


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached a run; ``signum`` says which (the exit status is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class StudyInterrupted(Exception):
    """A sweep's driver was stopped (SIGINT, SIGTERM, or its tracking server away too long) after Tune saved
    the study; the message says what, ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 128 + signal.SIGINT):
        super().__init__(message)
        self.status = status


def exit_status(stop: KeyboardInterrupt) -> int:
    return 128 + getattr(stop, "signum", int(signal.SIGINT))


@contextlib.contextmanager
def signals_interrupt():
    """Within: SIGINT and SIGTERM raise ``Interrupted`` in the main thread (a closed terminal ends runs too)."""
    def stop(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def sigterm_as_sigint():
    """Within: SIGTERM is handled as SIGINT, so whoever handles SIGINT (Ray Tune saving its state) handles both."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def program() -> list[str]:
    """How this process was started: ``gan``, ``python sweeps/x.py`` or ``python -m gan_core.cli``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if Path(sys.argv[0]).name == "gan":
        return ["gan"]
    if spec is not None and spec.name:
        return [sys.executable, "-m", spec.name]
    return [sys.executable, sys.argv[0]]


def resume_command(argv: list[str], *, out: str | Path | None = None, resume: bool = True) -> str:
    """The command that continues this one: its own arguments with ``--out`` fixed and ``--resume``."""
    args = [a for a in argv if not a.startswith("--out=")] if out is not None else list(argv)
    if out is not None:
        if "--out" in args:
            args[args.index("--out") + 1] = str(out)
        else:
            args += ["--out", str(out)]
    if resume and "--resume" not in args:
        args.append("--resume")
    return shlex.join(program() + args)
