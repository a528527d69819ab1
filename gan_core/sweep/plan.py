"""Everything a sweep checks before Ray starts: its options, the search space, the base run and ASHA's rungs."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .. import presets, registry, search_space as spaces, tracking
from ..errors import ConfigError
from ..gan_model import load_base
from ..metrics import probe
from ..metrics.evaluate import inception_count
from ..device import pick_device
from ..gan_trainer import schedule
from ..population.members import SHARED_FLOATS, check_method
from .ray_session import latest_experiment

METRICS = (probe.SIGNAL, "fid_mnist", "fid")


@dataclass
class SweepOptions:
    """The knobs every sweep script exposes (see ``cli.parser``); ``check`` refuses bad ones in one line."""
    num_samples: int = 16
    max_epochs: int | None = None
    metric: str | None = None       # None: the pruning signal for GAN methods, fid_mnist for sampler jobs
    smoke: bool = False
    tracking_uri: str | None = None
    storage_path: str | None = None
    resume: bool = False
    seed: int = 0
    max_concurrent: int | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    max_failures: int = 2
    early_stopping: bool = True
    base: str | None = None
    grace_period: int | None = None  # None: the space's asha.grace, else 1
    reduction_factor: float | None = None
    finalists: int = 3
    population: int | None = None    # members per population (a population sweep); None: one trial a process
    populations: int | None = None   # populations at once (default: one per GPU, else 1)
    scheduler: str = "asha"          # a population sweep's members: stopped early (asha) or exploited (pbt)
    verbose: int = 1

    def check(self) -> None:
        def at_least(name: str, value, low, what="an integer"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < low):
                raise ConfigError(f"--{name.replace('_', '-')} must be {what} >= {low}, got {value!r}")

        at_least("num_samples", self.num_samples, 1)
        at_least("max_epochs", self.max_epochs, 1)
        at_least("max_concurrent", self.max_concurrent, 1)
        at_least("max_failures", self.max_failures, 0)
        at_least("finalists", self.finalists, 0)
        at_least("population", self.population, 1)
        at_least("populations", self.populations, 1)
        at_least("seed", self.seed, 0)
        at_least("gpus_per_trial", self.gpus_per_trial, 0, "a number")
        if self.cpus_per_trial is not None and not self.cpus_per_trial > 0:
            raise ConfigError(f"--cpus-per-trial must be above 0, got {self.cpus_per_trial!r}")
        if self.scheduler not in ("asha", "pbt"):
            raise ConfigError(f"--scheduler must be asha or pbt, got {self.scheduler!r}")
        if self.scheduler == "pbt" and self.population is None:
            raise ConfigError("--scheduler pbt copies members inside a population: give --population K")
        if self.metric is not None and self.metric not in METRICS:
            raise ConfigError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


@dataclass
class SweepPlan:
    """A checked sweep: what the driver hands to Tune, and what the results step needs."""
    method: str
    study: str
    options: SweepOptions
    space: spaces.SearchSpace
    job: Any
    fixed: dict[str, Any]             # the trials' fixed config (param_space)
    resolved: dict[str, Any]          # the fixed config resolved, for budgets and the sampler record
    uri: str
    storage_uri: str
    max_t: int                        # reports per trial: ASHA's budget
    reduction_factor: float
    restore_from: tuple[str, str] | None = None   # (path, name) of the experiment to resume
    base_state: dict[str, Any] | None = None      # a sampler job's GAN run, shipped once to the trials
    points: list[dict] = field(default_factory=list)
    name: str = ""
    finalist_samples: int = 0                     # Inception samples per finalist after the study (0: none)

    def parent_params(self, resources: dict[str, float]) -> dict[str, Any]:
        o = self.options
        asha = ({"scheduler": "pbt"} if o.scheduler == "pbt" and o.population is not None else
                {"asha_grace_period": o.grace_period, "asha_reduction_factor": self.reduction_factor}
                if o.early_stopping else {"scheduler": "fifo"})
        signal = ({"signal": probe.SIGNAL, "signal_version": probe.version(),
                   "signal_samples": self.resolved["probe_samples"]} if o.metric == probe.SIGNAL else {})
        return {"study": self.study, "num_samples": o.num_samples, "metric": o.metric, **signal, "smoke": o.smoke,
                "seed": o.seed, **asha, "cpus_per_trial": resources["cpu"], "gpus_per_trial": resources["gpu"],
                "search_space": str(self.space.search), **{f"fixed.{k}": v for k, v in self.fixed.items()}}


def storage_uri(path: str | None) -> str:
    """Ray Tune's storage: s3://, gs://… as given; a local folder made absolute (default ./ray_results)."""
    return path if "://" in (path or "") else str(Path(path or "ray_results").expanduser().resolve())


