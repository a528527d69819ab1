"""Linear layers of stacked members: one batched matmul per layer and per gradient, in place of vmap's rule.

Under ``vmap``, ``F.linear`` with a batched weight goes through the generic matmul rule, which reshapes and
transposes around each ``bmm`` forward and backward, and leaves each weight's gradient strided, so autograd
copies it. ``StackedLinear``'s own vmap rule gets the members' tensors as they are stored ([K, ...]) and
computes y[k] = x[k] w[k]ᵀ + b[k] with one ``baddbmm``; its backward gives each gradient with one ``bmm`` (or
a sum), already in the parameters' layout. Its backward is made of differentiable operations, so a gradient
penalty can differentiate through it again.
"""
from __future__ import annotations

import functools

import torch
from torch import nn


class StackedLinear(torch.autograd.Function):
    """y = x wᵀ + b for the members stacked along dim 0: x [K, B, in], w [K, out, in], b [K, out] or None."""

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if bias is None:
            return torch.bmm(x, weight.mT)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.mT)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (torch.bmm(grad, weight) if need_x else None,
                torch.bmm(grad.mT, x) if need_w else None,
                grad.sum(1) if need_b else None)

    @staticmethod
    def vmap(info, in_dims, x, weight, bias):
        def members_first(t, dim):  # an input vmap does not batch is the same for every member
            if t is None or dim == 0:
                return t
            return t.expand(info.batch_size, *t.shape) if dim is None else t.movedim(dim, 0)

        x, weight, bias = (members_first(t, d) for t, d in zip((x, weight, bias), in_dims))
        if x.dim() == 3:
            return StackedLinear.apply(x, weight, bias), 0
        # a member's input other than [B, in]: its leading dimensions as one batch dimension
        out = StackedLinear.apply(x.reshape(x.shape[0], -1, x.shape[-1]), weight, bias)
        return out.reshape(*x.shape[:-1], out.shape[-1]), 0


def _forward(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return StackedLinear.apply(x, layer.weight, layer.bias)


def batch_linear_layers(template: nn.Module) -> None:
    """``template``'s nn.Linear layers (spectrally normalized or not) compute with ``StackedLinear`` when it
    runs under vmap over stacked parameters (``Stacked``); the rest of its forward is unchanged."""
    for layer in template.modules():
        if isinstance(layer, nn.Linear):
            layer.forward = functools.partial(_forward, layer)
