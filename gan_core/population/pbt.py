"""Population-based training (Jaderberg et al. 2017) inside one population: Ray's PopulationBasedTraining rules
as a pure module, so the exploit is an index copy on the device instead of a checkpoint in storage.

    quantiles(scores)        the bottom and top members (Ray's ``_quantiles``: ceil(n · 25%), at most n // 2)
    explore(config, ...)     Ray's ``_explore`` for continuous keys: resample with a probability, else × 0.8 or 1.2
    decide(scores, ...)      who copies whom, with what new hyperparameters (Ray's order of random draws)
    mutations(method, cfg)   the float keys a member may change: shape-changing keys stay fixed in a population
    Replay                   a single run that follows a member's schedule from scratch (Ray's PopulationBasedTrainingReplay)

A test feeds one recorded sequence of results to these rules and to Ray's PopulationBasedTraining and gets
the same exploits and the same perturbed configs.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from .members import SHARED_FLOATS, per_member_keys

QUANTILE = 0.25
RESAMPLE_PROBABILITY = 0.25
FACTORS = (1.2, 0.8)  # Ray's default perturbation_factors, in its order
# Per-member floats that change a code path when they cross 0 (averaging on or off, dropout drawn or not):
# PBT leaves them as proposed; a schedule replays only keys a single run can change between steps.
FIXED_FLOATS = ("g_ema", "d_dropout")


@dataclass(frozen=True)
class Range:
    """Where a key resamples from (log-uniform when ``log``) and the bounds a perturbation is clipped to."""
    low: float
    high: float
    log: bool = True

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def clip(self, value: float) -> float:
        return min(max(value, self.low), self.high)


def ranges(search: dict[str, dict[str, Any]]) -> dict[str, Range]:
    """A search space's continuous keys as PBT ranges (categorical keys stay as proposed)."""
    return {k: Range(float(s["low"]), float(s["high"]), s["type"] == "loguniform")
            for k, s in search.items() if s.get("type") in ("uniform", "loguniform")}


def mutations(method, config: dict[str, Any], space: dict[str, Range] | None = None) -> dict[str, Range]:
    """The keys PBT perturbs: the search space's float keys that a member may vary, or, without a space,
    the method's per-member floats that are on (not 0), resampled within a factor of 10 of their value."""
    varying = [k for k in per_member_keys(method) if k != "seed" and k not in FIXED_FLOATS + SHARED_FLOATS]
    if space is not None:
        return {k: r for k, r in space.items() if k in varying}
    out = {}
    for key in varying:
        value, param = config[key], method.schema[key]
        if value > 0:
            high = min(value * 10, param.high if param.high is not None else math.inf)
            if key.startswith("beta"):  # an average's decay: perturbed as is, never up to 1
                high = min(high, 0.9999)
            out[key] = Range(value / 10, high)
    return out


def quantiles(scores: dict[Any, float], fraction: float = QUANTILE) -> tuple[list, list]:
    """(bottom, top) members by score, higher is better (Ray negates a metric to minimize); NaN scores are out."""
    ranked = sorted((k for k, s in scores.items() if s is not None and not math.isnan(s)), key=lambda k: scores[k])
    if len(ranked) <= 1:
        return [], []
    n = int(math.ceil(len(ranked) * fraction))
    if n > len(ranked) / 2:
        n = int(math.floor(len(ranked) / 2))
    return ranked[:n], ranked[len(ranked) - n:]


def explore(config: dict[str, Any], space: dict[str, Range], rng: random.Random,
            resample_probability: float = RESAMPLE_PROBABILITY, factors: tuple[float, ...] = FACTORS
            ) -> tuple[dict[str, Any], dict[str, str]]:
    """A perturbed copy of ``config`` and what was done to each key (Ray's ``_explore``), kept in the key's range."""
    out, operations = dict(config), {}
    for key, where in space.items():
        if rng.random() < resample_probability:
            out[key], operations[key] = where.sample(rng), "resample"
        else:
            factor = rng.choice(factors)
            out[key], operations[key] = config[key] * factor, f"* {factor}"
        out[key] = where.clip(out[key])
    return out, operations


@dataclass
class Exploit:
    member: int      # the bottom member that takes the donor's state
    donor: int       # a top member
    config: dict     # the donor's config, explored
    operations: dict


