"""Every name a run can train: the GAN methods, and the samplers' fitting jobs.

Both kinds share one interface (name, doc, schema, resolve, planned_reports), so
trainables, ``gan train``, search spaces and sweeps treat them alike.
"""
from __future__ import annotations

from . import methods
from .config import ConfigError
from .sampling.jobs import JOBS, SamplerJob

REGISTRY = {**methods.REGISTRY, **JOBS}


def get(name: str):
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of: {', '.join(methods.REGISTRY)}, "
                          f"or a sampler job: {', '.join(JOBS)}") from None


def is_sampler_job(name: str) -> bool:
    return isinstance(REGISTRY.get(name), SamplerJob)
