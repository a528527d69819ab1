"""One Ray Tune function trainable per method: ``tune.Tuner(trainables.san, ...)``.

Each is a plain function of ``config`` (Ray's tune/examples style). It resumes from
``tune.get_checkpoint()`` and, at every evaluation, calls ``tune.report`` with the
metrics and a checkpoint folder holding checkpoint.pt and samples.png.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from . import loop, registry
from .images import save_grid

CHECKPOINT = "checkpoint.pt"
SAMPLES = "samples.png"


DIVERGED = "DIVERGED"  # marker in the trial folder: a retry of a diverged trial stops at once


def _make(method: str):
    def trainable(config: dict, base: dict | None = None) -> None:
        import ray
        from ray import tune

        marker = Path(tune.get_context().get_trial_dir()) / DIVERGED
        if marker.exists():  # FailureConfig retries errors; divergence is deterministic
            raise loop.Diverged(marker.read_text())
        resume = None
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                resume = loop.load_checkpoint(Path(folder) / CHECKPOINT)
        node_id = ray.get_runtime_context().get_node_id()

        def report(metrics: dict, state: dict, samples_u8) -> None:
            with tempfile.TemporaryDirectory() as folder:
                loop.save_checkpoint(state, Path(folder) / CHECKPOINT)
                save_grid(samples_u8, Path(folder) / SAMPLES)
                tune.report({**metrics, "node_id": node_id}, checkpoint=tune.Checkpoint.from_directory(folder))

        try:
            loop.run(method, config, report=report, resume=resume, base=base)
        except loop.Diverged as err:
            marker.write_text(str(err))
            raise

    trainable.__name__ = trainable.__qualname__ = method
    trainable.__doc__ = (f"Ray Tune trainable for {method}: {registry.get(method).doc}"
                         + ("\n\nbase: the GAN run's checkpoint state; sweeps pass it with tune.with_parameters, "
                            "otherwise config['base'] is loaded from MLflow." if registry.is_sampler_job(method) else ""))
    return trainable


# trainables.vanilla, trainables.san, ..., trainables.drs: one per registered method or sampler job,
# so a new one needs no edit here.
_TRAINABLES = {name: _make(name) for name in registry.REGISTRY}
globals().update(_TRAINABLES)
__all__ = [*_TRAINABLES, "get"]


def get(method: str):
    registry.get(method)  # clear error for unknown names
    return _TRAINABLES[method]