def decide(scores: dict[int, float], configs: dict[int, dict], space: dict[str, Range], rng: random.Random,
           fraction: float = QUANTILE, resample_probability: float = RESAMPLE_PROBABILITY,
           factors: tuple[float, ...] = FACTORS) -> list[Exploit]:
    """One synchronous PBT round: every bottom member, worst first, copies a random top member and explores."""
    bottom, top = quantiles(scores, fraction)
    out = []
    for member in bottom:
        donor = rng.choice(top)
        config, operations = explore(configs[donor], space, rng, resample_probability, factors)
        out.append(Exploit(member, donor, config, operations))
    return out


class Replay:
    """A single run's trainer that follows a schedule [(step, {key: value}), ...] from scratch: at each listed
    step the run's hyperparameters change as the member's did (``loop.drive`` drives it like the run)."""

    def __init__(self, trainer, schedule: list[tuple[int, dict[str, Any]]]):
        self.trainer, self.schedule, self.steps = trainer, sorted(schedule, key=lambda e: e[0]), 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trainer, name)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)
        self.steps = int(state["step"])

    def step(self):
        for at, values in self.schedule:
            if at == self.steps:
                self.trainer.set_hyperparameters(values)
        self.steps += 1
        return self.trainer.step()


class PBT:
    """PBT over one population's reports: every ``interval`` reports (never at the last), the bottom quarter by
    ``metric`` takes a top member's state and explores its hyperparameters. ``lineage`` is each member's root
    config, schedule [(step, {key: value})] and parents [(step, donor)]: a member's own, or its donor's
    continued, so replaying a schedule from its root config retraces the member (``Replay``)."""

    def __init__(self, method, configs: list[dict[str, Any]], *, metric: str = "fid_mnist", mode: str = "min",
                 interval: int = 1, seed: int = 0, space: dict[str, Range] | None = None,
                 saved: dict[str, Any] | None = None):
        self.metric, self.sign, self.interval = metric, -1.0 if mode == "min" else 1.0, interval
        self.seed = saved["seed"] if saved else seed
        self.space = ({k: Range(**r) for k, r in saved["space"].items()} if saved and "space" in saved
                      else mutations(method, configs[0], space))
        self.reports = saved["reports"] if saved else 0
        self.lineage = saved["lineage"] if saved else [
            {"config": dict(c), "schedule": [], "parents": []} for c in configs]
        self.exploit_seconds: list[float] = []

    def hyperparameters(self, config: dict[str, Any]) -> dict[str, float]:
        return {key: config[key] for key in self.space}

    def restart(self, k: int, config: dict[str, Any]) -> None:
        """A new member in slot k (a sweep refilled it): its own root, no schedule yet."""
        self.lineage[k] = {"config": dict(config), "schedule": [], "parents": []}

    def round(self, trainer, reports: list[dict[str, Any]]) -> list[Exploit]:
        """After a report: decide and apply this round's exploits on ``trainer`` (a PopulationTrainer); a schedule
        entry's step is the donor's age, where the member goes on from."""
        self.reports += 1
        if self.reports % self.interval or any(r.get("final") for r in reports):
            return []
        scores = {k: self.sign * r[self.metric] for k, r in enumerate(reports)
                  if k not in trainer.deaths and self.metric in r}
        rng = random.Random(f"pbt-{self.seed}-{self.reports}")  # a resumed run redraws the same round
        exploits = decide(scores, dict(enumerate(trainer.configs)), self.space, rng)
        for e in exploits:
            step = trainer.ages[e.donor]
            tick = time.perf_counter()
            trainer.exploit(e.member, e.donor, e.config)
            self.exploit_seconds.append(time.perf_counter() - tick)
            donor = self.lineage[e.donor]
            self.lineage[e.member] = {"config": donor["config"],
                                      "schedule": [*donor["schedule"], [step, self.hyperparameters(e.config)]],
                                      "parents": [*donor["parents"], [step, e.donor]]}
        return exploits

    def state(self) -> dict[str, Any]:
        return {"seed": self.seed, "reports": self.reports, "lineage": self.lineage, "space": {k: vars(r) for k, r in self.space.items()}}

