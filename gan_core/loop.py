"""The one training loop every method shares.

It owns seeding, the evaluation cadence, checkpoints, resume, the divergence
guard and throughput. How a report leaves the loop (Ray Tune, or files for a
standalone run) is the caller's ``report`` function; the loop knows neither.
"""
from __future__ import annotations

import math
import time
from typing import Any, Protocol

import torch

from . import methods
from .data import BatchSampler, load_mnist
from .metrics.evaluate import evaluate_generator, generate
from .models import LATENT_DIM, Generator

CHECK_EVERY = 25  # steps between divergence checks: a host sync per step would cost on GPU
TRAIN_IMAGES = 60_000


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


def inception_count(config: dict, device: torch.device) -> int:
    """Inception samples for the final evaluation; -1 means the protocol's 10,000 on GPU
    and 500 on CPU, where Inception costs ~150 ms per image."""
    n = config["inception_samples"]
    return n if n >= 0 else (10_000 if device.type == "cuda" else 500)


def preflight(config: dict, device: torch.device) -> None:
    """Load data and feature networks before any training, so missing files fail first."""
    from .metrics.features import inception_extractor, mnist_extractor

    load_mnist("train")
    mnist_extractor(str(device))
    if inception_count(config, device) > 0 or config["inception_every_report"]:
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


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def planned_reports(config: dict) -> int:
    """How many reports a run with this resolved config makes (ASHA's max_t)."""
    steps_per_epoch = max(1, (TRAIN_IMAGES // config["batch_size"]) // config["n_critic"])
    total = config["max_steps"] or config["epochs"] * steps_per_epoch
    every = config["eval_every_steps"] or config["eval_every_epochs"] * steps_per_epoch
    return math.ceil(total / every)


def run(method_name: str, user_config: dict | None, *, report: Report,
        resume: dict | None = None, progress: bool = False) -> dict[str, Any]:
    """Train ``method_name`` with ``user_config``; return the final report's metrics."""
    method = methods.get(method_name)
    config = method.resolve(user_config)
    device = pick_device(config["device"])
    preflight(config, device)

    torch.manual_seed(config["seed"])
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    G = Generator().to(device)
    D = method.build_discriminator(config).to(device)
    opt_g = make_optimizer(G.parameters(), config, config["lr_g"], device)
    opt_d = make_optimizer(D.parameters(), config, config["lr_d"], device)
    sampler = BatchSampler(load_mnist("train", device), config["batch_size"], seed=config["seed"])

    n_critic = config["n_critic"]
    steps_per_epoch = max(1, sampler.batches_per_epoch // n_critic)
    total_steps = config["max_steps"] or config["epochs"] * steps_per_epoch
    eval_every = config["eval_every_steps"] or config["eval_every_epochs"] * steps_per_epoch
    n_inception = inception_count(config, device)

    step, train_seconds, report_seconds = 0, 0.0, 0.0
    if resume is not None:
        G.load_state_dict(resume["generator"])
        D.load_state_dict(resume["discriminator"])
        opt_g.load_state_dict(resume["opt_g"])
        opt_d.load_state_dict(resume["opt_d"])
        sampler.load_state_dict(resume["sampler"])
        _set_rng_state(resume["rng"], device)
        step, train_seconds = int(resume["step"]), float(resume["train_seconds"])

    train_g, train_d = G, D
    if config["compile"]:
        train_g, train_d = torch.compile(G), torch.compile(D)

    def train_step() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        batch = config["batch_size"]
        for _ in range(n_critic):
            real = sampler.next()
            with torch.no_grad():
                fake = train_g(torch.randn(batch, LATENT_DIM, device=device))
            loss_d, logs = method.discriminator_loss(train_d, real, fake, config)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            method.after_discriminator_step(D, config)
        D.requires_grad_(False)  # G's step needs gradients through D, not into it
        fake = train_g(torch.randn(batch, LATENT_DIM, device=device))
        loss_g = method.generator_loss(train_d, fake, config, sampler.next)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        return loss_d.detach(), loss_g.detach(), logs

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total_steps, initial=step, desc=method_name, unit="step", dynamic_ncols=True)

    sums: dict[str, torch.Tensor] = {}
    interval_steps = 0
    last: dict[str, Any] = {}
    first_step_at = time.time()  # wall clock: benchmarks compare it with the trial's launch
    while step < total_steps:
        tick = time.perf_counter()
        next_stop = min(total_steps, (step // eval_every + 1) * eval_every)
        while step < next_stop:
            loss_d, loss_g, logs = train_step()
            for key, value in {"loss_d": loss_d, "loss_g": loss_g, **logs}.items():
                sums[key] = sums.get(key, 0) + value.detach()
            step += 1
            interval_steps += 1
            if step % CHECK_EVERY == 0 or step == next_stop:
                if not all(math.isfinite(float(v)) for v in (sums["loss_d"], sums["loss_g"])):
                    if bar:
                        bar.close()
                    raise Diverged(f"{method_name} diverged at step {step}: "
                                   f"loss_d={float(loss_d):.4g}, loss_g={float(loss_g):.4g} (NaN or inf)")
                if bar:
                    bar.update(step - bar.n)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - tick
        train_seconds += elapsed

        tick = time.perf_counter()
        final = step >= total_steps
        want_inception = n_inception if (final or config["inception_every_report"]) else 0
        metrics: dict[str, Any] = evaluate_generator(G, eval_samples=config["eval_samples"],
                                                     inception_samples=want_inception)
        metrics.update({key: float(v) / interval_steps for key, v in sums.items()})
        images = interval_steps * config["batch_size"] * n_critic  # real images D consumed
        metrics.update({
            "step": step,
            "epoch": sampler.epochs_done,
            "images_per_s": images / elapsed,
            "steps_per_s": interval_steps / elapsed,
            "train_seconds": train_seconds,
            "eval_seconds": time.perf_counter() - tick,
            "report_seconds": report_seconds,  # the previous report's checkpoint write and hand-off
            "first_step_at": first_step_at,
            "final": final,  # not "done": Tune reserves that key
        })
        sums, interval_steps = {}, 0
        state = {
            "method": method_name, "config": config, "step": step, "train_seconds": train_seconds,
            "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "sampler": sampler.state_dict(), "rng": _rng_state(device),
        }
        tick = time.perf_counter()
        report(metrics, state, generate(G, 64, seed=0))
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
