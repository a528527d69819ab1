"""GanModel and best_model: the winner of the sweeps, ready to sample."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from . import loop, methods, tracking
from .models import LATENT_DIM, Generator


@dataclass
class GanModel:
    generator: Generator
    run_id: str
    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    sampler: str = "plain"          # the sampler that gave this run its best FID
    sampler_run: str = ""           # the MLflow run that fitted it
    tracking_uri: str | None = None
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # the full checkpoint (D for samplers)

    @torch.no_grad()
    def sample(self, n: int, *, sampler: str | None = None, seed: int | None = None) -> torch.Tensor:
        """n samples [n, 1, 28, 28] in [-1, 1]; ``sampler`` defaults to the run's best."""
        from . import sampling

        name = sampler or self.sampler
        sampling.check_sampler(name)
        if name != "plain":
            return sampling.sample_from_model(self, name, n, seed=seed)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        device = next(self.generator.parameters()).device
        z = torch.randn(n, LATENT_DIM, generator=gen).to(device)
        return self.generator(z).view(n, 1, 28, 28)

    def linked_sampler_run(self, job: str) -> str | None:
        """The run that fitted ``job`` (drs, latent_reweighting) for this generator, if any."""
        from .sampling import JOB_OF

        if self.sampler_run and JOB_OF.get(self.sampler) == job:
            return self.sampler_run
        return tracking.best_linked_run(job, self.run_id, self.tracking_uri) if self.run_id else None

    def discriminator(self):
        """The run's discriminator, rebuilt from its checkpoint (for DRS and friends)."""
        method = methods.get(self.method)
        config = method.resolve({k: v for k, v in self.state["config"].items() if k in method.schema})
        D = method.build_discriminator(config)
        D.load_state_dict(self.state["discriminator"])
        return D.eval()


def load_run(run_id: str, *, tracking_uri: str | None = None, record: tracking.RunRecord | None = None,
             method: str | None = None) -> GanModel:
    folder = tracking.download_checkpoint(run_id, tracking_uri)
    state = loop.load_checkpoint(folder / "checkpoint.pt")
    G = Generator()
    G.load_state_dict(state["generator"])
    G.eval().requires_grad_(False)
    if record is None:
        run = tracking.client(tracking_uri).get_run(run_id)
        record = tracking.RunRecord(run_id, dict(run.data.metrics), dict(run.data.params), dict(run.data.tags))
    return GanModel(G, run_id, method or state["method"], record.metrics, record.params,
                    record.tags.get("best_sampler", "plain"), record.tags.get("best_sampler_run", ""),
                    tracking_uri, state)


def best_model(method: str, *, tracking_uri: str | None = None, metric: str = "fid") -> GanModel:
    """The best finished run of ``method``: lowest final Inception ``fid`` (compared only
    between runs with the same sample count), else ``fid_mnist`` where no run has ``fid``."""
    methods.get(method)
    ranked, used = tracking.rank(tracking.finished_runs(method, tracking_uri), metric)
    if not ranked:
        raise tracking.ModelNotFoundError(
            f"no finished {method!r} run with {metric!r} at {tracking.client(tracking_uri).tracking_uri}")
    best = ranked[0]
    return load_run(best.run_id, tracking_uri=tracking_uri, record=best, method=method)
