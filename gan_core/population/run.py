"""gan_core.train_population: K members of one method in one process, each written to its own run folder.

    out/member_000/ ... member_<K-1>/   checkpoint.pt (a single run's format), samples/, metrics.jsonl
    out/population.json                 the members' configs and status
    out/spread.json                     each final metric's mean, std, min and max over the members
    out/pbt.json, out/champion_schedule.json   with scheduler="pbt": every member's lineage, and the
                                        champion's root config and schedule (``gan train --schedule`` replays it)

With K seeds of one config the spread is the point (Lucic et al. 2018: one seed says little
about a GAN configuration); with K configs each member is its own run.
"""
from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from .. import checkpoint, cost, disk, loop, registry, run_folder
from ..device import pick_device
from ..errors import CheckpointError, ConfigError
from ..gan_trainer import schedule
from .members import check_method, check_together
from .pbt import PBT
from .trainer import PopulationTrainer

MEMBER = "member_{:03d}"


def member_configs(config: dict[str, Any] | list[dict[str, Any]], size: int | None) -> list[dict[str, Any]]:
    """K configs: a list as given, or ``size`` seeds (seed, seed + 1, ...) of one config."""
    if isinstance(config, list):
        if size is not None and size != len(config):
            raise ConfigError(f"--population {size} but {len(config)} member configs were given")
        return [dict(c) for c in config]
    if size is None or size < 1:
        raise ConfigError(f"a population needs a size of at least 1, got {size}")
    first = int(config.get("seed", 0))
    return [{**config, "seed": first + k} for k in range(size)]


