"""K modules of one class as one callable: stacked parameters and buffers, the class's own forward under vmap."""
from __future__ import annotations

import copy
import math
from typing import Any, Iterable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .linear import batch_linear_layers


def flat_views(flat: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
    """Views of ``flat`` [K, N] shaped [K, ...] each (``shapes`` include K), in order along N."""
    views, start = [], 0
    for shape in shapes:
        n = math.prod(shape[1:])
        views.append(flat[:, start:start + n].view(flat.shape[0], *shape[1:]))
        start += n
    return views


@torch.no_grad()
def flatten(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """Move the tensors' values into one [K, N] tensor, which it returns: each tensor keeps its identity
    (a model still holds it, autograd still sees a leaf) and becomes a view of that one, so an update of
    all of them is one operation on it."""
    tensors = list(tensors)
    flat = torch.cat([t.detach().reshape(t.shape[0], -1) for t in tensors], dim=1)
    for t, view in zip(tensors, flat_views(flat, [t.shape for t in tensors])):
        t.data = view
    return flat


class Stacked:
    """Members' parameters stacked along a leading axis; calling it runs the template class's forward
    on every member at once (``torch.func.functional_call`` under ``vmap``).

    Input [K, B, ...] gives [K, B, ...]; ``shared=True`` feeds every member the same input [B, ...].
    An attribute that is a forward ``part`` of the class (a discriminator's ``split_logits``,
    ``log_likelihood``) is reached the same way, so method code calls it as on one module.
    """

    def __init__(self, modules: list[nn.Module]):
        params, buffers = stack_module_state(modules)
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.template = copy.deepcopy(modules[0]).to("meta")  # the class and its Python attributes only
        batch_linear_layers(self.template)  # one baddbmm per layer rather than vmap's generic matmul rule
        self.size = len(modules)

    def _call(self, x: torch.Tensor, part: str | None, shared: bool) -> torch.Tensor:
        kwargs = {"part": part} if part else {}

        def one(params, buffers, xs):
            return functional_call(self.template, (params, buffers), (xs,), kwargs)

        return vmap(one, in_dims=(0, 0, None if shared else 0), randomness="error")(self.params, self.buffers, x)

    def __call__(self, x: torch.Tensor, *, shared: bool = False) -> torch.Tensor:
        return self._call(x, None, shared)

    def __getattr__(self, name: str) -> Any:
        template = self.__dict__.get("template")
        if template is None:
            raise AttributeError(name)
        if name in getattr(template, "parts", ()):
            return lambda x: self._call(x, name, False)
        return getattr(template, name)  # the class's Python attributes (a mixture's log max, ...)

    def train(self, mode: bool = True) -> "Stacked":
        self.template.train(mode)
        return self

    def eval(self) -> "Stacked":
        return self.train(False)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def named_parameters(self):
        return iter(self.params.items())

    def requires_grad_(self, flag: bool = True) -> "Stacked":
        for p in self.params.values():
            p.requires_grad_(flag)
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**{k: v.detach() for k, v in self.params.items()}, **self.buffers}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, tensor in {**self.params, **self.buffers}.items():
                tensor.copy_(state[name])

    @torch.no_grad()
    def set_member(self, k: int, module: nn.Module) -> None:
        """Slot k takes ``module``'s parameters and buffers (a new member)."""
        for name, tensor in {**dict(module.named_parameters()), **dict(module.named_buffers())}.items():
            {**self.params, **self.buffers}[name][k] = tensor.to(self.params[next(iter(self.params))].device)

    def member(self, k: int, keys) -> dict[str, torch.Tensor]:
        """Member k's tensors under ``keys`` (a single module's state_dict keys)."""
        both = {**self.params, **self.buffers}
        return {key: both[key][k].detach().clone() for key in keys}
