"""GanModel and best_model: a finished run (the winner of the sweeps, or any tracked run), ready to sample."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, methods, ranking, sampling, tracking
from .errors import ConfigError, ModelNotFoundError, UserError
from .models import Generator, frozen_generator


@dataclass
class GanModel:
    generator: Generator            # the fixed Generator, in eval mode (the average when the run kept one)
    run_id: str
    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    default_sampler: str = "plain"  # the sampler that gave this run its best FID
    sampler_run: str = ""           # the MLflow run that fitted it
    tracking_uri: str | None = None
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # the run's checkpoint (DRS reads its D)

    def sample(self, n: int, *, sampler: str | None = None, seed: int | None = None) -> torch.Tensor:
        """n samples [n, 1, 28, 28] in [-1, 1]; ``sampler`` defaults to the run's best."""
        name = sampler or self.default_sampler
        sampling.check_sampler(name)
        if name == "drs" and "discriminator" not in self.state:
            raise ModelNotFoundError("sampler 'drs' needs the run's discriminator; a bare generator state dict "
                                     "samples 'plain' only (give the run's checkpoint.pt for DRS)")
        return sampling.draw(name, n, generator=self.generator, base=self.state,
                             fitted=self.fitted_sampler(name), seed=seed)

    def fitted_sampler(self, sampler: str) -> dict[str, Any] | None:
        """The checkpoint of the best job that fitted ``sampler`` for this run, if one was run."""
        job = sampling.JOB_OF.get(sampler)
        if job is None or not self.run_id:
            return None
        run = self.sampler_run if sampling.JOB_OF.get(self.default_sampler) == job and self.sampler_run \
            else tracking.best_linked_run(job, self.run_id, self.tracking_uri)
        if run is None:
            return None
        return tracking.load_checkpoint(run, self.tracking_uri, method=job)


def load_run(run_id: str, *, tracking_uri: str | None = None, record: ranking.RunRecord | None = None,
             method: str | None = None) -> GanModel:
    """A tracked GAN run by its id, with its final checkpoint."""
    state = tracking.load_checkpoint(run_id, tracking_uri)
    record = record or tracking.run_record(run_id, tracking_uri)
    return GanModel(frozen_generator(state["generator"]), run_id, method or state["method"], record.metrics,
                    record.params, record.tags.get("best_sampler", "plain"), record.tags.get("best_sampler_run", ""),
                    tracking_uri, state)


def from_checkpoint(path: str | Path) -> GanModel:
    """A GAN run's checkpoint.pt (a run folder's or a population member's), or a bare ``Generator`` state dict
    (the shipped one, gan_core/weights/best_generator.pt), untracked."""
    state = checkpoint.read(path)
    if set(state) == set(Generator().state_dict()):
        return GanModel(frozen_generator(state), "", "generator", state={"generator": state})
    state = checkpoint.load(path)
    if "generator" not in state or "discriminator" not in state:
        raise ConfigError(f"{path} is a {state.get('method')!r} checkpoint, not a GAN run's")
    return GanModel(frozen_generator(state["generator"]), state.get("run_id", ""), state["method"],
                    params={k: str(v) for k, v in state.get("config", {}).items()}, state=state)


def best_model(method: str, *, tracking_uri: str | None = None, metric: str = "fid") -> GanModel:
    """The best finished run of ``method``: lowest final Inception ``fid`` (compared only
    between runs with the same sample count and metric version), else ``fid_mnist``."""
    methods.get(method)
    ranked, _ = ranking.rank(tracking.finished_runs(method, tracking_uri), metric)
    if not ranked:
        raise ModelNotFoundError(
            f"no finished {method!r} run with {metric!r} at {tracking.client(tracking_uri).tracking_uri}")
    return load_run(ranked[0].run_id, tracking_uri=tracking_uri, record=ranked[0], method=method)


def load_base(base: str, tracking_uri: str | None = None) -> tuple[str, dict[str, Any]]:
    """(run id, checkpoint state) of a sampler job's base: a checkpoint path, a method's champion, or a run id."""
    if base.endswith(".pt") or Path(base).is_file():
        state = checkpoint.load(base)
        if "discriminator" not in state or "generator" not in state:
            raise ConfigError(f"base {base} is a {state['method']!r} checkpoint, not a GAN run's")
        return state.get("run_id", ""), state
    if base in methods.REGISTRY:
        model = best_model(base, tracking_uri=tracking_uri)
        return model.run_id, model.state
    try:
        model = load_run(base, tracking_uri=tracking_uri)
    except UserError:  # no experiment, no server: already one clear line
        raise
    except Exception as err:  # an unknown run id surfaces as an MLflow error: say what base accepts
        raise ConfigError(f"base {base!r} is not a finished GAN run, a method with a champion, or a "
                          f"checkpoint.pt path ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    return model.run_id, model.state
