"""PopulationTrainer: K members of one method trained as one batched computation, driven by ``loop.drive``.

Each member has its own G, D, optimizer state, average, draws and batches; the step is ``gan_trainer.make_train_step``
itself, run on ``Stacked`` modules, so a member computes what the same run alone computes (tests hold it to that).
A member whose loss goes NaN or inf is retired with its reason while the others go on; ``replace`` puts a new member
in a slot (a sweep refills the slot of a member it stopped), which then counts its own steps from 0.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch

from .. import checkpoint, ema, loop
from ..data import Batches, load_mnist, quantize
from ..draws import Draws, key_for
from ..errors import CheckpointError
from ..gan_trainer import lr_factor, make_optimizer, make_train_step, probe_due, schedule
from ..metrics import probe
from ..metrics.evaluate import evaluate_members, inception_count, noise_for_evaluation
from ..models import LATENT_DIM, Generator, KeyedDropout
from . import members
from .optim import StackedOptimizer
from .stacked import Stacked, flatten


class PopulationTrainer:
    def __init__(self, method, configs: list[dict[str, Any]], device: torch.device):
        members.check_together(method, configs)
        self.name, self.method, self.configs, self.device = method.name, method, list(configs), device
        self.size = len(configs)
        self.config = members.step_config(method, configs, device)
        seeds = [c["seed"] for c in configs]
        self.G, self.D = Stacked([self._build(c)[0] for c in configs]), Stacked([self._build(c)[1] for c in configs])
        self.G.train(), self.D.train()
        self._rate(max(c["d_dropout"] for c in configs))
        self.d_keys = list(method.build_discriminator(configs[0]).state_dict())  # a single run's D state keys
        self.calls_keys = [k for k in self.D.buffers if k.endswith(".calls")]
        self.g_ema = self._per("g_ema")
        self.G_ema = {k: v.detach().clone() for k, v in self.G.params.items()}
        self.G_ema_flat = flatten(self.G_ema.values())  # one lerp per step for every tensor of every member
        self.ema_updates = torch.zeros(self.size, dtype=torch.float64, device=device)
        self.opt_g, self.opt_d = self._optimizer(self.G, "lr_g"), self._optimizer(self.D, "lr_d")
        self.batches = Batches(load_mnist("train", device), self.config["batch_size"], seed=seeds)
        self.rng = Draws(key_for(torch.tensor(seeds)).to(device))
        self.total_steps, self.eval_every = schedule(self.config)
        self.images_per_step = self.config["batch_size"] * self.config["n_critic"]
        self.n_inception = inception_count(self.config, device)
        self.alive = torch.ones(self.size, dtype=torch.bool, device=device)
        self.finite = self.alive.clone()  # updated every step without a host sync
        self.deaths: dict[int, str] = {}
        self.ages = [0] * self.size  # steps each member has trained
        self.last_probe: list[dict[str, Any]] = [{} for _ in range(self.size)]  # the signal carried between rungs
        self.steps = 0  # steps the population has taken: unlike a member's age, a refilled slot never resets it
        self.last_losses = (torch.zeros(self.size), torch.zeros(self.size))
        self._step = make_train_step(method, self.config, self.G, self.D, self.opt_g, self.opt_d, self.batches.next,
                                     lambda n: self.rng.normal(n, LATENT_DIM), self.rng)

    def _build(self, config: dict[str, Any]) -> tuple[Generator, torch.nn.Module]:
        """A member's G and D, initialized exactly as the run alone would be."""
        torch.manual_seed(config["seed"])
        G = Generator().to(self.device)
        D = self.method.build_discriminator(config).to(self.device)
        D.seed_dropout(config["seed"])
        return G, D

    def _rate(self, rate: float) -> None:
        """Dropout is drawn when any member drops (a member at rate 0 keeps every unit)."""
        for layer in (m for m in self.D.template.modules() if isinstance(m, KeyedDropout)):
            layer.rate = max(layer.rate, rate)

    def _per(self, key: str) -> torch.Tensor:
        return torch.tensor([c[key] for c in self.configs], dtype=torch.float64, device=self.device)

    def _optimizer(self, stacked: Stacked, lr_key: str) -> StackedOptimizer:
        betas = (self._per("beta1"), self._per("beta2")) if self.config["optimizer"] == "adam" else None
        return StackedOptimizer(stacked.parameters(), self.config["optimizer"], self._per(lr_key), betas)

    def replace(self, k: int, config: dict[str, Any]) -> None:
        """Member k's slot gets a new member with ``config`` (a resolved config with the same shared settings)."""
        members.check_together(self.method, [self.configs[0], config])
        self.configs[k] = config
        self.config.update(members.step_config(self.method, self.configs, self.device))
        G, D = self._build(config)
        self.G.set_member(k, G)
        self.D.set_member(k, D)
        self._rate(config["d_dropout"])
        self.g_ema = self._per("g_ema")
        with torch.no_grad():
            for name, p in self.G.params.items():
                self.G_ema[name][k] = p[k]
        self.ema_updates[k] = 0
        betas = (config["beta1"], config["beta2"]) if self.config["optimizer"] == "adam" else None
        self.opt_g.restart(k, config["lr_g"], betas)
        self.opt_d.restart(k, config["lr_d"], betas)
        self.batches.restart(k, config["seed"])
        self.rng.restart(k, key_for(config["seed"]).to(self.device))
        self.alive[k] = self.finite[k] = True
        self.deaths.pop(k, None)
        self.ages[k] = 0
        self.last_probe[k] = {}

    def set_hyperparameters(self, k: int, values: dict[str, Any]) -> None:
        """Member k goes on with other float hyperparameters (PBT's explore): its weights and state stay. Only
        per-member keys are taken from ``values`` (a resumed member's config with a longer budget is no change)."""
        varying = members.per_member_keys(self.method)  # the seed too: an exploited member's root is the donor's
        config = {**self.configs[k], **{key: v for key, v in values.items() if key in varying}}
        members.check_together(self.method, [self.configs[0], config])
        self.configs[k] = config
        self.config.update(members.step_config(self.method, self.configs, self.device))
        betas = (config["beta1"], config["beta2"]) if self.config["optimizer"] == "adam" else None
        self.opt_g.set_hyper(k, config["lr_g"], betas)
        self.opt_d.set_hyper(k, config["lr_d"], betas)

    @torch.no_grad()
    def exploit(self, k: int, donor: int, config: dict[str, Any]) -> None:
        """Member k takes ``donor``'s whole state, an index copy on the device (G, D and its buffers, G's average,
        the optimizers, batches and draws), then goes on with ``config`` (the donor's, explored)."""
        for stacked in (self.G.params, self.G_ema, self.D.params, self.D.buffers):
            for tensor in stacked.values():
                tensor[k] = tensor[donor]
        self.ema_updates[k] = self.ema_updates[donor]
        for part in (self.opt_g, self.opt_d, self.batches, self.rng):
            part.copy_member(k, donor)
        self.alive[k], self.finite[k] = self.alive[donor], self.finite[donor]
        self.ages[k] = self.ages[donor]
        self.last_probe[k] = dict(self.last_probe[donor])
        self.set_hyperparameters(k, config)

    # --- training ------------------------------------------------------------------
    def step(self) -> dict[str, torch.Tensor]:
        if self.config["lr_decay"] != "none":  # each member's schedule runs on its own age
            ages = torch.tensor(self.ages, dtype=torch.float64, device=self.device)
            self.opt_g.lr_scale = self.opt_d.lr_scale = lr_factor(self.config, ages, self.total_steps)
        loss_d, loss_g, logs = self._step()
        decay = ema.warmup_decay(self.g_ema, self.ema_updates)
        with torch.no_grad():  # a member without averaging keeps decay 0: its "average" is G itself
            self.G_ema_flat.lerp_(self.opt_g.flat, (1 - decay).to(self.G_ema_flat.dtype).view(-1, 1))
        self.ema_updates += 1
        self.finite &= torch.isfinite(loss_d) & torch.isfinite(loss_g)
        self.last_losses = (loss_d, loss_g)  # (detached by the step) a retired member's reason quotes them
        self.ages = [a + 1 for a in self.ages]
        self.steps += 1
        if self.steps % loop.CHECK_EVERY == 0:
            self.retire_diverged()
        keep = self.alive & self.finite
        # retired members' numbers never reach the loop's guard, which would end every member
        return {k: torch.where(keep, v, 0.0) for k, v in {"loss_d": loss_d, "loss_g": loss_g, **logs}.items()}

    def retire_diverged(self) -> None:
        """Members whose losses went NaN or inf since the last check end here, each with its reason."""
        loss_d, loss_g = self.last_losses
        for k in torch.nonzero(self.alive & ~self.finite).flatten().tolist():
            self.deaths[k] = (f"{self.name} member {k} diverged by step {self.ages[k]}: "
                              f"loss_d={float(loss_d[k]):.4g}, loss_g={float(loss_g[k]):.4g} (NaN or inf)")
        self.alive &= self.finite

    # --- reports -------------------------------------------------------------------
    def served(self) -> dict[str, torch.Tensor]:
        """Each member's served generator (its average where g_ema > 0), stacked."""
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
        self.retire_diverged()
        tick = time.perf_counter()
        done = [final or age >= self.total_steps for age in self.ages]
        every = self.config["inception_every_report"]  # a sweep on Inception fid needs it at each report
        scored = [k for k in range(self.size) if (done[k] or every) and k not in self.deaths]
        n_inception = self.n_inception if scored else 0
        n_probe = self.config["probe_samples"]
        probed = [k for k in range(self.size)
                  if k not in self.deaths and probe_due(self.config, self.ages[k], self.eval_every, done[k])]
        images = self.generate(max(self.config["eval_samples"], n_inception, n_probe if probed else 0))
        scores = evaluate_members(images, eval_samples=self.config["eval_samples"], inception_samples=n_inception,
                                  inception=scored, probed=probed, probe_samples=n_probe, device=str(self.device))
        epochs = self.batches.epochs_done
        out = []
        for k in range(self.size):
            if k in self.deaths:
                out.append({**timing, "member": k, "status": "diverged", "reason": self.deaths[k]})
                continue
            evaluated = probe.carry(scores[k], self.last_probe[k], k in probed) if n_probe else scores[k]
            evaluated.update(epoch=epochs[k], member=k, member_step=self.ages[k],
                             status="completed" if done[k] else "running")
            out.append(loop.merge(evaluated, {key: v[k] for key, v in means.items()}, {**timing, "final": done[k]},
                                  0.0))
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
                "alive": self.alive.cpu(), "finite": self.finite.cpu(), "deaths": dict(self.deaths)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Stack the members' checkpoints back (a population resumes from its members' files)."""
        if state.get("configs") != self.configs:
            raise CheckpointError("the checkpoint is another population's (its members' configs differ)")
        saved = [checkpoint.read_trainer_state(s) for s in state["members"]]
        stack = lambda tensors: torch.stack([t.to(self.device) for t in tensors])
        with torch.no_grad():
            for name, p in self.G.params.items():
                p.copy_(stack([s.generator[name] for s in saved]))
                # a member without an average serves G itself, which its "average" (decay 0) tracks
                self.G_ema[name].copy_(stack([(s.average or s.generator)[name] for s in saved]))
            both = {**self.D.params, **self.D.buffers}
            for name in self.d_keys:
                both[name].copy_(stack([s.discriminator[name] for s in saved]))
            for name in self.calls_keys:
                both[name].copy_(torch.tensor([s.dropout_calls for s in saved]))
        for part, key in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d"), (self.batches, "batches"), (self.rng, "draws")):
            part.load_members([getattr(s, key) for s in saved])
        self.ages = [s.age for s in saved]
        self.last_probe = [dict(s.last_probe) for s in saved]
        self.ema_updates.copy_(torch.tensor([float(s.ema_updates if s.average is not None else s.age) for s in saved]))
        for k, member in enumerate(state["members"]):
            self.set_hyperparameters(k, member["config"])  # what PBT changed since the member started
        self.alive.copy_(torch.as_tensor(state["alive"]))
        self.finite.copy_(torch.as_tensor(state["finite"]))
        self.deaths = {int(k): v for k, v in state["deaths"].items()}

    def member_state(self, k: int) -> dict[str, Any]:
        """Member k in a single run's checkpoint format: best_model, gan sample, the samplers and
        ``gan train --resume`` take it as they take a run's."""
        config = self.configs[k]
        G_k, D_k = Generator(), self.method.build_discriminator(config)
        calls = int(self.D.buffers[self.calls_keys[0]][k]) if self.calls_keys else 0
        member = lambda tensors: {n: t[k].detach().clone() for n, t in tensors.items()}
        return checkpoint.trainer_state(
            self.name, config, generator=member(self.G.params),
            average=member(self.G_ema) if config["g_ema"] > 0 else None, ema_updates=int(self.ema_updates[k]),
            discriminator=self.D.member(k, self.d_keys),
            opt_g=self.opt_g.member_state(k, make_optimizer(G_k.parameters(), config, config["lr_g"])),
            opt_d=self.opt_d.member_state(k, make_optimizer(D_k.parameters(), config, config["lr_d"])),
            batches=self.batches.state_dict(member=k), draws=self.rng.state_dict(member=k), dropout_calls=calls,
            rng=checkpoint.rng_state(self.device), member_step=self.ages[k], last_probe=dict(self.last_probe[k]))
