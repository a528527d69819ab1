"""The one training loop: ``drive(trainer, report, resume)`` steps any ``Trainer`` to its end.

It owns the evaluation cadence, the divergence guard, throughput and the step count and
training time that every checkpoint carries. How a report leaves the loop (Ray Tune, or
files for a standalone run) is the caller's ``report``; the loop knows neither, nor which
method or sampler it drives, nor whether the trainer is one run or a population of them.
"""
from __future__ import annotations

import time
from typing import Any, Protocol

import torch

from . import cost

CHECK_EVERY = 25  # steps between divergence checks: a host sync per step would cost on GPU


class Diverged(RuntimeError):
    """A loss became NaN or inf; the run ends with this reason."""


class Report(Protocol):
    def __call__(self, metrics: dict[str, Any], state: dict[str, Any], samples_u8: torch.Tensor) -> None: ...


class Trainer(Protocol):
    """What the loop drives: a GAN method's trainer, or a sampler's fitting job."""
    name: str
    device: torch.device
    total_steps: int
    eval_every: int
    images_per_step: int  # real images one step consumes, for images_per_s

    def step(self) -> dict[str, torch.Tensor]: ...  # one update; its "loss*" entries are guarded
    def metrics(self, final: bool, means: dict[str, torch.Tensor], timing: dict[str, Any]) -> Any: ...
    # ^ the report's metrics: its evaluation with the interval's mean logs and the loop's timing
    # (``merge``), a dict for a run, one dict per member for a population
    def postfix(self, metrics: Any) -> dict[str, str]: ...  # what the progress bar shows
    def samples(self) -> torch.Tensor: ...            # uint8 [64, 784] for the report's grid (per member)
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def next_report(step: int, every: int, total: int) -> int:
    """The step of the next report after ``step``: every ``every`` steps, and at the end."""
    return min(total, (step // every + 1) * every)


def check_finite(name: str, sums: dict[str, torch.Tensor], logs: dict[str, torch.Tensor], step: int) -> None:
    """Raise Diverged when a guarded entry ("loss*") has gone NaN or inf (in any element)."""
    if all(bool(torch.isfinite(v).all()) for k, v in sums.items() if k.startswith("loss")):
        return
    losses = ", ".join(f"{k}={v.float().mean().item():.4g}" for k, v in logs.items() if k.startswith("loss"))
    raise Diverged(f"{name} diverged at step {step}: {losses} (NaN or inf)")


class Interval:
    """The steps between two reports: summed logs, the step count and the training seconds."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.seconds = 0.0

    def add(self, logs: dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach()
        self.steps += 1

    def means(self) -> dict[str, torch.Tensor]:
        return {key: value / self.steps for key, value in self.sums.items()}


def train_until(trainer: Trainer, step: int, stop: int, bar=None) -> Interval:
    """Step ``trainer`` from ``step`` to ``stop``, guarding against divergence every CHECK_EVERY steps."""
    interval = Interval()
    tick = time.perf_counter()
    while step < stop:
        logs = trainer.step()
        interval.add(logs)
        step += 1
        if step % CHECK_EVERY == 0 or step == stop:
            check_finite(trainer.name, interval.sums, logs, step)
            if bar is not None:
                bar.update(step - bar.n)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    interval.seconds = time.perf_counter() - tick
    return interval


def merge(evaluated: dict[str, Any], means: dict[str, Any], timing: dict[str, Any], eval_seconds: float) -> dict:
    """One report's metrics: the evaluation, the interval's mean logs (numbers), the loop's timing."""
    return {**evaluated, **{key: float(v) for key, v in means.items()}, **timing, "eval_seconds": eval_seconds}


def postfix(metrics: dict[str, Any]) -> dict[str, str]:
    return {"fid_mnist": f"{metrics['fid_mnist']:.2f}", "img_s": f"{metrics['images_per_s']:.0f}"}


def progress_bar(name: str, total: int, initial: int):
    from tqdm import tqdm  # deferred: only standalone runs show a bar

    return tqdm(total=total, initial=initial, desc=name, unit="step", dynamic_ncols=True)


def drive(trainer: Trainer, *, report: Report, resume: dict | None = None, progress: bool = False) -> Any:
    """Step ``trainer`` to its end, reporting every ``eval_every`` steps; return the last metrics."""
    step, train_seconds, report_seconds = 0, 0.0, 0.0
    meter, spent = cost.Meter(trainer.device), cost.seconds_of(resume)  # what the run cost, across resumes
    if resume is not None:
        trainer.load_state_dict(resume)
        step, train_seconds = int(resume["step"]), float(resume["train_seconds"])
    total = trainer.total_steps
    bar = progress_bar(trainer.name, total, step) if progress else None
    last: Any = {}
    first_step_at = time.time()  # wall clock: benchmarks compare it with the trial's launch
    try:
        while step < total:
            stop = next_report(step, trainer.eval_every, total)
            interval = train_until(trainer, step, stop, bar)
            step, train_seconds = stop, train_seconds + interval.seconds
            timing = {
                "step": step,
                "images_per_s": interval.steps * trainer.images_per_step / interval.seconds,
                "steps_per_s": interval.steps / interval.seconds,
                "train_seconds": train_seconds,
                "report_seconds": report_seconds,  # the previous report's checkpoint write and hand-off
                "first_step_at": first_step_at,
                "final": step >= total,  # not "done": Tune reserves that key
            }
            spent = cost.add(spent, meter.lap())
            timing.update(spent, **cost.counts(step, trainer.images_per_step))
            metrics = trainer.metrics(step >= total, interval.means(), timing)
            state = {**trainer.state_dict(), "step": step, "train_seconds": train_seconds, "cost": spent}
            tick = time.perf_counter()
            report(metrics, state, trainer.samples())
            report_seconds = time.perf_counter() - tick
            last = metrics
            if bar is not None:
                bar.set_postfix(trainer.postfix(metrics))
    finally:
        if bar is not None:
            bar.close()
    return last
