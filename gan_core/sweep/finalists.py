"""Inception where it pays: the sweep's finalists (its best completed runs by the cheap metric) are scored
once, after the study, with one Inception network, and the champion is ranked on that.

Trials train with ``inception_samples`` 0 (unless the sweep's metric is Inception ``fid``): on CPU,
Inception in every completed trial took 264 s of a 370 s trial.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from .. import checkpoint, ranking, sampling, tracking
from ..data import quantize
from ..device import pick_device
from ..metrics.evaluate import EVAL_SEED, generate, score_images
from ..models import frozen_generator


def samples_of(state: dict[str, Any], n: int, base: dict[str, Any] | None, device: torch.device) -> torch.Tensor:
    """uint8 [n, 784] from a finished run's checkpoint: a GAN's generator, or a fitted sampler on its base."""
    if base is None:
        return generate(frozen_generator(state["generator"], device), n)
    sampler = state["config"].get("sampler", state["method"])
    x = sampling.draw(sampler, n, generator=frozen_generator(base["generator"], device), base=base, fitted=state,
                      seed=EVAL_SEED)
    return quantize(x).view(n, 784)


def score_finalists(runs: list[ranking.RunRecord], *, metric: str, count: int, samples: int, uri: str,
                    base: dict[str, Any] | None = None) -> list[str]:
    """Score the ``count`` best of ``runs`` by ``metric`` on ``samples`` Inception samples and log
    fid/precision/recall (with ``inception_samples``) to each; return the scored run ids."""
    ranked, _ = ranking.rank(runs, metric)
    device = pick_device("auto")  # the driver's GPU when it has one: 10,000 samples each there
    scored, finalists = [], ranked[:count]
    for i, run in enumerate(finalists, 1):
        tick = time.perf_counter()
        print(f"Inception fid: finalist {i}/{len(finalists)} (trial {run.tags.get('trial_id', run.run_id)}, "
              f"{metric} {run.metrics[metric]:.3f}) on {samples} samples ...", flush=True)
        state = tracking.load_checkpoint(run.run_id, uri)
        metrics = score_images(samples_of(state, samples, base, device), "inception", device=str(device),
                               progress=f"finalist {i}/{len(finalists)}: Inception features")
        tracking.log_metrics(run.run_id, {**metrics, "inception_samples": samples},
                             step=int(run.metrics.get("step", 0)), uri=uri)
        scored.append(run.run_id)
        print(f"  fid {metrics['fid']:.3f}, precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f} "
              f"({time.perf_counter() - tick:.0f} s)", flush=True)
    return scored
