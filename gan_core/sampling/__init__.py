"""Post-hoc samplers on a finished run: DRS and latent reweighting (RS, GA, RS+GA).

``GanModel.sample(n, sampler=...)`` lands here. A sampler's fitted state comes from the
best finished job linked to the run in MLflow (``sweeps/drs.py``, ``sweeps/latent_reweighting.py``);
DRS has nothing to train, so without a linked job it is calibrated on the spot with its defaults.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .jobs import JOBS, SamplerJob, load_base
from .latent import SAMPLERS as LATENT_SAMPLERS

if TYPE_CHECKING:
    from ..model import GanModel

SAMPLERS: tuple[str, ...] = ("plain", "drs", *LATENT_SAMPLERS)
JOB_OF = {"drs": "drs", **{s: "latent_reweighting" for s in LATENT_SAMPLERS}}

__all__ = ["SAMPLERS", "JOBS", "JOB_OF", "SamplerJob", "load_base", "sample_from_model", "check_sampler"]


def check_sampler(name: str) -> None:
    from ..config import ConfigError

    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")


def sample_from_model(model: "GanModel", sampler: str, n: int, *, seed: int | None = None) -> torch.Tensor:
    """n samples [n, 1, 28, 28] in [-1, 1] from ``model`` through ``sampler``."""
    from .. import tracking
    from ..loop import load_checkpoint

    check_sampler(sampler)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    job = JOBS[JOB_OF[sampler]]
    linked = model.linked_sampler_run(job.name)
    if linked is not None:
        state = load_checkpoint(tracking.download_checkpoint(linked, model.tracking_uri) / "checkpoint.pt")
        config = {**state["config"], "sampler": sampler} if job.name == "latent_reweighting" else state["config"]
    elif job.name == "drs":
        state, config = None, job.resolve({"base": model.run_id or "checkpoint"})
    else:
        raise tracking.ModelNotFoundError(
            f"sampler {sampler!r} needs a trained importance network for run {model.run_id}; "
            f"run: python sweeps/latent_reweighting.py --base {model.run_id}")
    if seed is not None:
        config = {**config, "seed": seed}
    device = next(model.generator.parameters()).device
    trainer = job.trainer(config, device, model.state)
    if state is None:
        trainer.step()  # DRS: calibrate and burn in now
    else:
        trainer.load_state_dict(state)
    images = trainer.draw(n, sampler)[0]
    return images.view(n, 1, 28, 28).float().div(127.5).sub(1.0).to(device)
