"""A study's trials ranked by the champion rule (ranking.rank), with what each was, did and cost."""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from .. import ranking, tracking

QUALITY = ("fid", "fid_mnist", "precision", "recall", "density", "coverage", "precision_mnist", "recall_mnist",
           "inception_samples", "eval_samples")
COST = ("wall_seconds", "cpu_seconds", "device_seconds", "generator_steps", "samples_seen")
STATUS_ORDER = {"completed": 0, "pruned": 1, "running": 2, "diverged": 3, "failed": 4}


@dataclass
class Leaderboard:
    rows: list[dict[str, Any]]   # best first: rank (None when not ranked), trial, status, reason, params, numbers
    used: str                    # the metric the champion rule ranked on
    basis: str                   # what the ranked numbers have in common, in words
    swept: list[str]             # the hyperparameters the study searched
    champion: str | None         # run id of the first ranked trial


def swept_keys(study: tracking.Study) -> list[str]:
    """The study's searched keys (its parent's search_space param), else the params that differ between trials."""
    try:
        keys = list(ast.literal_eval(study.parent.params.get("search_space", "")))
    except (ValueError, SyntaxError):
        keys = []
    if not keys:
        keys = sorted(k for k in {k for t in study.trials for k in t.params}
                      if len({t.params.get(k) for t in study.trials}) > 1)
    return keys


def label(trial: ranking.RunRecord) -> str:
    return trial.tags.get("trial_id") or trial.run_id[:8]


def leaderboard(study: tracking.Study, metric: str) -> Leaderboard:
    completed = [t for t in study.trials if t.tags.get("status") == "completed"]
    ranked, used = ranking.rank(completed, "fid") if completed else ([], metric)
    order = {t.run_id: i for i, t in enumerate(ranked)}
    sign = -1 if ranking.higher_is_better(metric) else 1

    def key(t):
        value = t.metrics.get(metric, math.inf if sign > 0 else -math.inf)
        return (order.get(t.run_id, len(order)), STATUS_ORDER.get(t.tags.get("status", ""), 5), sign * value)

    swept = swept_keys(study)
    rows = []
    for t in sorted(study.trials, key=key):
        rows.append({"rank": order[t.run_id] + 1 if t.run_id in order else None, "trial": label(t),
                     "run_id": t.run_id, "status": t.tags.get("status", "?"), "reason": t.tags.get("stop_reason", ""),
                     "params": {k: short(t.params.get(k, "")) for k in swept},
                     **{k: t.metrics[k] for k in (*QUALITY, *COST, "epoch") if k in t.metrics}})
    basis = ""
    if ranked:
        top = ranking.score(ranked[0], used)
        basis = (f"{used} on {int(top.count)} samples, metrics version {top.version or 'unrecorded'}; "
                 f"{len(ranked)} of {len(completed)} completed trials share that basis")
    return Leaderboard(rows, used, basis, swept, ranked[0].run_id if ranked else None)


def totals_line(totals: dict[str, float]) -> list[tuple[str, str]]:
    """The study's cost as (what, how much) pairs for the page."""
    names = {"study/trials": "trials", "study/wall_seconds": "wall seconds, start to end",
             "study/trial_wall_seconds": "trial wall seconds, summed", "study/cpu_seconds": "CPU seconds",
             "study/device_seconds": "device seconds", "study/generator_steps": "generator steps",
             "study/samples_seen": "samples seen", "study/epochs": "epochs trained",
             "study/epochs_to_champion": "epochs trained until the champion's trial first led",
             "study/seconds_to_champion": "seconds until the champion's trial first led"}
    return [(names[k], fmt(totals[k])) for k in names if k in totals]


def short(value: str) -> str:
    """A logged param as a person reads it: 0.00053583 rather than 0.0005358312362730346."""
    try:
        return f"{float(value):.4g}" if "." in value or "e" in value.lower() else value
    except ValueError:
        return value


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 1000 or v.is_integer() else f"{v:.3f}"
    return str(v)


__all__ = ["Leaderboard", "leaderboard", "swept_keys", "totals_line", "fmt", "COST", "QUALITY"]
