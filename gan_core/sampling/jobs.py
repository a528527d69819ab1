"""The samplers' fitting jobs, trained like methods: ``drs`` and ``latent_reweighting``.

Each job works on a finished GAN run, its ``base`` (an MLflow run id, a method name for that
method's champion, or a checkpoint path; the caller loads it), fits its sampler there, and
reports the usual metrics of the samples it accepts, with its acceptance rate and its cost
in proposals per accepted sample. ``loop.drive`` steps them, so cadence, divergence guard,
checkpoints and resume are the same as for training a GAN.
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from .. import checkpoint, loop
from ..config import COMMON, Param, lr, resolve
from ..data import Batches, load_mnist, quantize
from ..draws import Draws, key_for
from ..errors import ConfigError
from ..methods import frozen_critic
from ..metrics.evaluate import evaluate_samples, inception_count
from ..models import Discriminator, frozen_generator
from . import drs as drs_maths, latent

# What every sampler job shares with the GAN methods: seeding, device and the evaluation protocol.
SHARED = {k: COMMON[k] for k in ("seed", "device", "eval_samples", "inception_samples", "inception_every_report")}
BASE = Param("", str, help="the GAN run to sample from: an MLflow run id, a method name (its champion), "
                           "or a path to a checkpoint.pt")
GRID = 64  # samples in each report's grid


class SamplerJob:
    """A sampler's parameters and the trainer that fits it; answers the same calls as ``Method``."""
    name = ""
    doc = ""
    params: dict[str, Param] = {}
    samplers: tuple[str, ...] = ()

    @property
    def schema(self) -> dict[str, Param]:
        return {**SHARED, "base": BASE, **self.params}

    def resolve(self, user: dict[str, Any] | None) -> dict:
        config = resolve(self.schema, user, method=self.name)
        if not config["base"]:
            raise ConfigError(f"{self.name} needs base=<MLflow run id | method name | checkpoint path>: "
                              f"the finished GAN run to sample from")
        return config

    def planned_reports(self, config: dict) -> int:
        raise NotImplementedError

    def trainer(self, config: dict, device: torch.device, base: dict[str, Any] | None = None):
        raise NotImplementedError


