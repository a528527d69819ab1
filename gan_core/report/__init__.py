"""``gan report``: one study as a self-contained HTML page, logged to the sweep's parent run.

It answers which trial won, why (the champion rule and its basis), and at what cost, with the learning curves
of every trial, the Pareto fronts of fid against recall and of quality against cost, the champion's samples,
the samplers fitted on it, and Optuna's importance plot. Works for single-trial and population sweeps.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from .. import disk, ranking, tracking
from ..sampling.jobs import JOBS
from . import figures
from .leaderboard import label, leaderboard, totals_line
from .page import render

REPORT_FOLDER = "report"
CURVE = "fid_mnist"  # every report measures it, whatever the sweep pruned on


def write_report(target: str, *, tracking_uri: str | None = None, out: str | Path | None = None,
                 log: bool = True) -> Path:
    """Write the report of ``target`` (a sweep's parent run id, its sweep name, or an experiment: its latest
    sweep) to ``out`` (default runs/<sweep>-report.html) and, with ``log``, to the parent run; return the path."""
    uri = tracking.normalize_uri(tracking_uri) if tracking_uri else tracking.default_tracking_uri()
    study = tracking.load_study(uri, target)
    metric = study.parent.params.get("metric", "fid_mnist")
    board = leaderboard(study, metric)
    champion = board.champion
    totals = {k: v for k, v in study.parent.metrics.items() if k.startswith("study/")}
    if not totals:  # a sweep still running, or written before costs were kept: sum what the trials hold
        totals = tracking.study_cost(uri, study, metric, champion, ranking.higher_is_better(metric))
    by_id = {t.run_id: t for t in study.trials}
    curves = [{"run_id": t.run_id, "label": label(t), "status": t.tags.get("status", "?"),
               "points": _curve(uri, t.run_id, CURVE)} for t in study.trials]
    points = [{"run_id": r["run_id"], "label": r["trial"], "status": r["status"], **r} for r in board.rows]
    fid, recall = ("fid", "recall") if sum("fid" in p and "recall" in p for p in points) >= 2 \
        else ("fid_mnist", "recall_mnist")
    spend = "device_seconds" if any(p.get("device_seconds", 0) > 0 for p in points) else "cpu_seconds"
    charts = [
        ("learning curves", figures.learning_curves(curves, CURVE, champion),
         f"{CURVE} against epoch for every trial (measured at every report); the champion in black"),
        ("Pareto front: fid against recall", figures.pareto(
            points, fid, recall, True, False, f"{fid} against {recall}: a low fid can hide a collapsed generator",
            champion), "trials on the dashed front are beaten by no other on both"),
        ("Pareto front: quality against cost", figures.pareto(
            points, spend, CURVE, True, True, f"{CURVE} against {spend}", champion),
         "what each trial cost for the quality it reached"),
    ]
    best = by_id.get(champion)
    summary = _summary(study, board, best, totals)
    facts = [("study", study.sweep), ("method", study.method), ("sweep's metric", metric),
             ("parent run", study.parent.run_id), ("tracking store", str(uri)),
             ("written", time.strftime("%Y-%m-%d %H:%M:%S %Z"))]
    page = render(title=f"Study report: {study.sweep}", facts=facts, summary=summary, board=board,
                  cost_rows=totals_line(totals), figures=charts,
                  champion_grid=tracking.last_image(uri, champion) if champion else None,
                  samplers=_samplers(uri, champion) if champion else [],
                  importance=tracking.artifact_bytes(uri, study.parent.run_id, "optuna/importance.png"),
                  lineage=_lineage(study))
    path = Path(out) if out else Path("runs") / f"{study.sweep}-report.html"
    disk.replace(path, page.encode(), what="report")
    if log:
        tracking.log_file(uri, study.parent.run_id, path, REPORT_FOLDER)
    return path


def _curve(uri, run_id: str, metric: str) -> list[tuple[float, float]]:
    epochs = {step: value for step, _, value in tracking.history(uri, run_id, "epoch")}
    return [(epochs.get(step, math.nan), value) for step, _, value in tracking.history(uri, run_id, metric)]


def _summary(study, board, best, totals: dict[str, float]) -> str:
    if best is None:
        return f"No completed trial in {len(study.trials)}: nothing to rank."
    value = best.metrics[board.used]
    line = (f"Trial {label(best)} won (run {best.run_id}) with {board.used} = {value:.3f}: it ranks first on "
            f"{board.basis}. ")
    if "study/cpu_seconds" in totals:
        line += (f"The study ran {int(totals.get('study/trials', len(study.trials)))} trials for "
                 f"{totals['study/cpu_seconds']:,.0f} CPU seconds and {totals.get('study/device_seconds', 0):,.0f} "
                 f"device seconds")
        if math.isfinite(totals.get("study/epochs_to_champion", math.nan)):
            line += (f"; all trials together had trained {totals['study/epochs_to_champion']:.2f} of their "
                     f"{totals.get('study/epochs', math.nan):.2f} epochs when the winner first led")
        line += "."
    return line


def _lineage(study) -> list[list]:
    """PBT's exploits, from the members' tags: (trial, step, the member whose state it took), in step order."""
    rows = [[label(t), int(key.rsplit("_", 1)[1]), parent] for t in study.trials
            for key, parent in t.tags.items() if key.startswith("pbt_parent.step_")]
    return sorted(rows, key=lambda r: (r[1], r[0]))


def _samplers(uri, champion: str) -> list[list]:
    rows = []
    for job in JOBS:
        for r in tracking.linked_runs(uri, job, champion):
            rows.append([job, r.tags.get("trial_id", r.run_id[:8]), r.tags.get("status", "?"),
                         r.params.get("sampler", job), r.metrics.get("fid", ""), r.metrics.get("fid_mnist", ""),
                         r.metrics.get("acceptance_rate", ""), r.metrics.get("inception_samples", "")])
    return rows
