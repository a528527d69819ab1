"""What a run cost: wall, CPU and device seconds, generator steps and samples seen; and what a study cost to
find its champion. Pure bookkeeping: the loop and a population's server measure, tracking logs.

Device seconds are the wall seconds a process held an accelerator (0 on CPU). A population's members
share one process: each member is charged an equal share of every interval it trained in.
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterable

import torch

SECONDS = ("wall_seconds", "cpu_seconds", "device_seconds")
COUNTS = ("generator_steps", "samples_seen")
KEYS = SECONDS + COUNTS


class Meter:
    """This process's wall, CPU and device seconds since the last ``lap``."""

    def __init__(self, device: torch.device):
        self.on_device = device.type != "cpu"
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = {"wall_seconds": wall - self.wall, "cpu_seconds": cpu - self.cpu,
                 "device_seconds": wall - self.wall if self.on_device else 0.0}
        self.wall, self.cpu = wall, cpu
        return spent


def seconds_of(state: dict[str, Any] | None) -> dict[str, float]:
    """The seconds a checkpoint had spent (zeros for a new run, or one saved before costs were kept)."""
    saved = (state or {}).get("cost", {})
    return {k: float(saved.get(k, 0.0)) for k in SECONDS}


def add(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    return {k: total.get(k, 0.0) + more.get(k, 0.0) for k in {*total, *more}}


def share(spent: dict[str, float], members: int) -> dict[str, float]:
    """One member's part of an interval that ``members`` trained together."""
    return {k: v / max(members, 1) for k, v in spent.items()}


class Shares:
    """Each member's running total of its shares: what a population trained in one process records as its own."""

    def __init__(self, totals: list[dict[str, float]]):
        self.totals = [{k: float(t.get(k, 0.0)) for k in SECONDS} for t in totals]

    def charge(self, spent: dict[str, float], active: list[bool]) -> dict[str, float]:
        """Share ``spent``, an interval the ``active`` members trained together; return one member's part."""
        part = share(spent, sum(active))
        self.totals = [add(t, part) if on else t for t, on in zip(self.totals, active)]
        return part

    def charged(self) -> dict[str, float]:
        """What the members were charged together: the process's seconds so far."""
        return {k: sum(t[k] for t in self.totals) for k in SECONDS}


def since(total: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """The seconds a running ``total`` grew by since ``before``."""
    return {k: total.get(k, 0.0) - before.get(k, 0.0) for k in SECONDS}


def counts(steps: int, images_per_step: int) -> dict[str, int]:
    return {"generator_steps": int(steps), "samples_seen": int(steps) * int(images_per_step)}


def study_totals(trials: Iterable[dict[str, float]]) -> dict[str, float]:
    """Sums over the trials' last cost numbers (every trial, whatever its status)."""
    trials = list(trials)
    return {k: float(sum(t.get(k, 0.0) for t in trials)) for k in KEYS} | {"trials": float(len(trials))}


def to_reach(reports: list[tuple[float, str, float, float]], champion: str, higher_is_better: bool = False
             ) -> dict[str, float]:
    """The cost of finding the champion. ``reports`` are (time, trial, metric value, epochs trained so far)
    of every trial's reports. Walking them in time order, the champion's trial first leads when its value
    beats every report before it (a champion picked on another metric may never lead: then its last report
    counts). Returns the epochs all trials had trained by then and the seconds since the first report."""
    best, epochs, first, reached = math.inf, {}, None, None
    for when, trial, value, epoch in sorted(reports):
        first = when if first is None else first
        epochs[trial] = epoch
        signed = -value if higher_is_better else value
        if signed < best:
            best = signed
            if trial == champion:
                return {"epochs_to_champion": float(sum(epochs.values())), "seconds_to_champion": when - first}
        if trial == champion:
            reached = (float(sum(epochs.values())), when - first)
    if reached is None:
        return {"epochs_to_champion": math.nan, "seconds_to_champion": math.nan}
    return {"epochs_to_champion": reached[0], "seconds_to_champion": reached[1]}
