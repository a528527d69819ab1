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
    # looked up in the source registries each time, so a method registered at run time is found
    found = methods.REGISTRY.get(name) or JOBS.get(name)
    if found is None:
        raise ConfigError(f"unknown method {name!r}; choose one of: {', '.join(methods.REGISTRY)}, "
                          f"or a sampler job: {', '.join(JOBS)}")
    return found


def is_sampler_job(name: str) -> bool:
    return isinstance(JOBS.get(name), SamplerJob)
