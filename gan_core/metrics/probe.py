"""The pruning signal: Inception fid on a few hundred samples in bfloat16, at ASHA's rungs only.

Among good generators the MNIST classifier's fid ranks them unlike Inception, which the protocol
reports (docs/METRIC_VALIDATION.md): a pruner on fid_mnist can throw the eventual winner away. Inception
itself, cheapened (250 samples, bf16, channels-last), ranks them as Inception on more samples does, and
computed only where ASHA decides (its rungs) and at a trial's last report it costs a few per cent of
the training (bench/eval_throughput.py). Between rungs a report carries the last value, marked stale.
"""
from __future__ import annotations

import math

from .features import inception_bf16_extractor
from .inception import weights_hash

SIGNAL = "fid_inception_bf16"      # the metric sweeps prune and search on by default
EXTRACTOR = "inception_bf16"
SAMPLES = 250                      # per probe: see docs/METRIC_VALIDATION.md for the measured agreement
SMOKE_SAMPLES = 32                 # --smoke studies: the machinery, not the numbers
KEYS = ("fid", "precision", "recall", "density", "coverage")


def names() -> list[str]:
    """The metrics one probe yields."""
    return [f"{k}_{EXTRACTOR}" for k in KEYS]


def is_probe_report(report: int, final: bool, grace: int, reduction: float, every: int = 0) -> bool:
    """Whether report number ``report`` (1-based) is probed: the last, and each where the scheduler decides:
    every ``every`` reports (PBT's rounds) when it is set, else the first report at or past an ASHA rung
    grace·reduction^k (Ray's ASHA compares ``training_iteration >= milestone``, so a fractional rung is
    decided at its ceiling). Reports before the first probe carry a placeholder (``carry``)."""
    if final:
        return True
    if every:
        return report % every == 0
    milestone = float(grace)
    while milestone <= report:
        if math.ceil(milestone - 1e-9) == report:
            return True
        milestone *= reduction
    return False


def version() -> str:
    """What makes two probe values comparable: the network, its precision and the sample count's basis."""
    return f"{EXTRACTOR}-{weights_hash()}"


def extractor(device: str = "cpu"):
    return inception_bf16_extractor(device)


def carry(evaluated: dict, last: dict, fresh: bool) -> dict:
    """``evaluated`` with the signal: its own when ``fresh`` (then remembered in ``last``), else ``last``'s
    (+inf before the first probe), marked stale by ``probe_fresh`` so that trackers can skip it (Tune needs the metric in every report)."""
    if fresh:
        last.clear()
        last.update({k: evaluated[k] for k in (*names(), "probe_samples") if k in evaluated})
    else:
        # before the first probe: the worst value, which no rung reads (a rung is always probed)
        evaluated.update(last or {SIGNAL: math.inf})
    evaluated["probe_fresh"] = fresh
    return evaluated


def fresh_only(metrics: dict) -> dict:
    """A report's metrics without a carried (stale) signal: what a tracker should record at this step."""
    if metrics.get("probe_fresh", True):
        return metrics
    return {k: v for k, v in metrics.items() if k not in (*names(), "probe_samples")}