def spread(finals: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """mean, std, min and max of every number the members' final reports share."""
    alive = [m for m in finals if m.get("status") != "diverged"]
    keys = [k for k, v in (alive[0] if alive else {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and all(k in m for m in alive)]
    return {k: {"mean": statistics.fmean(m[k] for m in alive),
                "std": statistics.stdev(m[k] for m in alive) if len(alive) > 1 else 0.0,
                "min": min(m[k] for m in alive), "max": max(m[k] for m in alive), "members": len(alive)}
            for k in keys}


def tracked_state(state: dict[str, Any]) -> dict[str, Any]:
    """What a population checkpoint holds beside its members' own checkpoints, as JSON-ready values."""
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in state.items()
            if k in ("configs", "alive", "finite", "deaths", "ids", "active", "pbt")}


def resume_state(out: Path, configs: list[dict[str, Any]]) -> dict[str, Any]:
    index = out / "population.json"
    if not index.exists():
        raise CheckpointError(f"nothing to resume: no population.json in {out}")
    saved = json.loads(index.read_text())
    if len(saved["configs"]) != len(configs):
        raise CheckpointError(f"{index} holds a population of {len(saved['configs'])} members, not {len(configs)}; "
                              f"resume with its own")
    members = [checkpoint.load(out / MEMBER.format(k) / checkpoint.FILE) for k in range(len(configs))]
    for k, (before, config) in enumerate(zip(saved["configs"], json.loads(json.dumps(configs)))):
        checkpoint.check_resume(f"member {k} of {out}", before, config, int(members[0]["step"]),
                                schedule(config)[0])
    return {**saved["population"], "configs": configs, "members": members, "step": members[0]["step"],
            "train_seconds": members[0]["train_seconds"],
            "cost": cost.Shares([cost.seconds_of(m) for m in members]).charged()}  # the process's, its members' sum


def train_population(method: str, config: dict[str, Any] | list[dict[str, Any]], *, size: int | None = None,
                     out_dir: str | Path | None = None, resume: bool = False, progress: bool = False,
                     on_report: loop.Report | None = None, scheduler: str = "none",
                     perturb_interval: int = 1) -> list[dict[str, Any]]:
    """Train a population of ``method``: ``size`` seeds of ``config``, or the list of member configs
    it is. Returns each member's final metrics (a retired member's: its status and reason).

    ``scheduler="pbt"``: every ``perturb_interval`` reports, the bottom quarter by fid_mnist takes a top
    member's state on the device and perturbs its hyperparameters (``population.pbt``)."""
    if scheduler not in ("none", "pbt"):
        raise ConfigError(f"a population's scheduler is none or pbt, got {scheduler!r}")
    if perturb_interval < 1:
        raise ConfigError(f"perturb_interval must be >= 1 report, got {perturb_interval}")
    job = registry.get(method)
    check_method(job)
    configs = [job.resolve(c) for c in member_configs(config, size)]
    check_together(job, configs)
    out = Path(out_dir) if out_dir is not None else None
    state = resume_state(out, configs) if resume and out is not None else None
    if resume and out is None:
        raise CheckpointError("nothing to resume: no run folder given")
    for k in range(len(configs) if state is not None else 0):
        run_folder.rewind(out / MEMBER.format(k), int(state["step"]))
    device = pick_device(configs[0]["device"])
    registry.preflight(configs[0], device)
    trainer = PopulationTrainer(job, configs, device)
    pbt = None
    if scheduler == "pbt":
        saved = out / "pbt.json" if out is not None else None
        pbt = PBT(job, configs, interval=perturb_interval, seed=configs[0]["seed"],
                  saved=json.loads(saved.read_text()) if resume and saved.exists() else None)
    # each member's own seconds: the loop counts the process's, which the members still training share
    shares = cost.Shares([cost.seconds_of(m) for m in state["members"]] if state else [{}] * len(configs))
    retired = set(map(int, state["deaths"])) if state else set()

    def report(members: list[dict[str, Any]], state: dict[str, Any], samples_u8) -> None:
        shares.charge(cost.since(state["cost"], shares.charged()), [k not in retired for k in range(len(members))])
        for k, metrics in enumerate(members):
            metrics.update(shares.totals[k], **cost.counts(trainer.ages[k], trainer.images_per_step))
            if metrics.get("status") == "diverged":
                retired.add(k)
        if pbt is not None:
            for k, metrics in enumerate(members):  # each member's schedule, as metrics per step
                metrics.update({f"hp_{key}": v for key, v in pbt.hyperparameters(trainer.configs[k]).items()})
            exploits = pbt.round(trainer, members)
            for e in exploits:
                members[e.member].update(pbt_parent=e.donor, pbt_exploit_seconds=pbt.exploit_seconds[-1])
            if exploits:  # the checkpoint a resume takes holds the exploits
                state = {**state, **trainer.state_dict()}
        if on_report is not None:
            on_report(members, state, samples_u8)
        if out is None:
            return
        for k, metrics in enumerate(members):
            folder = out / MEMBER.format(k)
            folder.mkdir(parents=True, exist_ok=True)
            run_folder.write_report(folder, metrics, samples_u8[k])
        # last, together: every member's checkpoint and the population's state commit the report; a write
        # that fails replaces none of them (so the disk needs room for two of each member's checkpoints)
        files = ((out / MEMBER.format(k) / checkpoint.FILE, checkpoint.serialize(
            {**member, "step": state["step"], "train_seconds": state["train_seconds"], "cost": shares.totals[k]}))
            for k, member in enumerate(state["members"]))
        index = {"method": method, "configs": configs, "population": tracked_state(state)}
        shared = [(out / "population.json", json.dumps(index, indent=1).encode())]
        if pbt is not None:
            shared.append((out / "pbt.json", json.dumps(pbt.state(), indent=1).encode()))
        disk.replace_all(itertools.chain(files, shared), what="checkpoint")

    finals = loop.drive(trainer, report=report, resume=state, progress=progress)
    if out is not None:
        disk.replace(out / "spread.json", json.dumps(spread(finals), indent=1).encode())
        if pbt is not None:
            disk.replace(out / "champion_schedule.json",
                         json.dumps(champion_schedule(method, finals, pbt), indent=1).encode())
    return finals


def champion_schedule(method: str, finals: list[dict[str, Any]], pbt: PBT) -> dict[str, Any]:
    """The best finished member's root config and schedule: what ``gan train --schedule FILE`` replays."""
    alive = [k for k, m in enumerate(finals) if pbt.metric in m]
    if not alive:
        return {"method": method, "member": None}
    best = max(alive, key=lambda k: pbt.sign * finals[k][pbt.metric])
    return {"method": method, "member": best, pbt.metric: finals[best][pbt.metric], **pbt.lineage[best]}
