"""PopulationTrainer: K members of one method trained as one batched computation, driven by ``loop.drive``.

Each member has its own G, D, optimizer state, average, draws and batches; the step is
``gan_trainer.make_train_step`` itself, run on ``Stacked`` modules, so a member computes what the
same run alone computes (tests hold it to that). A member whose loss goes NaN or inf is retired
with its reason while the others go on.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch

from .. import checkpoint, loop
from ..errors import CheckpointError
from ..data import Batches, load_mnist
from ..draws import Draws, key_for
from ..gan_trainer import dropout_calls, make_optimizer, make_train_step, set_dropout_calls
from ..metrics.evaluate import evaluate_samples, inception_count, noise_for_evaluation
from ..data import quantize
from ..models import LATENT_DIM, Generator, KeyedDropout
from . import members
from .optim import StackedOptimizer
from .stacked import Stacked


class PopulationTrainer:
    def __init__(self, method, configs: list[dict[str, Any]], device: torch.device):
        members.check_together(method, configs)
        self.name, self.method, self.configs, self.device = method.name, method, configs, device
        self.size = len(configs)
        self.config = members.step_config(method, configs, device)
        seeds = [c["seed"] for c in configs]
        dropout = max(c["d_dropout"] for c in configs)  # one structure: a member with 0 drops nothing
        Gs, Ds = [], []
        for config in configs:  # each member initialized exactly as the run alone would be
            torch.manual_seed(config["seed"])
            Gs.append(Generator().to(device))
            D = method.build_discriminator({**config, "d_dropout": dropout}).to(device)
            D.seed_dropout(config["seed"])
            for layer in (m for m in D.modules() if isinstance(m, KeyedDropout)):
                layer.p.fill_(config["d_dropout"])
            Ds.append(D)
        self.G, self.D = Stacked(Gs), Stacked(Ds)
        self.G.train(), self.D.train()
        self.d_keys = list(method.build_discriminator(configs[0]).state_dict())  # a single run's D state keys
        self.g_ema = torch.tensor([c["g_ema"] for c in configs], dtype=torch.float64, device=device)
        self.G_ema = {k: v.detach().clone() for k, v in self.G.params.items()} if bool((self.g_ema > 0).any()) else None
        self.ema_updates = 0
        self.opt_g = self._optimizer(self.G, "lr_g")
        self.opt_d = self._optimizer(self.D, "lr_d")
        self.batches = Batches(load_mnist("train", device), self.config["batch_size"], seed=seeds)
        self.rng = Draws(key_for(torch.tensor(seeds)).to(device))
        steps_per_epoch = max(1, self.batches.batches_per_epoch // self.config["n_critic"])
        self.total_steps = self.config["max_steps"] or self.config["epochs"] * steps_per_epoch
        self.eval_every = self.config["eval_every_steps"] or self.config["eval_every_epochs"] * steps_per_epoch
        self.images_per_step = self.config["batch_size"] * self.config["n_critic"]
        self.n_inception = inception_count(self.config, device)
        self.alive = torch.ones(self.size, dtype=torch.bool, device=device)
        self.finite = self.alive.clone()  # updated every step without a host sync
        self.deaths: dict[int, str] = {}
        self.steps = 0
        self._step = make_train_step(method, self.config, self.G, self.D, self.opt_g, self.opt_d, self.batches.next,
                                     lambda n: self.rng.normal(n, LATENT_DIM), self.rng)

    def _optimizer(self, stacked: Stacked, lr_key: str) -> StackedOptimizer:
        per = lambda key: torch.tensor([c[key] for c in self.configs], dtype=torch.float64, device=self.device)
        betas = (per("beta1"), per("beta2")) if self.config["optimizer"] == "adam" else None
        return StackedOptimizer(stacked.parameters(), self.config["optimizer"], per(lr_key), betas)

    # --- training ------------------------------------------------------------------
    def step(self) -> dict[str, torch.Tensor]:
        loss_d, loss_g, logs = self._step()
        if self.G_ema is not None:
            decay = torch.clamp(self.g_ema, max=(1.0 + self.ema_updates) / (10.0 + self.ema_updates))
            with torch.no_grad():
                for name, p in self.G.params.items():
                    self.G_ema[name].lerp_(p, (1 - decay).to(p.dtype).view(-1, *([1] * (p.dim() - 1))))
            self.ema_updates += 1
        self.finite &= torch.isfinite(loss_d) & torch.isfinite(loss_g)
        self.steps += 1
        if self.steps % loop.CHECK_EVERY == 0:
            self.retire_diverged(loss_d, loss_g)
        keep = self.alive & self.finite
        # retired members' numbers never reach the loop's guard, which would end every member
        return {k: torch.where(keep, v, torch.zeros_like(v)) for k, v in {"loss_d": loss_d, "loss_g": loss_g,
                                                                            **logs}.items()}

    def retire_diverged(self, loss_d: torch.Tensor, loss_g: torch.Tensor) -> None:
        """Members whose losses went NaN or inf since the last check end here, each with its reason."""
        for k in torch.nonzero(self.alive & ~self.finite).flatten().tolist():
            self.deaths[k] = (f"{self.name} member {k} diverged by step {self.steps}: loss_d={float(loss_d[k]):.4g}, "
                              f"loss_g={float(loss_g[k]):.4g} (NaN or inf)")
        self.alive &= self.finite

    # --- reports -------------------------------------------------------------------
    def served(self) -> dict[str, torch.Tensor]:
        """Each member's served generator (its average where g_ema > 0), stacked."""
        if self.G_ema is None:
            return self.G.params
        on = self.g_ema > 0
        return {k: torch.where(on.view(-1, *([1] * (v.dim() - 1))), self.G_ema[k], v) for k, v in self.G.params.items()}

    @torch.no_grad()
    def generate(self, n: int, seed: int | None = None, chunk: int = 1000) -> torch.Tensor:
        """uint8 [K, n, 784]: every member's samples from the same evaluation noise (chunks bound the memory)."""
        z = noise_for_evaluation(n, self.device, **({"seed": seed} if seed is not None else {}))
        G = copy.copy(self.G)
        G.params = self.served()
        return torch.cat([quantize(G(z[i:i + chunk], shared=True)) for i in range(0, n, chunk)], dim=1)

    def metrics(self, final: bool, means: dict[str, torch.Tensor], timing: dict[str, Any]) -> list[dict[str, Any]]:
        """One report per member; a retired member reports its status and reason instead of metrics."""
        self.retire_diverged(means.get("loss_d", torch.zeros(self.size)), means.get("loss_g", torch.zeros(self.size)))
        tick = time.perf_counter()
        n_inception = self.n_inception if (final or self.config["inception_every_report"]) else 0
        images = self.generate(max(self.config["eval_samples"], n_inception))
        out = []
        for k in range(self.size):
            if k in self.deaths:
                out.append({**timing, "member": k, "status": "diverged", "reason": self.deaths[k]})
                continue
            evaluated = evaluate_samples(images[k], eval_samples=self.config["eval_samples"],
                                         inception_samples=n_inception, device=str(self.device))
            evaluated.update(epoch=self.batches.epochs_done, member=k, status="completed" if final else "running")
            out.append(loop.merge(evaluated, {key: v[k] for key, v in means.items()}, timing, 0.0))
        seconds = time.perf_counter() - tick
        for m in out:
            m["eval_seconds"] = seconds
        return out

    def postfix(self, metrics: list[dict[str, Any]]) -> dict[str, str]:
        scores = [m["fid_mnist"] for m in metrics if "fid_mnist" in m]
        return {"best_fid_mnist": f"{min(scores):.2f}" if scores else "-", "alive": f"{len(scores)}/{self.size}"}

    def samples(self) -> torch.Tensor:
        return self.generate(64, seed=0)

    # --- checkpoints -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The members' single-run checkpoints, and what the population itself tracks."""
        return {"method": self.name, "config": self.configs[0], "configs": self.configs,
                "members": [self.member_state(k) for k in range(self.size)],
                "alive": self.alive.cpu(), "finite": self.finite.cpu(), "deaths": dict(self.deaths),
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Stack the members' checkpoints back (a population resumes from its members' files)."""
        if state.get("configs") != self.configs:
            raise CheckpointError("the checkpoint is another population's (its members' configs differ)")
        states = state["members"]
        stack = lambda tensors: torch.stack([t.to(self.device) for t in tensors])
        with torch.no_grad():
            for name, p in self.G.params.items():
                raw = [s.get("generator_raw", s["generator"])[name] for s in states]
                p.copy_(stack(raw))
                if self.G_ema is not None:
                    self.G_ema[name].copy_(stack([s["generator"][name] for s in states]))
            for name in self.d_keys:
                target = {**self.D.params, **self.D.buffers}[name]
                target.copy_(stack([s["discriminator"][name] for s in states]))
        for opt, key in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
            opt.load_members([s[key] for s in states])
        self.batches.load_members([s["batches"] for s in states])
        self.rng.load_state_dict(states[0]["draws"])
        set_dropout_calls(self.D.template, states[0]["dropout_calls"])
        self.ema_updates = int(states[0].get("ema_updates", 0))
        self.alive.copy_(torch.as_tensor(state["alive"]))
        self.finite.copy_(torch.as_tensor(state["finite"]))
        self.deaths = {int(k): v for k, v in state["deaths"].items()}
        self.steps = int(state["steps"])

    def member_state(self, k: int) -> dict[str, Any]:
        """Member k in a single run's checkpoint format: best_model, gan sample, the samplers and
        ``gan train --resume`` take it as they take a run's."""
        config = self.configs[k]
        G_k, D_k = Generator(), self.method.build_discriminator(config)
        served = self.served()
        state = {"method": self.name, "config": config,
                 "generator": {n: t[k].detach().clone() for n, t in served.items()},
                 "discriminator": self.D.member(k, self.d_keys),
                 "opt_g": self.opt_g.member_state(k, make_optimizer(G_k.parameters(), config, config["lr_g"])),
                 "opt_d": self.opt_d.member_state(k, make_optimizer(D_k.parameters(), config, config["lr_d"])),
                 "batches": self.batches.state_dict(member=k), "draws": self.rng.state_dict(),
                 "dropout_calls": dropout_calls(self.D.template), "rng": checkpoint.rng_state(self.device)}
        if config["g_ema"] > 0:
            state.update(generator_raw={n: t[k].detach().clone() for n, t in self.G.params.items()},
                         ema_updates=self.ema_updates)
        return state
