"""serve: a population that takes its members from a sweep, trains them, and hands back every report.

The sweep decides (which members, when one stops, who takes its slot); this module only trains,
through three callables, and knows neither Ray nor MLflow:

    take(signature, count) -> [(member_id, config), ...]   # resolved configs; one signature; may be []
    judge(reports) -> {member_id: (action, replacement)}   # action "continue" or "stop";
                                                           # replacement (member_id, config) or None
    save(state) -> None                                    # a checkpoint: the members and their ids

With ``scheduler="pbt"`` (perturbing ``space``'s keys, a {key: pbt.Range}) the sweep still proposes the members and logs every report, but none is stopped
early: after each report the group's bottom quarter by ``metric`` takes a top member's state (``pbt.PBT``);
a report carries the member's hyperparameters (``hp_*``), its ``parent`` when it exploited, and at the end
its ``lineage`` (root config and schedule, what ``gan train --schedule`` replays).

A population trains one group of members that share their shape-changing settings; when no member
of its signature is left to take, it ends the group and takes the next one.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import torch

from .. import cost, loop
from ..images import grid_png
from .pbt import PBT
from .trainer import PopulationTrainer


class _GroupDone(Exception):
    """Every slot of the group is idle: ends ``loop.drive`` for this group."""


class _Group:
    """A group's trainer as ``loop.drive`` sees it: members come and go, so the group runs until its
    report says every slot is idle rather than to a step count."""

    def __init__(self, trainer: PopulationTrainer):
        self.trainer = trainer
        self.total_steps = sys.maxsize

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trainer, name)


def serve(method, device: torch.device, *, slots: int, take: Callable, judge: Callable, save: Callable,
          resume: dict[str, Any] | None = None, scheduler: str = "asha", metric: str = "fid_mnist",
          space: dict | None = None) -> int:
    """Train groups of members until the sweep has none left; return how many members were served."""
    served, meter = 0, cost.Meter(device)
    while True:
        if resume is not None:
            ids, trainer = list(resume["ids"]), PopulationTrainer(method, resume["configs"], device)
            trainer.load_state_dict(resume)
            active = list(resume["active"])
            pbt = PBT(method, resume["configs"], metric=metric, space=space, saved=resume.get("pbt")) \
                if scheduler == "pbt" else None
            resume = None
        else:
            group = take(None, slots)
            if not group:
                return served
            ids = [member_id for member_id, _ in group]
            trainer = PopulationTrainer(method, [config for _, config in group], device)
            active = [True] * len(ids)
            pbt = PBT(method, trainer.configs, metric=metric, seed=trainer.configs[0]["seed"], space=space) \
                if scheduler == "pbt" else None
        served += sum(active)

        def report(metrics: list[dict[str, Any]], state: dict[str, Any], grids: torch.Tensor) -> None:
            nonlocal served
            parents = {}
            if pbt is not None:
                for k, member in enumerate(metrics):
                    member.update({f"hp_{key}": v for key, v in pbt.hyperparameters(trainer.configs[k]).items()})
                exploits = pbt.round(trainer, [m if active[k] else {} for k, m in enumerate(metrics)])
                for e in exploits:
                    parents[e.member] = ids[e.donor]
                    metrics[e.member]["pbt_exploit_seconds"] = pbt.exploit_seconds[-1]
            spent = cost.share(meter.lap(), sum(active))  # the active members trained this interval together
            reports = [{"member_id": ids[k], "slot": k, "spent": spent, "grid": grid_png(grids[k]),
                        "metrics": {**metrics[k], **cost.counts(trainer.ages[k], trainer.images_per_step)},
                        "index": trainer.ages[k] // trainer.eval_every,
                        "state": state["members"][k] if metrics[k].get("final") else None,
                        **({"parent": parents[k]} if k in parents else {}),
                        **({"lineage": pbt.lineage[k]} if pbt is not None and metrics[k].get("final") else {})}
                       for k in range(len(ids)) if active[k]]
            decisions = judge(reports)
            replaced = False
            for one in reports:
                action, replacement = decisions[one["member_id"]]
                if action == "continue":
                    continue
                k = one["slot"]
                if replacement is None:
                    active[k] = False  # nothing of this signature left: the slot idles to the group's end
                else:
                    ids[k] = replacement[0]
                    trainer.replace(k, replacement[1])
                    if pbt is not None:
                        pbt.restart(k, replacement[1])
                    served, replaced = served + 1, True
            save({**(trainer.state_dict() if replaced or parents else state), "ids": ids, "active": active,
                  **({"pbt": pbt.state()} if pbt is not None else {})})
            if not any(active):
                raise _GroupDone

        try:
            loop.drive(_Group(trainer), report=report)
        except _GroupDone:
            pass
