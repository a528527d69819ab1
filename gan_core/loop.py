"""The one training loop every method shares.

It owns seeding, the evaluation cadence, checkpoints, resume, the divergence
guard and throughput. How a report leaves the loop (Ray Tune, or files for a
standalone run) is the caller's ``report`` function; the loop knows neither.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable, Protocol

import torch

from . import ema, methods, registry
from .data import BatchSampler, load_mnist
from .metrics.evaluate import evaluate_generator, generate, inception_count
from .models import LATENT_DIM, Generator

CHECK_EVERY = 25  # steps between divergence checks: a host sync per step would cost on GPU


class Diverged(RuntimeError):
    """A loss became NaN or inf; the run ends with this reason."""


class Report(Protocol):
    def __call__(self, metrics: dict[str, Any], state: dict[str, Any], samples_u8: torch.Tensor) -> None: ...


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but CUDA is not available")
    return torch.device(name)


def preflight(config: dict, device: torch.device) -> None:
    """Load data and feature networks before any training, so missing files fail first."""
    from .metrics.features import inception_extractor, mnist_extractor

    load_mnist("train")
    mnist_extractor(str(device))
    if inception_count(config, device) > 0 or config.get("inception_every_report"):
        inception_extractor(str(device))


def make_optimizer(params, config: dict, lr: float, device: torch.device) -> torch.optim.Optimizer:
    fast = config["fast"]
    if config["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=fast)
    if config["optimizer"] == "sgd":  # plain SGD: the unrolled GAN paper's baseline, and a simple control
        return torch.optim.SGD(params, lr=lr, foreach=fast)
    # fused Adam: one kernel for all parameters instead of a Python loop over them.
    return torch.optim.Adam(params, lr=lr, betas=(config["beta1"], config["beta2"]),
                            fused=fast or None, foreach=None if fast else False)


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def make_train_step(method: methods.Method, config: dict, G: torch.nn.Module, D: torch.nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    next_real: Callable[[], torch.Tensor], noise: Callable[[int], torch.Tensor]):
    """One generator update after n_critic discriminator updates, as a closure returning
    (loss_d, loss_g, logs). The MNIST loop and the 2-D toy (gan_core.toy) both train with it."""
    n_critic, batch = config["n_critic"], config["batch_size"]
    train_g, train_d = (torch.compile(G), torch.compile(D)) if config["compile"] else (G, D)

    def train_step() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        for _ in range(n_critic):
            real = next_real()
            with torch.no_grad():
                fake = train_g(noise(batch))
            loss_d, logs = method.discriminator_loss(train_d, real, fake, config)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            method.after_discriminator_step(D, config)
        D.requires_grad_(False)  # G's step needs gradients through D, not into it
        fake = train_g(noise(batch))
        loss_g = method.generator_loss(train_d, fake, config, next_real)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        return loss_d.detach(), loss_g.detach(), logs

    return train_step


class Trainer(Protocol):
    """What the loop drives: a GAN method (``GanTrainer``) or a sampler's training (latent reweighting)."""
    name: str
    device: torch.device
    total_steps: int
    eval_every: int
    images_per_step: int  # real images one step consumes, for images_per_s

    def step(self) -> dict[str, torch.Tensor]: ...        # one update; its "loss*" entries are guarded
    def evaluate(self, final: bool) -> dict[str, Any]: ...  # the report's metrics
    def samples(self) -> torch.Tensor: ...                  # uint8 [64, 784] for the report's grid
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class GanTrainer:
    """A method's G and D, their optimizers and the data, stepped by ``make_train_step``."""

    def __init__(self, method: methods.Method, config: dict, device: torch.device):
        self.name, self.method, self.config, self.device = method.name, method, config, device
        torch.manual_seed(config["seed"])
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.G = Generator().to(device)
        self.D = method.build_discriminator(config).to(device)
        # The average is served (reports, grids, exports); the raw G trains and is kept for resuming.
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config["g_ema"] > 0 else None
        self.ema_updates = 0
        self.opt_g = make_optimizer(self.G.parameters(), config, config["lr_g"], device)
        self.opt_d = make_optimizer(self.D.parameters(), config, config["lr_d"], device)
        self.sampler = BatchSampler(load_mnist("train", device), config["batch_size"], seed=config["seed"])
        steps_per_epoch = max(1, self.sampler.batches_per_epoch // config["n_critic"])
        self.total_steps = config["max_steps"] or config["epochs"] * steps_per_epoch
        self.eval_every = config["eval_every_steps"] or config["eval_every_epochs"] * steps_per_epoch
        self.images_per_step = config["batch_size"] * config["n_critic"]
        self.n_inception = inception_count(config, device)
        self._step = make_train_step(method, config, self.G, self.D, self.opt_g, self.opt_d, self.sampler.next,
                                     lambda n: torch.randn(n, LATENT_DIM, device=device))

    @property
    def served(self) -> Generator:
        """The generator that reports, grids and exports use: the average when g_ema is on."""
        return self.G if self.G_ema is None else self.G_ema

    def step(self) -> dict[str, torch.Tensor]:
        loss_d, loss_g, logs = self._step()
        if self.G_ema is not None:
            ema.update(list(self.G_ema.parameters()), list(self.G.parameters()),
                       ema.warmup_decay(self.config["g_ema"], self.ema_updates))
            self.ema_updates += 1
        return {"loss_d": loss_d, "loss_g": loss_g, **logs}

    def evaluate(self, final: bool) -> dict[str, Any]:
        want_inception = self.n_inception if (final or self.config["inception_every_report"]) else 0
        metrics = evaluate_generator(self.served, eval_samples=self.config["eval_samples"],
                                     inception_samples=want_inception)
        return {**metrics, "epoch": self.sampler.epochs_done}

    def samples(self) -> torch.Tensor:
        return generate(self.served, 64, seed=0)

    def state_dict(self) -> dict[str, Any]:
        state = {"method": self.name, "config": self.config,
                 "generator": self.served.state_dict(), "discriminator": self.D.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "sampler": self.sampler.state_dict(), "rng": rng_state(self.device)}
        if self.G_ema is not None:
            state.update(generator_raw=self.G.state_dict(), ema_updates=self.ema_updates)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["generator"])
            self.ema_updates = int(state["ema_updates"])
        self.G.load_state_dict(state.get("generator_raw", state["generator"]))
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.load_state_dict(state["sampler"])
        set_rng_state(state["rng"], self.device)