def first_trials(job, space: spaces.SearchSpace, fixed: dict[str, Any],
                 points: list[dict] | None) -> list[dict]:
    """The study's first trials on the searched keys: by default the method's seed preset (else its
    defaults), so a study starts from the hand-tuned baseline; a given point fills the rest from it.
    A space that leaves the seed out (a narrowed study) starts from Optuna's own proposals instead."""
    seed = job.resolve({**fixed, **presets.seed_point(job.name)})
    seed_point = {k: seed[k] for k in space.search}
    if points is None:
        outside = [k for k, v in seed_point.items() if not spaces.contains(space.search[k], v)]
        if outside:
            print(f"{space.source}: the seed's {outside[0]}={seed_point[outside[0]]!r} lies outside the space; "
                  f"the study starts from Optuna's proposals")
            return []
    out = [{**seed_point, **{k: v for k, v in p.items() if k in space.search}} for p in points or [{}]]
    for point in out:
        for key, value in point.items():
            if not spaces.contains(space.search[key], value):
                raise spaces.SearchSpaceError(f"{space.source}: the first trial's {key}={value!r} lies outside search.{key}; "
                                  f"widen it so the study starts from the seed")
    return out


def check_packable(space: spaces.SearchSpace, resolved: dict[str, Any]) -> None:
    """What a population sweep needs beyond a sweep: whole reports, and no continuous search over a
    setting that members must share (every proposal would be a population of its own)."""
    total, every = schedule(resolved)
    if total % every:
        raise ConfigError(f"--population needs a budget of whole reports: {total} steps is not a multiple of "
                          f"the {every} between reports; set max_steps or the cadence so it is")
    for key, spec in space.search.items():
        if key in SHARED_FLOATS and spec["type"] != "categorical":
            raise ConfigError(f"{space.source}: --population cannot pack a continuous search over {key}, which "
                              f"members of one population share; make it categorical or fix it")


def make_plan(method: str, study: str, options: SweepOptions, space: spaces.SearchSpace | None = None,
              points_to_evaluate: list[dict] | None = None) -> SweepPlan:
    """Check everything that can be wrong (before Ray starts) and fix what the sweep will run."""
    options.check()
    space = space or spaces.load(method)
    job = registry.get(method)
    if options.population is not None:
        check_method(job)  # a sampler job, or a method populations refuse, said in one line

    fixed = space.fixed_config(smoke=options.smoke)
    if options.max_epochs is not None and "epochs" in job.schema:  # sampler jobs have no epochs
        fixed["epochs"] = options.max_epochs
    has_probe = "probe_samples" in job.schema  # GAN methods; sampler jobs prune on fid_mnist
    if options.metric is None:
        options.metric = probe.SIGNAL if has_probe else "fid_mnist"
    if options.metric == probe.SIGNAL and not has_probe:
        raise ConfigError(f"--metric {probe.SIGNAL} is for GAN methods; a {method} sweep prunes on fid_mnist or fid")
    if options.grace_period is None:
        options.grace_period = space.asha.get("grace", 1)
    if options.early_stopping and options.grace_period < 1:
        raise ConfigError(f"--asha-grace must be at least 1 report, got {options.grace_period}")
    reduction = options.reduction_factor or space.asha.get("reduction") or (2 if options.smoke else 3)
    if options.early_stopping and not reduction > 1:
        raise ConfigError(f"--asha-reduction must be above 1, got {reduction}")
    if has_probe:  # the signal where ASHA decides (and at the first and last reports); off when not pruned on
        if options.metric != probe.SIGNAL:
            fixed["probe_samples"] = 0
        else:
            fixed.setdefault("probe_samples", probe.SMOKE_SAMPLES if options.smoke else probe.SAMPLES)
        fixed.update(probe_grace=options.grace_period, probe_reduction=float(reduction))
        if options.scheduler == "pbt":  # PBT compares members after every report
            fixed["probe_every"] = 1
    if options.metric == "fid":
        fixed["inception_every_report"] = True
    uri = tracking.normalize_uri(options.tracking_uri) if options.tracking_uri else tracking.default_tracking_uri()
    tracking.check_reachable(uri)
    base_state = None
    if "base" in job.schema:  # a sampler job works on a finished GAN run
        if not options.base:
            raise ConfigError(f"a {method} sweep needs --base: a GAN run id, a method name "
                              f"(its champion) or a checkpoint path")
        base_run, base_state = load_base(options.base, uri)
        fixed["base"] = base_run or str(Path(options.base).resolve())
    resolved = job.resolve(fixed)
    finalist_samples = 0
    if options.metric != "fid" and "inception_samples" in job.schema:
        # Inception for the finalists only, once, after the study; trials train without it
        finalist_samples = inception_count(resolved, pick_device("auto"))
        fixed["inception_samples"] = 0
        resolved = job.resolve(fixed)
    max_t = job.planned_reports(resolved)
    if options.early_stopping and not 1 <= options.grace_period <= max_t:
        raise ConfigError(f"--asha-grace must be between 1 and the {max_t} reports a trial makes, "
                          f"got {options.grace_period}")
    driver = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # missing data or weights: one line now, not after the study
    registry.preflight({**resolved, "inception_samples": finalist_samples or resolved.get("inception_samples", 0)
                        or resolved.get("probe_samples", 0)}, driver)
    if options.population is not None:
        check_packable(space, resolved)
    storage = storage_uri(options.storage_path)
    restore_from = latest_experiment(storage, study) if options.resume else None
    points = first_trials(job, space, fixed, points_to_evaluate)
    name = restore_from[1] if restore_from else f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
    return SweepPlan(method, study, options, space, job, fixed, resolved, uri, storage, max_t, reduction,
                     restore_from, base_state, points, name, finalist_samples)
