"""A run's folder on disk: each report's sample grid and metrics line, then its checkpoint, which commits it.

    checkpoint.pt             the last committed report's state: ``--resume`` continues from it
    samples/step_<N>.png      each report's grid
    metrics.jsonl             one line per report

A report's grid and line are written before its checkpoint, each whole or not at all (``disk``). So a
write that fails (a full disk: one StorageError naming the path) or a signal leaves the previous
checkpoint in place, and a resume first drops the lines past it (``rewind``): every report's line once.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import disk
from .images import save_grid

METRICS = "metrics.jsonl"


def write_report(folder: Path, metrics: dict, samples_u8: torch.Tensor) -> None:
    """A report's grid and metrics line; its checkpoint, written after them, commits the report."""
    save_grid(samples_u8, folder / "samples" / f"step_{metrics['step']:07d}.png")
    disk.append_line(folder / METRICS, json.dumps(metrics))


def rewind(folder: Path, step: int) -> None:
    """Before a resume from the checkpoint at ``step``: drop the lines of reports it does not hold (their
    checkpoint write failed or was interrupted; the resumed run writes them again)."""
    disk.keep_lines(folder / METRICS, lambda line: json.loads(line)["step"] <= step)
