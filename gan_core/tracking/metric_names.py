"""The one map between the names the code uses for metrics (``fid``, ``loss_d``; Ray Tune's and ``--metric``'s)
and the names MLflow stores (``quality/fid``, ``training/loss_d``), applied only where MLflow is written and read.

MLflow 3.x's chart view makes one section per prefix before the last "/", sorts the named sections
alphabetically and puts unprefixed metrics last ("Model metrics"; RunsChartsCardConfig
.getBaseChartAndSectionConfigs in its UI). The section names are chosen so that sorting puts
quality first: quality < sample_counts < sampler < speed < study < training < usage.
A key not listed here (a new metric) keeps its name, so it is never lost, only unsorted.
"""
from __future__ import annotations

from typing import Iterable

SECTIONS: dict[str, tuple[str, ...]] = {
    "quality": ("fid", "precision", "recall", "density", "coverage", "fid_mnist", "precision_mnist",
                "recall_mnist", "density_mnist", "coverage_mnist", "fid_inception_bf16", "fid_template"),
    "sample_counts": ("eval_samples", "inception_samples"),  # what each quality number was computed on
    "sampler": ("acceptance_rate", "proposals_per_sample", "w_mean", "w_over_m"),
    "speed": ("images_per_s", "steps_per_s", "train_seconds", "report_seconds", "eval_seconds", "first_step_at"),
    "training": ("epoch", "step", "training_iteration", "member_step", "d_real", "d_fake"),
    # what a run cost (gan_core.tracking.cost); a sweep's parent run holds the study's under "study/"
    "usage": ("wall_seconds", "generator_steps", "samples_seen", "cpu_seconds", "device_seconds"),
}
LOSS_PREFIX = "loss"  # every guarded loss the loop sees (loss_d, loss_g, loss_critic, ...) is a training curve
STUDY = "study"       # the sweep's parent run: totals over the study and the cost to reach its champion

_SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}
_KNOWN_PREFIXES = {*SECTIONS, STUDY}


def logged(name: str) -> str:
    """The name MLflow stores for the metric the code calls ``name``."""
    if "/" in name:
        return name
    if name in _SECTION_OF:
        return f"{_SECTION_OF[name]}/{name}"
    if name.startswith(LOSS_PREFIX):
        return f"training/{name}"
    return name


def internal(name: str) -> str:
    """The code's name for a stored metric, in either spelling (stores written before the sections were not)."""
    section, sep, rest = name.partition("/")
    return rest if sep and section in _KNOWN_PREFIXES and section != STUDY else name


def to_mlflow(metrics: dict[str, float]) -> dict[str, float]:
    return {logged(k): v for k, v in metrics.items()}


def from_mlflow(metrics: dict[str, float]) -> dict[str, float]:
    """Stored metrics under the code's names; where a run holds both spellings of one, the sectioned one wins."""
    out = {internal(k): v for k, v in metrics.items() if internal(k) == k}
    out.update({internal(k): v for k, v in metrics.items() if internal(k) != k})
    return out


def study(name: str) -> str:
    """A parent run's study-wide number: ``study/<name>``."""
    return f"{STUDY}/{name}"


def spellings(name: str) -> Iterable[str]:
    """Both names a metric may be stored under, the current one first (to read metric histories)."""
    return dict.fromkeys((logged(name), name))
