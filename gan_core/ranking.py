"""The rules that compare runs: which can be ranked together, which is best, when one becomes
champion, and when a sampler serves a run better. Pure functions of run records; tracking.py
reads and writes MLflow around them.

Numbers are compared only on the same basis: the same metric, the same sample count (FID is
biased by it) and the same metric version (a changed feature network is a different metric).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

INCEPTION_METRICS = ("fid", "precision", "recall", "density", "coverage")
VERSION_TAG = "metrics_version"  # tag on every run: the version of the metrics its numbers come from


@dataclass
class RunRecord:
    run_id: str
    metrics: dict[str, float]
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class Score(NamedTuple):
    metric: str
    value: float
    count: float     # the sample count the value used
    version: str     # the metrics version it was computed with


def count_key(metric: str) -> str:
    """The logged sample count behind ``metric``."""
    if metric.endswith("_inception_bf16"):  # the pruning signal (metrics.probe)
        return "probe_samples"
    return "inception_samples" if metric in INCEPTION_METRICS else "eval_samples"


def higher_is_better(metric: str) -> bool:
    return metric.split("_")[0] in ("precision", "recall", "density", "coverage")


def score(run: RunRecord, metric: str) -> Score:
    return Score(metric, run.metrics[metric], run.metrics.get(count_key(metric), 0), run.tags.get(VERSION_TAG, ""))


def better(a: float, b: float, metric: str) -> bool:
    return a > b if higher_is_better(metric) else a < b


def rank(runs: Iterable[RunRecord], metric: str = "fid") -> tuple[list[RunRecord], str]:
    """Runs best first by ``metric``, among those sharing the largest sample count (then the
    most common metric version); Inception ``fid`` falls back to ``fid_mnist`` where no run has it."""
    runs = list(runs)
    used = metric
    if metric == "fid" and not any("fid" in r.metrics for r in runs):
        used = "fid_mnist"
        warnings.warn("no finished run has Inception 'fid'; ranking by 'fid_mnist'", stacklevel=2)
    scored = [score(r, used) + (r,) for r in runs if used in r.metrics]
    if not scored:
        return [], used
    top_count = max(s[2] for s in scored)
    at_count = [s for s in scored if s[2] == top_count]
    versions = [s[3] for s in at_count]
    version = max(set(versions), key=versions.count)
    same_basis = [s for s in at_count if s[3] == version]
    same_basis.sort(key=lambda s: s[1], reverse=higher_is_better(used))
    return [s[4] for s in same_basis], used


def version_number(version: str) -> int:
    """The metric definitions' version, the number before the first "/" (0 when unknown)."""
    head = version.split("/")[0]
    return int(head) if head.isdigit() else 0


def beats_champion(candidate: Score, champion: Score | None) -> bool:
    """Whether ``candidate`` takes the champion alias. On the same basis it must be strictly better. Across
    bases: Inception ``fid`` replaces the cheap proxy (never the reverse), newer metric definitions replace
    older ones (never the reverse), and more samples replace fewer."""
    if champion is None:
        return True
    if champion.metric != candidate.metric:
        return candidate.metric == "fid"
    if champion.version != candidate.version:
        return version_number(candidate.version) >= version_number(champion.version)
    if champion.count != candidate.count:
        return candidate.count > champion.count
    return better(candidate.value, champion.value, candidate.metric)


def comparable_metric(a: dict[str, float], b: dict[str, float], version_a: str = "", version_b: str = "") -> str | None:
    """The FID two results can be ranked on: Inception fid at equal sample counts, else fid_mnist; None
    when neither is shared on the same basis."""
    if version_a != version_b:
        return None
    for metric in ("fid", "fid_mnist"):
        if metric in a and metric in b and a.get(count_key(metric)) == b.get(count_key(metric)):
            return metric
    return None


def sampler_improves(candidate: dict[str, float], current: dict[str, float],
                     version_candidate: str = "", version_current: str = "") -> bool:
    """Whether a fitted sampler's results beat the run's current best (its plain sampling, or the
    sampler recorded before); results that cannot be compared are not recorded."""
    metric = comparable_metric(candidate, current, version_candidate, version_current)
    return metric is not None and better(candidate[metric], current[metric], metric)
