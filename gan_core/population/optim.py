"""Optimizers over stacked parameters [K, ...] whose hyperparameters are per member ([K] tensors).

The maths of torch.optim's Adam (bias-corrected, no weight decay), RMSprop (α 0.99, no momentum)
and SGD, applied to every member at once; a test holds each member to torch.optim's result.
``member_state(k)`` exports one member's state in torch.optim's format, so a member's checkpoint
resumes as a single run.
"""
from __future__ import annotations

from typing import Any

import torch

from .stacked import flat_views, flatten

EPS = 1e-8
RMS_ALPHA = 0.99


class StackedOptimizer:
    """One of adam, rmsprop or sgd for stacked parameters; hyperparameters are float64 [K] tensors.

    The parameters' values live in one [K, N] tensor (``flat``, see ``stacked.flatten``) and their
    gradients are gathered into another (one ``_foreach_copy_`` into its views), so a step is a dozen tensor
    operations whatever the number of parameter tensors: on a GPU, kernel launches bound this small MLP's step."""

    def __init__(self, params: list[torch.Tensor], kind: str, lr: torch.Tensor,
                 betas: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.params, self.kind, self.lr = list(params), kind, lr.double()
        self.flat = flatten(self.params)
        self.grad = torch.zeros_like(self.flat)
        self.grad_views = flat_views(self.grad, [p.shape for p in self.params])
        self.betas = tuple(b.double() for b in betas) if betas is not None else None
        self.steps = torch.zeros_like(self.lr)  # per member: a member that joins later starts its own count
        self.lr_scale = torch.ones_like(self.lr)  # a learning-rate schedule's factor per member
        self.state: dict[str, torch.Tensor] = {}  # each moment as one [K, N] tensor, like ``flat``
        self.hyper: tuple[torch.Tensor, ...] | None = None  # Adam's per-member factors as [K, 1], shaped once

    def restart(self, k: int, lr: float, betas: tuple[float, float] | None = None) -> None:
        """Member k starts over (a new member in its slot) with its own hyperparameters."""
        self.lr[k], self.steps[k] = lr, 0
        if betas is not None:
            self.betas[0][k], self.betas[1][k] = betas
        for tensor in self.state.values():
            tensor[k] = 0
        self.hyper = None

    def set_hyper(self, k: int, lr: float, betas: tuple[float, float] | None = None) -> None:
        """Member k's hyperparameters change (PBT's explore); its moments and step count stay."""
        self.lr[k] = lr
        if betas is not None:
            self.betas[0][k], self.betas[1][k] = betas
        self.hyper = None

    @torch.no_grad()
    def copy_member(self, dst: int, src: int) -> None:
        """Member ``dst`` takes ``src``'s moments, step count and hyperparameters (PBT's exploit), in place."""
        self.lr[dst], self.steps[dst] = self.lr[src], self.steps[src]
        if self.betas is not None:
            for b in self.betas:
                b[dst] = b[src]
        for tensor in self.state.values():
            tensor[dst] = tensor[src]
        self.hyper = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        views, grads = zip(*[(v, p.grad) for v, p in zip(self.grad_views, self.params) if p.grad is not None])
        if len(grads) < len(self.params):  # a parameter without a gradient counts as a zero gradient
            self.grad.zero_()
        torch._foreach_copy_(views, grads)  # one operation for all (laid out as ``flat`` is)
        self.steps += 1
        {"adam": self._adam, "rmsprop": self._rmsprop, "sgd": self._sgd}[self.kind](self.flat, self.grad)

    def _column(self, values: torch.Tensor) -> torch.Tensor:
        """Per-member values [K] as a column [K, 1] of the parameters' dtype (computed in float64 first)."""
        return values.view(-1, 1).to(self.flat.dtype)

    def _adam(self, p: torch.Tensor, g: torch.Tensor) -> None:
        if not self.state:
            self.state = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        if self.hyper is None:
            b1, b2 = self.betas
            self.hyper = (self._column(1 - b1), self._column(b2), self._column(1 - b2), torch.stack(self.betas))
        one_minus_b1, b2, one_minus_b2, betas = self.hyper
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        # the order of torch's own Adam (foreach and fused alike), so rounding matches it
        m.lerp_(g, one_minus_b1)
        v.mul_(b2).addcmul_(one_minus_b2 * g, g)
        # bias corrections in float64, as torch computes them from Python floats (both at once: [2, K])
        correction1, correction2 = (1 - betas ** self.steps).unbind()
        step_size, correction2_sqrt = (torch.stack((self.current_lr() / correction1, correction2.sqrt()), dim=1)
                                       .to(p.dtype).split(1, dim=1))
        denom = v.sqrt().div_(correction2_sqrt).add_(EPS)
        p.addcdiv_(m * step_size, denom, value=-1.0)

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor) -> None:
        if not self.state:
            self.state = {"square_avg": torch.zeros_like(p)}
        avg = self.state["square_avg"]
        avg.mul_(RMS_ALPHA).addcmul_(g, g, value=1 - RMS_ALPHA)
        p.sub_(self._column(self.current_lr()) * g / avg.sqrt().add_(EPS))

    def _sgd(self, p: torch.Tensor, g: torch.Tensor) -> None:
        p.sub_(self._column(self.current_lr()) * g)

    def current_lr(self) -> torch.Tensor:
        """Each member's learning rate at this step: its own, times its schedule's factor (as a run's
        param_group lr, a Python float, which float64 holds exactly)."""
        return self.lr * self.lr_scale

    def member_state(self, k: int, template: torch.optim.Optimizer) -> dict[str, Any]:
        """Member k's state in torch.optim's format, shaped by ``template`` (the single run's optimizer)."""
        out = template.state_dict()
        per_tensor = {n: flat_views(t[k:k + 1], [p.shape for p in self.params]) for n, t in self.state.items()}
        out["state"] = {i: {"step": torch.tensor(float(self.steps[k])),
                            **{n: views[i][0].clone() for n, views in per_tensor.items()}}
                        for i in range(len(self.params)) if self.state}
        return out

    def load_members(self, states: list[dict[str, Any]]) -> None:
        """Stack the members' torch.optim states (from their single-run checkpoints) back."""
        self.steps = torch.tensor([float(next(iter(s["state"].values()))["step"]) if s["state"] else 0.0
                                   for s in states], dtype=torch.float64, device=self.lr.device)
        first = next((s["state"][0] for s in states if s["state"]), None)
        names = [n for n in (first or {}) if n not in ("step", "momentum_buffer")]
        self.state = {n: torch.cat([torch.stack([s["state"][i][n].to(self.flat.device) if s["state"]
                                                 else torch.zeros(p.shape[1:], device=self.flat.device)
                                                 for s in states]).reshape(len(states), -1)
                                    for i, p in enumerate(self.params)], dim=1) for n in names}
        self.hyper = None
