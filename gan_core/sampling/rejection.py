"""The rejection loop that DRS and latent rejection sampling share: propose a batch, keep each with its probability."""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import ConfigError

BATCH = 5000


def rejection_sample(propose: Callable[[int], tuple[torch.Tensor, torch.Tensor]], n: int, *,
                     rng: torch.Generator, what: str, batch: int = BATCH,
                     max_proposals: int = 10_000_000) -> tuple[torch.Tensor, dict[str, float]]:
    """n accepted candidates and the acceptance statistics.

    ``propose(batch)`` returns (candidates [batch, ...], acceptance probabilities [batch]);
    the uniform draws come from ``rng`` (a CPU generator), so a seed fixes the result.
    """
    kept, have, proposed = [], 0, 0
    while have < n:
        if proposed >= max_proposals:
            raise ConfigError(f"{what} accepted only {have} of {proposed} proposals; loosen its acceptance")
        candidates, probability = propose(batch)
        accept = torch.rand(batch, generator=rng, dtype=torch.float64).to(probability.device) < probability
        kept.append(candidates[accept])
        have += int(accept.sum())
        proposed += batch
    rate = have / proposed if proposed else 1.0
    out = torch.cat(kept)[:n] if kept else torch.empty(0)
    return out, {"acceptance_rate": rate, "proposals_per_sample": 1.0 / rate}