class SamplerTrainer:
    """What both sampler trainers share: a report evaluates, and grids show, what ``draw`` accepts."""
    config: dict
    device: torch.device

    def draw(self, n: int, sampler: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError  # n accepted samples as uint8 [n, 784], and the acceptance statistics

    def metrics(self, final: bool, means: dict[str, torch.Tensor], timing: dict[str, Any]) -> dict[str, Any]:
        tick = time.perf_counter()
        n_inception = inception_count(self.config, self.device) \
            if final or self.config["inception_every_report"] else 0
        images, stats = self.draw(max(self.config["eval_samples"], n_inception))
        evaluated = {**evaluate_samples(images, eval_samples=self.config["eval_samples"],
                                        inception_samples=n_inception, device=str(self.device)), **stats}
        return loop.merge(evaluated, means, timing, time.perf_counter() - tick)

    def postfix(self, metrics: dict[str, Any]) -> dict[str, str]:
        return loop.postfix(metrics)

    def samples(self) -> torch.Tensor:
        return self.draw(GRID)[0]


def require_base(name: str, base: dict[str, Any] | None) -> dict[str, Any]:
    if base is None:
        raise ConfigError(f"{name} needs the base run's checkpoint state (load it with gan_model.load_base)")
    return base


# --- DRS ------------------------------------------------------------------------------

class DRSJob(SamplerJob):
    name = "drs"
    doc = "Discriminator rejection sampling (Azadi et al. 2019): calibrated D, burn-in max, percentile γ."
    samplers = ("drs",)
    params = {
        "drs_percentile": Param(95.0, float, low=0.0, high=100.0,
                                help="γ is this percentile of F(x) per batch; higher accepts fewer"),
        "drs_eps": Param(1e-6, float, low=0.0, high=1.0, low_open=True, help="ε inside log(1 − exp(·))"),
        "calibration_samples": Param(10_000, int, low=100, high=60_000,
                                     help="real and fake images for the logit calibration"),
        "burn_in": Param(10_000, int, low=100, high=1_000_000, help="fakes scored to estimate max log-ratio M"),
    }

    def planned_reports(self, config: dict) -> int:
        return 1  # nothing to train: one report of the calibrated sampler

    def trainer(self, config, device, base=None):
        return DRSTrainer(config, device, require_base(self.name, base))


def fit_drs(G, critic, config: dict, rng: torch.Generator) -> drs_maths.DRS:
    """Calibrate DRS for ``G`` and ``critic`` with a drs config's settings."""
    return drs_maths.fit(G, critic, load_mnist("train"), percentile=config["drs_percentile"], eps=config["drs_eps"],
                         calibration_samples=config["calibration_samples"], burn_in=config["burn_in"], rng=rng)


def fitted_drs(critic, config: dict, fitted: dict[str, float]) -> drs_maths.DRS:
    """A calibrated DRS back from the numbers a drs checkpoint holds."""
    return drs_maths.DRS(critic, percentile=config["drs_percentile"], eps=config["drs_eps"], **fitted)


class DRSTrainer(SamplerTrainer):
    """One 'step' calibrates and burns in; the report samples with the result."""

    def __init__(self, config: dict, device: torch.device, base: dict[str, Any]):
        self.name, self.config, self.device = "drs", config, device
        self.total_steps, self.eval_every, self.images_per_step = 1, 1, 2 * config["calibration_samples"]
        self.G, self.critic = frozen_generator(base["generator"], device), frozen_critic(base, device)
        self.rng = torch.Generator().manual_seed(config["seed"])
        self.fitted: drs_maths.DRS | None = None

    def step(self) -> dict[str, torch.Tensor]:
        self.fitted = fit_drs(self.G, self.critic, self.config, self.rng)
        return {}

    def draw(self, n: int, sampler: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        x, stats = self.fitted.sample(self.G, n, rng=self.rng)
        return quantize(x).view(n, 784), stats

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.name, "config": self.config, "drs": self.fitted.state_dict() if self.fitted else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["drs"]:
            self.fitted = fitted_drs(self.critic, self.config, state["drs"])


# --- latent reweighting -----------------------------------------------------------------

class LatentJob(SamplerJob):
    name = "latent_reweighting"
    doc = "Latent reweighting (Issenhuth et al.): an importance network w(z) against a WGAN-GP critic."
    samplers = latent.SAMPLERS
    params = {
        "sampler": Param("latent_rs", str, choices=latent.SAMPLERS, help="the sampler each report evaluates"),
        "lambda1": Param(10.0, float, low=0.0, high=1e4, help="λ₁: weight of (E w − 1)²"),
        "lambda2": Param(10.0, float, low=0.0, high=1e4, help="λ₂: weight of E max(0, w − m)²"),
        "max_weight": Param(3.0, float, low=1.0, high=1e3, low_open=True, help="m: the cap on w, and RS's bound"),
        "lr_w": lr(1e-4),
        "lr_critic": lr(1e-4),
        "gp_lambda": Param(10.0, float, low=0.0, high=1000.0, help="the critic's gradient penalty"),
        "n_critic": Param(5, int, low=1, high=100, help="critic steps per w step"),
        "batch_size": Param(256, int, low=2, high=60_000),
        "max_steps": Param(2000, int, low=1, high=1_000_000, help="w steps"),
        "eval_every_steps": Param(500, int, low=1, help="report cadence in w steps"),
        "ga_steps": Param(10, int, low=0, high=1000, help="latent_ga: ascent steps"),
        "ga_step_size": Param(0.01, float, low=0.0, high=10.0, low_open=True, help="ascent step size η"),
        "rs_ga_steps": Param(3, int, low=0, high=1000, help="latent_rs_ga: ascent steps after RS"),
    }

    def planned_reports(self, config: dict) -> int:
        return math.ceil(config["max_steps"] / config["eval_every_steps"])

    def trainer(self, config, device, base=None):
        return ImportanceTrainer(config, device, require_base(self.name, base))


class ImportanceTrainer(SamplerTrainer):
    """w_φ and its critic against the frozen base generator."""

    def __init__(self, config: dict, device: torch.device, base: dict[str, Any]):
        self.name, self.config, self.device = "latent_reweighting", config, device
        torch.manual_seed(config["seed"])
        self.G = frozen_generator(base["generator"], device)
        self.w = latent.ImportanceNetwork().to(device)
        self.critic = Discriminator().to(device)
        # Adam with β = (0.5, 0.9): the WGAN-GP settings the paper's critic uses.
        self.opt_w = torch.optim.Adam(self.w.parameters(), lr=config["lr_w"], betas=(0.5, 0.9))
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=config["lr_critic"], betas=(0.5, 0.9))
        self.real = Batches(load_mnist("train", device), config["batch_size"], seed=config["seed"])
        self.total_steps, self.eval_every = config["max_steps"], config["eval_every_steps"]
        self.images_per_step = config["batch_size"] * config["n_critic"]
        self.eval_rng = torch.Generator()
        self.draws = Draws(key_for(config["seed"]).to(device))  # the critic's penalty interpolation

    def noise(self) -> torch.Tensor:
        return torch.randn(self.config["batch_size"], latent.LATENT_DIM, device=self.device)

    def step(self) -> dict[str, torch.Tensor]:
        c = self.config
        for _ in range(c["n_critic"]):
            z = self.noise()
            with torch.no_grad():
                fake, weights = self.G(z), self.w(z)
            loss_c = latent.critic_loss(self.critic, self.real.next(), fake, weights, c["gp_lambda"], self.draws)
            self.opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            self.opt_c.step()
        self.critic.requires_grad_(False)
        loss_w, weights = latent.importance_loss(self.w, self.critic, self.G, self.noise(), c)
        self.opt_w.zero_grad(set_to_none=True)
        loss_w.backward()
        self.opt_w.step()
        self.critic.requires_grad_(True)
        return {"loss_critic": loss_c.detach(), "loss_w": loss_w.detach(), "w_mean": weights.mean(),
                "w_over_m": (weights > c["max_weight"]).float().mean()}

    def draw(self, n: int, sampler: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        self.eval_rng.manual_seed(self.config["seed"])  # the same proposals at every report
        z, stats = latent.draw_latents(self.w, sampler or self.config["sampler"], n, self.config,
                                       rng=self.eval_rng, device=self.device)
        with torch.no_grad():
            return quantize(self.G(z)).view(n, 784), stats

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.name, "config": self.config, "w": self.w.state_dict(),
                "critic": self.critic.state_dict(), "opt_w": self.opt_w.state_dict(),
                "opt_critic": self.opt_c.state_dict(), "batches": self.real.state_dict(),
                "draws": self.draws.state_dict(), "rng": checkpoint.rng_state(self.device)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w.load_state_dict(state["w"])
        self.critic.load_state_dict(state["critic"])
        self.opt_w.load_state_dict(state["opt_w"])
        self.opt_c.load_state_dict(state["opt_critic"])
        self.real.load_state_dict(state["batches"])
        self.draws.load_state_dict(state["draws"])
        checkpoint.set_rng_state(state["rng"], self.device)


JOBS: dict[str, SamplerJob] = {job.name: job for job in (DRSJob(), LatentJob())}
