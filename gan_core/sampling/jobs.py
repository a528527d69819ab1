"""The samplers' fitting jobs, run like methods: ``drs`` and ``latent_reweighting``.

Each job starts from a finished GAN run, its ``base`` (an MLflow run id, a method name
for that method's champion, or a checkpoint path), fits its sampler there, and reports
the usual metrics of the samples it accepts, with its acceptance rate and its cost in
proposals per accepted sample. ``loop.drive`` steps them, so cadence, divergence guard,
checkpoints and resume are the same as for training a GAN.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .. import methods
from ..config import COMMON, ConfigError, Param, lr, resolve
from ..data import BatchSampler, load_mnist, quantize
from ..metrics.evaluate import evaluate_samples, inception_count
from ..models import Discriminator, Generator
from . import drs as drs_maths, latent

# What every sampler job shares with the GAN methods: seeding, device and the evaluation protocol.
SHARED = {k: COMMON[k] for k in ("seed", "device", "eval_samples", "inception_samples", "inception_every_report")}
BASE = Param("", str, help="the GAN run to sample from: an MLflow run id, a method name (its champion), "
                           "or a path to a checkpoint.pt")
GRID = 64  # samples in each report's grid


def base_generator(state: dict[str, Any], device: torch.device) -> Generator:
    G = Generator().to(device)
    G.load_state_dict(state["generator"])
    return G.eval().requires_grad_(False)


def base_critic(state: dict[str, Any], device: torch.device):
    """The base run's D as a scalar function of x (its method's ``critic``), frozen."""
    method = methods.get(state["method"])
    config = method.resolve({k: v for k, v in state["config"].items() if k in method.schema})
    D = method.build_discriminator(config).to(device)
    D.load_state_dict(state["discriminator"])
    D.eval().requires_grad_(False)
    critic = method.critic(D)
    return lambda x: critic(x).reshape(-1)


class SamplerJob:
    """A sampler's parameters and the trainer that fits it; duck-types ``methods.Method``."""
    name = ""
    doc = ""
    params: dict[str, Param] = {}
    samplers: tuple[str, ...] = ()

    @property
    def schema(self) -> dict[str, Param]:
        return {**SHARED, "base": BASE, **self.params}

    def resolve(self, user: dict[str, Any] | None, *, need_base: bool = True) -> dict:
        config = resolve(self.schema, user, method=self.name)
        if need_base and not config["base"]:
            raise ConfigError(f"{self.name} needs base=<MLflow run id | method name | checkpoint path>: "
                              f"the finished GAN run to sample from")
        return config

    def planned_reports(self, config: dict) -> int:
        raise NotImplementedError

    def trainer(self, config: dict, device: torch.device, base: dict[str, Any]):
        raise NotImplementedError


