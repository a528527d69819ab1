"""One Ray Tune function trainable per method and sampler job: ``tune.Tuner(trainables.san, ...)``.

Each is a plain function of ``config`` (Ray's tune/examples style). It resumes from
``tune.get_checkpoint()`` and, at every evaluation, calls ``tune.report`` with the
metrics and a checkpoint folder holding checkpoint.pt and samples.png.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from . import checkpoint, disk, loop, registry
from .device import pick_device
from .population.run import tracked_state
from .population.pbt import Range
from .population.serve import serve
from .gan_model import load_base
from .images import save_grid

SAMPLES = "samples.png"
DIVERGED = "DIVERGED"  # marker in the trial folder: a retry of a diverged trial stops at once


def _make(method: str):
    def trainable(config: dict, base: dict | None = None) -> None:
        import ray  # deferred: importing Ray costs seconds, and only trials running under Tune need it
        from ray import tune

        marker = Path(tune.get_context().get_trial_dir()) / DIVERGED
        if marker.exists():  # FailureConfig retries errors; divergence is deterministic
            raise loop.Diverged(marker.read_text())
        job, resolved = registry.resolve(method, config)
        resume = None
        found = tune.get_checkpoint()
        if found is not None:
            with found.as_directory() as folder:
                resume = checkpoint.load(Path(folder) / checkpoint.FILE, method=method)
        if base is None and resolved.get("base"):  # sweeps pass it once through Ray's object store
            base = load_base(resolved["base"])[1]
        trainer = registry.build_trainer(job, resolved, base)
        node_id = ray.get_runtime_context().get_node_id()

        def report(metrics: dict, state: dict, samples_u8) -> None:
            with tempfile.TemporaryDirectory() as folder:
                checkpoint.save(state, Path(folder) / checkpoint.FILE)
                save_grid(samples_u8, Path(folder) / SAMPLES)
                tune.report({**metrics, "node_id": node_id}, checkpoint=tune.Checkpoint.from_directory(folder))

        try:
            loop.drive(trainer, report=report, resume=resume)
        except loop.Diverged as err:
            marker.write_text(str(err))
            raise

    trainable.__name__ = trainable.__qualname__ = method
    trainable.__doc__ = f"Ray Tune trainable for {method}: {registry.get(method).doc}"
    return trainable


def population(config: dict) -> None:
    """Ray Tune trainable of a population sweep: ``config["slots"]`` member slots of ``config["method"]``,
    fed and judged by the sweep's coordinator actor (``config["coordinator"]``); checkpoints hold
    every member's single-run checkpoint, so a killed population resumes with each member where it was."""
    import ray  # deferred: importing Ray costs seconds, and only trials running under Tune need it
    from ray import tune

    coordinator, name = ray.get_actor(config["coordinator"]), config["population"]
    resume = None
    found = tune.get_checkpoint()
    if found is not None:
        with found.as_directory() as folder:
            saved = json.loads((Path(folder) / "population.json").read_text())
            resume = {**saved, "members": [checkpoint.load(Path(folder) / f"{k:03d}.pt")
                                           for k in range(len(saved["ids"]))]}

    def save(state: dict) -> None:
        with tempfile.TemporaryDirectory() as folder:
            for k, member in enumerate(state["members"]):
                checkpoint.save(member, Path(folder) / f"{k:03d}.pt")
            disk.replace(Path(folder) / "population.json", json.dumps(tracked_state(state)).encode())
            tune.report({"members_active": sum(state["active"]), "ids": ",".join(state["ids"])},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    method = registry.get(config["method"])
    served = serve(method, pick_device(config["device"]), slots=config["slots"],
                   take=lambda signature, count: ray.get(coordinator.take.remote(name, signature, count)),
                   judge=lambda reports: ray.get(coordinator.judge.remote(name, reports)),
                   save=save, resume=resume, scheduler=config.get("scheduler", "asha"),
                   metric=config.get("metric", "fid_mnist"),
                   space={k: Range(*r) for k, r in config.get("pbt_space", {}).items()} or None)
    tune.report({"members_active": 0, "served": served})


# trainables.vanilla, trainables.san, ..., trainables.drs: one per registered method or sampler job,
# so a new one needs no edit here.
_TRAINABLES = {name: _make(name) for name in registry.names()}
globals().update(_TRAINABLES)
__all__ = [*_TRAINABLES, "get", "population"]


def get(method: str):
    registry.get(method)  # clear error for unknown names
    return _TRAINABLES.get(method) or _make(method)
