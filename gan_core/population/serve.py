"""serve: a population that takes its members from a sweep, trains them, and hands back every report.

The sweep decides (which members, when one stops, who takes its slot); this module only trains,
through three callables, and knows neither Ray nor MLflow:

    take(signature, count) -> [(member_id, config), ...]   # resolved configs; one signature; may be []
    judge(reports) -> {member_id: (action, replacement)}   # action "continue" or "stop";
                                                           # replacement (member_id, config) or None
    save(state) -> None                                    # a checkpoint: the members and their ids

A population trains one group of members that share their shape-changing settings; when no member
of its signature is left to take, it ends the group and takes the next one.
"""
from __future__ import annotations

import io
import time
from typing import Any, Callable

import torch

from .. import cost, loop
from ..images import grid_image
from .trainer import PopulationTrainer


def png(samples_u8: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    grid_image(samples_u8).save(buffer, format="PNG")
    return buffer.getvalue()


def serve(method, device: torch.device, *, slots: int, take: Callable, judge: Callable, save: Callable,
          resume: dict[str, Any] | None = None) -> int:
    """Train groups of members until the sweep has none left; return how many members were served."""
    served, meter = 0, cost.Meter(device)
    while True:
        if resume is not None:
            ids, trainer = list(resume["ids"]), PopulationTrainer(method, resume["configs"], device)
            trainer.load_state_dict(resume)
            active = list(resume["active"])
            resume = None
        else:
            group = take(None, slots)
            if not group:
                return served
            ids = [member_id for member_id, _ in group]
            trainer = PopulationTrainer(method, [config for _, config in group], device)
            active = [True] * len(ids)
        served += sum(active)
        while any(active):
            interval = loop.train_until(trainer, 0, trainer.eval_every)
            timing = {"images_per_s": interval.steps * trainer.images_per_step / interval.seconds,
                      "steps_per_s": interval.steps / interval.seconds, "report_at": time.time()}
            metrics = trainer.metrics(False, interval.means(), timing)
            grids = trainer.samples()
            spent = cost.share(meter.lap(), sum(active))  # the active members trained this interval together
            reports = [{"member_id": ids[k], "slot": k, "spent": spent, "grid": png(grids[k]),
                        "metrics": {**metrics[k], **cost.counts(trainer.ages[k], trainer.images_per_step)},
                        "index": trainer.ages[k] // trainer.eval_every,
                        "state": trainer.member_state(k) if metrics[k].get("final") else None}
                       for k in range(len(ids)) if active[k]]
            decisions = judge(reports)
            for report in reports:
                action, replacement = decisions[report["member_id"]]
                if action == "continue":
                    continue
                k = report["slot"]
                if replacement is None:
                    active[k] = False  # nothing of this signature left: the slot idles to the group's end
                else:
                    ids[k] = replacement[0]
                    trainer.replace(k, replacement[1])
                    served += 1
            save({**trainer.state_dict(), "ids": ids, "active": active})
