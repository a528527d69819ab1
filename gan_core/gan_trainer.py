"""GanTrainer: a method's G and D, their optimizers, the data and G's average, stepped for ``loop.drive``."""
from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING, Any, Callable

import torch

from . import augment, checkpoint, ema, loop
from .data import TRAIN_IMAGES, Batches, load_mnist
from .draws import Draws, key_for
from .metrics import probe
from .metrics.evaluate import evaluate_generator, generate, inception_count
from .models import LATENT_DIM, Generator, KeyedDropout

if TYPE_CHECKING:
    from .methods.base import Method


def schedule(config: dict) -> tuple[int, int]:
    """(total steps, steps between reports) of a run: epochs of 60,000 images (drop_last batches, a step
    per n_critic of them) unless max_steps or eval_every_steps say otherwise."""
    steps_per_epoch = max(1, (TRAIN_IMAGES // config["batch_size"]) // config["n_critic"])
    total = config["max_steps"] or config["epochs"] * steps_per_epoch
    return total, config["eval_every_steps"] or config["eval_every_epochs"] * steps_per_epoch


def lr_factor(config: dict, step, total: int):
    """The learning rates' multiplier before generator step ``step`` (a number, or a population's [K] ages)."""
    if config["lr_decay"] == "linear":
        return 1.0 - step / total
    return 1.0


def probe_due(config: dict, step: int, every: int, final: bool) -> bool:
    """Whether the report at ``step`` computes the pruning signal (ASHA's rungs or PBT's rounds, and the last report)."""
    return bool(config["probe_samples"]) and probe.is_probe_report(
        math.ceil(step / every), final, config["probe_grace"], config["probe_reduction"], config["probe_every"])


def make_optimizer(params, config: dict, lr: float) -> torch.optim.Optimizer:
    fast = config["fast"]
    if config["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=fast)
    if config["optimizer"] == "sgd":  # plain SGD: the unrolled GAN paper's baseline, and a simple control
        return torch.optim.SGD(params, lr=lr, foreach=fast)
    # fused Adam: one kernel for all parameters instead of a Python loop over them.
    return torch.optim.Adam(params, lr=lr, betas=(config["beta1"], config["beta2"]),
                            fused=fast or None, foreach=None if fast else False)


def make_train_step(method: "Method", config: dict, G: torch.nn.Module, D: torch.nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    next_real: Callable[[], torch.Tensor], noise: Callable[[int], torch.Tensor], rng: Draws):
    """One generator update after n_critic discriminator updates, as a closure returning
    (loss_d, loss_g, logs). The MNIST trainer, a population (gan_core.population) and the 2-D toy
    (gan_core.toy) all train with it: a population's losses are one per member, and their sum
    gives each member exactly its own gradient."""
    n_critic, batch = config["n_critic"], config["batch_size"]
    mode = config.get("compile_mode", "default")
    train_g, train_d = (torch.compile(G, mode=mode), torch.compile(D, mode=mode)) if config["compile"] else (G, D)
    train_d = augment.wrap(train_d, config, rng)  # D sees real and fake images through the same augmentation

    def train_step() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        for _ in range(n_critic):
            real = next_real()
            with torch.no_grad():
                fake = train_g(noise(batch))
            loss_d, logs = method.discriminator_loss(train_d, real, fake, config, rng)
            opt_d.zero_grad(set_to_none=True)
            loss_d.sum().backward()
            opt_d.step()
            method.after_discriminator_step(D, config)
        D.requires_grad_(False)  # G's step needs gradients through D, not into it
        fake = train_g(noise(batch))
        loss_g = method.generator_loss(train_d, fake, config, next_real)
        opt_g.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        opt_g.step()
        D.requires_grad_(True)
        return loss_d.detach(), loss_g.detach(), logs

    return train_step


def dropout_calls(D: torch.nn.Module) -> int:
    """How many masks D's dropout layers have drawn (all layers draw together): part of a checkpoint."""
    return next((int(m.calls) for m in D.modules() if isinstance(m, KeyedDropout)), 0)


def set_dropout_calls(D: torch.nn.Module, calls: int) -> None:
    for m in D.modules():
        if isinstance(m, KeyedDropout):
            m.calls.fill_(int(calls))


class GanTrainer:
    """A method trained from scratch on MNIST; what ``loop.drive`` steps, evaluates and checkpoints."""

    def __init__(self, method: "Method", config: dict, device: torch.device):
        self.name, self.method, self.config, self.device = method.name, method, config, device
        torch.manual_seed(config["seed"])
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.G = Generator().to(device)
        self.D = method.build_discriminator(config).to(device)
        self.D.seed_dropout(config["seed"])
        self.rng = Draws(key_for(config["seed"]).to(device))  # latent noise and penalty draws
        # The average is served (reports, grids, exports); the raw G trains and is kept for resuming.
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config["g_ema"] > 0 else None
        self.ema_updates = 0
        self.opt_g = make_optimizer(self.G.parameters(), config, config["lr_g"])
        self.opt_d = make_optimizer(self.D.parameters(), config, config["lr_d"])
        self.batches = Batches(load_mnist("train", device), config["batch_size"], seed=config["seed"])
        self.total_steps, self.eval_every = schedule(config)
        self.steps_done = 0  # the learning-rate schedule's clock
        self.last_probe: dict[str, Any] = {}  # the pruning signal at its last rung, carried between rungs
        self.images_per_step = config["batch_size"] * config["n_critic"]
        self.n_inception = inception_count(config, device)
        self._step = make_train_step(method, config, self.G, self.D, self.opt_g, self.opt_d, self.batches.next,
                                     lambda n: self.rng.normal(n, LATENT_DIM), self.rng)

    def set_hyperparameters(self, values: dict[str, Any]) -> None:
        """Other float hyperparameters from the next step on (a replayed PBT schedule); the step reads the config."""
        self.config.update(values)
        for opt, key in ((self.opt_g, "lr_g"), (self.opt_d, "lr_d")):
            for group in opt.param_groups:
                group["lr"] = self.config[key]
                if "betas" in group:
                    group["betas"] = (self.config["beta1"], self.config["beta2"])

    @property
    def served(self) -> Generator:
        """The generator that reports, grids and exports use: the average when g_ema is on."""
        return self.G if self.G_ema is None else self.G_ema

    def step(self) -> dict[str, torch.Tensor]:
        if self.config["lr_decay"] != "none":
            factor = lr_factor(self.config, self.steps_done, self.total_steps)
            for opt, key in ((self.opt_g, "lr_g"), (self.opt_d, "lr_d")):
                for group in opt.param_groups:
                    group["lr"] = self.config[key] * factor
        loss_d, loss_g, logs = self._step()
        self.steps_done += 1
        if self.G_ema is not None:
            ema.update(list(self.G_ema.parameters()), list(self.G.parameters()),
                       ema.warmup_decay(self.config["g_ema"], self.ema_updates))
            self.ema_updates += 1
        return {"loss_d": loss_d, "loss_g": loss_g, **logs}

    def metrics(self, final: bool, means: dict[str, torch.Tensor], timing: dict[str, Any]) -> dict[str, Any]:
        tick = time.perf_counter()
        want_inception = self.n_inception if (final or self.config["inception_every_report"]) else 0
        fresh = probe_due(self.config, timing["step"], self.eval_every, final)
        evaluated = evaluate_generator(self.served, eval_samples=self.config["eval_samples"],
                                       inception_samples=want_inception,
                                       probe_samples=self.config["probe_samples"] if fresh else 0)
        if self.config["probe_samples"]:
            probe.carry(evaluated, self.last_probe, fresh)
        evaluated["epoch"] = self.batches.epochs_done
        return loop.merge(evaluated, means, timing, time.perf_counter() - tick)

    def postfix(self, metrics: dict[str, Any]) -> dict[str, str]:
        return loop.postfix(metrics)

    def samples(self) -> torch.Tensor:
        return generate(self.served, 64, seed=0)

    def state_dict(self) -> dict[str, Any]:
        """``generator`` is the served one (what best_model and samplers load); the raw G rides beside it."""
        return checkpoint.trainer_state(
            self.name, self.config, generator=self.G.state_dict(),
            average=self.G_ema.state_dict() if self.G_ema is not None else None, ema_updates=self.ema_updates,
            discriminator=self.D.state_dict(), opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(),
            batches=self.batches.state_dict(), draws=self.rng.state_dict(), dropout_calls=dropout_calls(self.D),
            rng=checkpoint.rng_state(self.device), last_probe=dict(self.last_probe))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = checkpoint.read_trainer_state(state)
        if self.G_ema is not None:
            self.G_ema.load_state_dict(saved.average if saved.average is not None else saved.generator)
            self.ema_updates = saved.ema_updates
        self.G.load_state_dict(saved.generator)
        self.D.load_state_dict(saved.discriminator)
        self.opt_g.load_state_dict(saved.opt_g)
        self.opt_d.load_state_dict(saved.opt_d)
        self.batches.load_state_dict(saved.batches)
        self.steps_done = saved.age  # the learning-rate schedule's clock
        self.last_probe = dict(saved.last_probe)
        self.rng.load_state_dict(saved.draws)
        set_dropout_calls(self.D, saved.dropout_calls)
        checkpoint.set_rng_state(saved.rng, self.device)
