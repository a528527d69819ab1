"""Generator averaging (EMA): an exponential moving average of G's weights, kept beside G.

Yazıcı et al., "The Unusual Effectiveness of Averaging in GAN Training" (ICLR 2019). The
average is a Generator of the same class, so it exports and loads like G itself.
"""
from __future__ import annotations

import torch


def warmup_decay(decay, updates):
    """The decay used at update number ``updates`` (0-based): min(decay, (1 + n) / (10 + n)); numbers,
    or a population's per-member tensors.

    Early on the average spans only the last ~n/9 updates, so a report at step 500 is not
    dominated by the random initial weights (TensorFlow's ExponentialMovingAverage warm-up).
    """
    ramp = (1.0 + updates) / (10.0 + updates)
    return torch.minimum(decay, ramp) if torch.is_tensor(decay) else min(decay, ramp)


@torch.no_grad()
def update(averaged: list[torch.Tensor], current: list[torch.Tensor], decay: float) -> None:
    """averaged ← decay · averaged + (1 − decay) · current, in place, one fused call per list."""
    torch._foreach_lerp_(averaged, current, 1.0 - decay)