class SamplerTrainer:
    """What both sampler trainers share: a report evaluates, and grids show, what ``draw`` accepts."""
    config: dict
    device: torch.device

    def draw(self, n: int, sampler: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError  # n accepted samples as uint8 [n, 784], and the acceptance statistics

    def evaluate(self, final: bool) -> dict[str, Any]:
        n_inception = inception_count(self.config, self.device) \
            if final or self.config["inception_every_report"] else 0
        images, stats = self.draw(max(self.config["eval_samples"], n_inception))
        return {**evaluate_samples(images, eval_samples=self.config["eval_samples"], inception_samples=n_inception,
                                   device=str(self.device)), **stats}

    def samples(self) -> torch.Tensor:
        return self.draw(GRID)[0]


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

    def trainer(self, config, device, base):
        return DRSTrainer(config, device, base)


class DRSTrainer(SamplerTrainer):
    """One 'step' calibrates and burns in; the report samples with the result."""

    def __init__(self, config: dict, device: torch.device, base: dict[str, Any]):
        self.name, self.config, self.device = "drs", config, device
        self.total_steps, self.eval_every, self.images_per_step = 1, 1, 2 * config["calibration_samples"]
        self.G, self.critic = base_generator(base, device), base_critic(base, device)
        self.rng = torch.Generator().manual_seed(config["seed"])
        self.sampler: drs_maths.DRS | None = None

    def step(self) -> dict[str, torch.Tensor]:
        c = self.config
        self.sampler = drs_maths.fit(self.G, self.critic, load_mnist("train"), percentile=c["drs_percentile"],
                                     eps=c["drs_eps"], calibration_samples=c["calibration_samples"],
                                     burn_in=c["burn_in"], rng=self.rng)
        return {}

    def draw(self, n: int, sampler: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        x, stats = self.sampler.sample(self.G, n, rng=self.rng)
        return quantize(x).view(n, 784), stats

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.name, "config": self.config, "drs": self.sampler.state_dict() if self.sampler else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["drs"]:
            self.sampler = drs_maths.DRS(self.critic, percentile=self.config["drs_percentile"],
                                         eps=self.config["drs_eps"], **state["drs"])


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

    def trainer(self, config, device, base):
        return ImportanceTrainer(config, device, base)


class ImportanceTrainer(SamplerTrainer):
    """w_φ and its critic against the frozen base generator."""

    def __init__(self, config: dict, device: torch.device, base: dict[str, Any]):
        self.name, self.config, self.device = "latent_reweighting", config, device
        torch.manual_seed(config["seed"])
        self.G = base_generator(base, device)
        self.w = latent.ImportanceNetwork().to(device)
        self.critic = Discriminator().to(device)
        # Adam with β = (0.5, 0.9): the WGAN-GP settings the paper's critic uses.
        self.opt_w = torch.optim.Adam(self.w.parameters(), lr=config["lr_w"], betas=(0.5, 0.9))
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=config["lr_critic"], betas=(0.5, 0.9))
        self.real = BatchSampler(load_mnist("train", device), config["batch_size"], seed=config["seed"])
        self.total_steps, self.eval_every = config["max_steps"], config["eval_every_steps"]
        self.images_per_step = config["batch_size"] * config["n_critic"]
        self.eval_rng = torch.Generator()

    def noise(self) -> torch.Tensor:
        return torch.randn(self.config["batch_size"], latent.LATENT_DIM, device=self.device)

    def step(self) -> dict[str, torch.Tensor]:
        c = self.config
        for _ in range(c["n_critic"]):
            z = self.noise()
            with torch.no_grad():
                fake, weights = self.G(z), self.w(z)
            loss_c = latent.critic_loss(self.critic, self.real.next(), fake, weights, c["gp_lambda"])
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
        from ..loop import rng_state
        return {"method": self.name, "config": self.config, "w": self.w.state_dict(),
                "critic": self.critic.state_dict(), "opt_w": self.opt_w.state_dict(),
                "opt_critic": self.opt_c.state_dict(), "sampler": self.real.state_dict(),
                "rng": rng_state(self.device)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from ..loop import set_rng_state
        self.w.load_state_dict(state["w"])
        self.critic.load_state_dict(state["critic"])
        self.opt_w.load_state_dict(state["opt_w"])
        self.opt_c.load_state_dict(state["opt_critic"])
        self.real.load_state_dict(state["sampler"])
        set_rng_state(state["rng"], self.device)


JOBS: dict[str, SamplerJob] = {job.name: job for job in (DRSJob(), LatentJob())}


def load_base(base: str, tracking_uri: str | None = None) -> tuple[str, dict[str, Any]]:
    """(run id, checkpoint state) of a base: a checkpoint path, a method's champion, or a run id."""
    from ..loop import load_checkpoint
    from ..model import best_model, load_run

    if base.endswith(".pt") or Path(base).is_file():
        if not Path(base).is_file():
            raise FileNotFoundError(f"base checkpoint {base} does not exist")
        state = load_checkpoint(base)
        return state.get("run_id", ""), state
    try:
        model = best_model(base, tracking_uri=tracking_uri) if base in methods.REGISTRY \
            else load_run(base, tracking_uri=tracking_uri)
    except Exception as err:  # an unknown run id surfaces as an MLflow error: say what base accepts
        raise ConfigError(f"base {base!r} is not a finished GAN run, a method with a champion, or a "
                          f"checkpoint.pt path ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    return model.run_id, model.state
