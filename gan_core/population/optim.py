"""Optimizers over stacked parameters [K, ...] whose hyperparameters are per member ([K] tensors).

The maths of torch.optim's Adam (bias-corrected, no weight decay), RMSprop (α 0.99, no momentum)
and SGD, applied to every member at once; a test holds each member to torch.optim's result.
``member_state(k)`` exports one member's state in torch.optim's format, so a member's checkpoint
resumes as a single run.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

EPS = 1e-8
RMS_ALPHA = 0.99


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, torch.float64).view(-1, *([1] * (like.dim() - 1)))


class StackedOptimizer:
    """One of adam, rmsprop or sgd for stacked parameters; hyperparameters are float64 [K] tensors."""

    def __init__(self, params: list[torch.Tensor], kind: str, lr: torch.Tensor,
                 betas: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.params, self.kind, self.lr = list(params), kind, lr.double()
        self.betas = tuple(b.double() for b in betas) if betas is not None else None
        self.steps = torch.zeros_like(self.lr)  # per member: a member that joins later starts its own count
        self.lr_scale = torch.ones_like(self.lr)  # a learning-rate schedule's factor per member
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]

    def restart(self, k: int, lr: float, betas: tuple[float, float] | None = None) -> None:
        """Member k starts over (a new member in its slot) with its own hyperparameters."""
        self.lr[k], self.steps[k] = lr, 0
        if betas is not None:
            self.betas[0][k], self.betas[1][k] = betas
        for state in self.state:
            for name, tensor in state.items():
                if name != "hyper":
                    tensor[k] = 0
            state.pop("hyper", None)

    def set_hyper(self, k: int, lr: float, betas: tuple[float, float] | None = None) -> None:
        """Member k's hyperparameters change (PBT's explore); its moments and step count stay."""
        self.lr[k] = lr
        if betas is not None:
            self.betas[0][k], self.betas[1][k] = betas
        for state in self.state:
            state.pop("hyper", None)

    @torch.no_grad()
    def copy_member(self, dst: int, src: int) -> None:
        """Member ``dst`` takes ``src``'s moments, step count and hyperparameters (PBT's exploit), in place."""
        self.lr[dst], self.steps[dst] = self.lr[src], self.steps[src]
        if self.betas is not None:
            for b in self.betas:
                b[dst] = b[src]
        for state in self.state:
            for name, tensor in state.items():
                if name != "hyper":
                    tensor[dst] = tensor[src]
            state.pop("hyper", None)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        update: Callable = {"adam": self._adam, "rmsprop": self._rmsprop, "sgd": self._sgd}[self.kind]
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                update(p, p.grad, state)

    def _adam(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        if "exp_avg" not in state:
            state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        if "hyper" not in state:  # per-member factors shaped once for this tensor
            b1, b2 = (_per_member(b, p) for b in self.betas)
            state["hyper"] = ((1 - b1).to(p.dtype), b2.to(p.dtype), (1 - b2).to(p.dtype))
        one_minus_b1, b2, one_minus_b2 = state["hyper"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # the order of torch's own Adam (foreach and fused alike), so rounding matches it
        m.lerp_(g, one_minus_b1)
        v.mul_(b2).addcmul_(one_minus_b2 * g, g)
        # bias corrections in float64, as torch computes them from Python floats
        b1, b2_64, steps = (_per_member(b, p) for b in (*self.betas, self.steps))
        step_size = (_per_member(self.current_lr(), p) / (1 - b1 ** steps)).to(p.dtype)
        denom = v.sqrt().div_((1 - b2_64 ** steps).sqrt().to(p.dtype)).add_(EPS)
        p.addcdiv_(m * step_size, denom, value=-1.0)

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        if not state:
            state["square_avg"] = torch.zeros_like(p)
        avg = state["square_avg"]
        avg.mul_(RMS_ALPHA).addcmul_(g, g, value=1 - RMS_ALPHA)
        p.sub_(_per_member(self.current_lr(), p).to(p.dtype) * g / avg.sqrt().add_(EPS))

    def _sgd(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        p.sub_(_per_member(self.current_lr(), p).to(p.dtype) * g)

    def current_lr(self) -> torch.Tensor:
        """Each member's learning rate at this step: its own, times its schedule's factor (as a run's
        param_group lr, a Python float, which float64 holds exactly)."""
        return self.lr * self.lr_scale


    def member_state(self, k: int, template: torch.optim.Optimizer) -> dict[str, Any]:
        """Member k's state in torch.optim's format, shaped by ``template`` (the single run's optimizer)."""
        out = template.state_dict()
        out["state"] = {i: {"step": torch.tensor(float(self.steps[k])),
                            **{n: t[k].clone() for n, t in s.items() if n != "hyper"}}
                        for i, s in enumerate(self.state) if s}
        return out

    def load_members(self, states: list[dict[str, Any]]) -> None:
        """Stack the members' torch.optim states (from their single-run checkpoints) back."""
        self.steps = torch.tensor([float(next(iter(s["state"].values()))["step"]) if s["state"] else 0.0
                                   for s in states], dtype=torch.float64, device=self.lr.device)
        self.state = []
        for i, p in enumerate(self.params):
            per = [s["state"].get(i, {}) for s in states]
            self.state.append({n: torch.stack([m[n].to(p.device) for m in per])
                               for n in per[0] if n not in ("step", "momentum_buffer")})
