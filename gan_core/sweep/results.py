"""After a sweep: the trial table, the best run on a fair basis, champion promotion or the sampler record, plots."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import ranking, tracking
from ..loop import Diverged
from . import optuna_search
from .finalists import score_finalists

TABLE = ["trial_id", "status", "reports", "fid_mnist", "fid", "precision", "recall", "inception_samples"]


@dataclass
class SweepResult:
    method: str
    name: str
    metric: str
    rows: list[dict[str, Any]] = field(default_factory=list)   # one per trial, best first
    best: dict[str, Any] | None = None
    champion: str = ""
    experiment_path: str = ""
    cost: dict[str, float] = field(default_factory=dict)  # the study's totals, as logged on its parent run

    def table(self) -> str:
        lines = [" | ".join(TABLE), " | ".join("---" for _ in TABLE)]
        for row in self.rows:
            lines.append(" | ".join(fmt(row.get(c, "")) for c in TABLE))
        return "\n".join(lines)


def fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def status_of(metrics: dict[str, Any], error: Exception | None) -> str:
    if metrics.get("final"):
        return "completed"
    if error is not None:
        return "diverged" if isinstance(error, Diverged) else "failed"
    return "pruned"


def rows_of(grid) -> list[dict[str, Any]]:
    rows = []
    for r in grid:
        m = r.metrics or {}
        row = {"trial_id": m.get("trial_id", r.path.rsplit("_", 3)[0] if r.path else "?"),
               "status": status_of(m, r.error), "reports": m.get("training_iteration", 0),
               "config": r.config or {}, "node_id": m.get("node_id")}
        row.update(tracking.numeric_metrics({k: v for k, v in m.items() if k not in row}))
        rows.append(row)
    return rows


def finish(plan, grid, sweep_run: tracking.SweepRun) -> SweepResult:
    """Rank the sweep's finished runs, promote the champion (or record the best sampler on its
    GAN run), log Optuna's plots and the table to the parent run, and close it."""
    result = SweepResult(plan.method, plan.name, plan.options.metric, rows=rows_of(grid),
                         experiment_path=grid.experiment_path)
    return close(plan, result, sweep_run, optuna_search.figures(plan.space, result.rows, plan.options.metric))


def finish_members(plan, records: list[dict[str, Any]], sweep_run: tracking.SweepRun, experiment_path: str,
                   folder) -> SweepResult:
    """The same for a population sweep, whose rows are its members and whose Optuna study is real."""
    rows = [{"trial_id": r["member_id"], "status": r["status"], "reports": len(r["values"]), "config": r["config"],
             "population": r["population"], **({plan.options.metric: r["values"][-1]} if r["values"] else {})}
            for r in records]
    result = SweepResult(plan.method, plan.name, plan.options.metric, rows=rows, experiment_path=experiment_path)
    return close(plan, result, sweep_run, optuna_search.study_figures(folder, plan.name))


def close(plan, result: SweepResult, sweep_run: tracking.SweepRun, figures: dict[str, Any]) -> SweepResult:
    metric = plan.options.metric
    result.rows.sort(key=lambda row: (row["status"] != "completed", row.get(metric, math.inf)))
    runs = tracking.finished_runs(plan.method, plan.uri, sweep=plan.name)
    if plan.finalist_samples and plan.options.finalists:
        scored = score_finalists(runs, metric=metric, count=plan.options.finalists, samples=plan.finalist_samples,
                                 uri=plan.uri, base=plan.base_state)
        print(f"Inception fid of the {len(scored)} finalist(s) on {plan.finalist_samples} samples each: logged")
        runs = tracking.finished_runs(plan.method, plan.uri, sweep=plan.name)
        by_trial = {r.tags.get("trial_id"): r.metrics for r in runs if r.run_id in scored}
        for row in result.rows:  # the table shows the finalists' Inception numbers too
            row.update({k: v for k, v in by_trial.get(str(row["trial_id"]), {}).items()
                        if k in ("fid", "precision", "recall", "inception_samples")})
    ranked, used = ranking.rank(runs, "fid")
    if ranked:
        best = ranked[0]
        result.best = {"run_id": best.run_id, "metric": used, used: best.metrics[used],
                       "trial_id": best.tags.get("trial_id")}
        if plan.base_state is not None:  # a sampler job: the GAN run learns which sampler serves it best
            sampler = best.params.get("sampler", plan.method)
            kept = tracking.record_sampler(plan.resolved["base"], sampler, best, plan.uri)
            result.champion = f"{sampler} on run {plan.resolved['base']}: " + (
                "recorded as its best sampler" if kept else "not better than its best sampler")
        else:
            promoted, version = tracking.promote_champion(plan.method, best, used, plan.uri)
            result.champion = f"gan-{plan.method} v{version}" + (" (new champion)" if promoted else " (champion kept)")
    result.cost = tracking.study_cost(plan.uri, tracking.load_study(plan.uri, sweep_run.run_id), metric,
                                      (result.best or {}).get("run_id"), ranking.higher_is_better(metric))
    sweep_run.log_figures(figures)
    sweep_run.log_table("trials.md", result.table())
    sweep_run.finish({**{k: v for k, v in (result.best or {}).items() if isinstance(v, float)}, **result.cost})
    return result