def run(name: str, user_config: dict | None, *, report: Report, resume: dict | None = None,
        progress: bool = False, base: dict | None = None) -> dict[str, Any]:
    """Train ``name`` (a method, or a sampler job on the run ``base``) with ``user_config``;
    return the final report's metrics. A sampler job without ``base`` loads its config's base."""
    job = registry.get(name)
    config = job.resolve(user_config)
    device = pick_device(config["device"])
    preflight(config, device)
    if registry.is_sampler_job(name):
        if base is None:
            from .sampling import load_base
            base = load_base(config["base"])[1]
        trainer = job.trainer(config, device, base)
    else:
        trainer = GanTrainer(job, config, device)
    return drive(trainer, report=report, resume=resume, progress=progress)


def drive(trainer: Trainer, *, report: Report, resume: dict | None = None, progress: bool = False) -> dict[str, Any]:
    """Step ``trainer`` to its end, reporting every ``eval_every`` steps; return the last metrics.

    The loop owns the cadence, the divergence guard, throughput, and the step count and
    training time that every checkpoint carries, so resuming continues them exactly.
    """
    step, train_seconds, report_seconds = 0, 0.0, 0.0
    if resume is not None:
        trainer.load_state_dict(resume)
        step, train_seconds = int(resume["step"]), float(resume["train_seconds"])
    total, every = trainer.total_steps, trainer.eval_every

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, initial=step, desc=trainer.name, unit="step", dynamic_ncols=True)

    last: dict[str, Any] = {}
    first_step_at = time.time()  # wall clock: benchmarks compare it with the trial's launch
    while step < total:
        tick = time.perf_counter()
        next_stop = min(total, (step // every + 1) * every)
        sums: dict[str, torch.Tensor] = {}
        interval_steps = 0
        while step < next_stop:
            logs = trainer.step()
            for key, value in logs.items():
                sums[key] = sums.get(key, 0) + value.detach()
            step += 1
            interval_steps += 1
            if step % CHECK_EVERY == 0 or step == next_stop:
                if not all(math.isfinite(float(v)) for k, v in sums.items() if k.startswith("loss")):
                    if bar:
                        bar.close()
                    losses = ", ".join(f"{k}={float(v):.4g}" for k, v in logs.items() if k.startswith("loss"))
                    raise Diverged(f"{trainer.name} diverged at step {step}: {losses} (NaN or inf)")
                if bar:
                    bar.update(step - bar.n)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        elapsed = time.perf_counter() - tick
        train_seconds += elapsed

        tick = time.perf_counter()
        final = step >= total
        metrics: dict[str, Any] = trainer.evaluate(final)
        metrics.update({key: float(v) / interval_steps for key, v in sums.items()})
        metrics.update({
            "step": step,
            "images_per_s": interval_steps * trainer.images_per_step / elapsed,
            "steps_per_s": interval_steps / elapsed,
            "train_seconds": train_seconds,
            "eval_seconds": time.perf_counter() - tick,
            "report_seconds": report_seconds,  # the previous report's checkpoint write and hand-off
            "first_step_at": first_step_at,
            "final": final,  # not "done": Tune reserves that key
        })
        state = {**trainer.state_dict(), "step": step, "train_seconds": train_seconds}
        tick = time.perf_counter()
        report(metrics, state, trainer.samples())
        report_seconds = time.perf_counter() - tick
        last = metrics
        if bar:
            bar.set_postfix(fid_mnist=f"{metrics['fid_mnist']:.2f}", img_s=f"{metrics['images_per_s']:.0f}")
    if bar:
        bar.close()
    return last


def load_checkpoint(path) -> dict[str, Any]:
    """A checkpoint written by a report, loaded safely (tensors and primitives only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_checkpoint(state: dict[str, Any], path) -> None:
    torch.save(state, path)
