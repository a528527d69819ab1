"""Every name a run can train (the GAN methods and the samplers' fitting jobs), and building its trainer.

Both kinds answer the same calls (name, doc, params, schema, resolve, planned_reports and
``trainer(config, device, base)``), so trainables, ``gan train``, search spaces and sweeps
treat them alike. A job whose schema has ``base`` works on a finished GAN run; loading that
run (from MLflow or a file) is the caller's business, so this module never touches MLflow.
"""
from __future__ import annotations

from typing import Any

from . import methods
from .data import load_mnist
from .device import pick_device
from .errors import ConfigError
from .metrics.evaluate import inception_count
from .metrics.features import inception_extractor, mnist_extractor
from .sampling.jobs import JOBS


def names() -> dict[str, Any]:
    # read at call time, so a method registered later (as the divergence test does) is found
    return {**methods.REGISTRY, **JOBS}


def get(name: str):
    found = names().get(name)
    if found is None:
        raise ConfigError(f"unknown method {name!r}; choose one of: {', '.join(methods.REGISTRY)}, "
                          f"or a sampler job: {', '.join(JOBS)}")
    return found


def resolve(name: str, user_config: dict | None) -> tuple[Any, dict]:
    """(the method or job, its complete validated config)."""
    job = get(name)
    return job, job.resolve(user_config)


def preflight(config: dict, device) -> None:
    """Load the data and the feature networks before any training, so missing files fail first."""
    load_mnist("train")
    mnist_extractor(str(device))
    if inception_count(config, device) > 0 or config.get("inception_every_report") or config.get("probe_samples"):
        inception_extractor(str(device))


def build_trainer(job, config: dict, base: dict[str, Any] | None = None):
    """The trainer ``loop.drive`` steps: device checked, data and weights loaded, then built."""
    device = pick_device(config["device"])
    preflight(config, device)
    return job.trainer(config, device, base)
