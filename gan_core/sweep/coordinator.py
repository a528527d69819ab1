"""The coordinator of a population sweep: a Ray actor that feeds members to the populations, judges each
report (MemberSearch), and writes every member's MLflow child run: all writes from this one process."""
from __future__ import annotations

import dataclasses
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from .. import checkpoint, cost, disk, tracking
from .member_search import ENDED, MemberSearch

SCHEDULE = "schedule.json"  # beside a PBT member's checkpoint


class Coordinator:
    """Built inside its actor process from picklable pieces: the search's options, the sweep's parent run,
    the method (it resolves members' configs), and after a resume the members the populations hold."""

    def __init__(self, search_options: dict[str, Any], sweep_run: tracking.SweepRun, method,
                 held: set[str] | None = None):
        # its own outbox: this process writes the members' runs while the driver waits on Tune
        self.sweep_run = dataclasses.replace(sweep_run, role="coordinator")
        self.search, self.resolve = MemberSearch(**search_options), method.resolve
        self.method = method.name
        self.runs: dict[str, str] = {}
        self.spent: dict[str, dict[str, float]] = {}  # each member's seconds so far
        if held is not None:  # a resumed sweep: members no population holds start over
            self.search.release(held)

    def _run(self, member_id: str) -> str:
        if member_id not in self.runs:
            record = self.search.records[member_id]
            self.runs[member_id] = self.sweep_run.trial_run(member_id, {**record.config,
                                                                       "population": record.population})
        return self.runs[member_id]

    def _offer(self, population: str, signature: str | None) -> tuple[str, dict] | None:
        record = self.search.take(population, signature)
        if record is None:
            return None
        self._run(record.member_id)
        return record.member_id, self.resolve(record.config)

    def take(self, population: str, signature: str | None, count: int) -> list[tuple[str, dict]]:
        """Up to ``count`` members that share one signature (``signature``, or the first one's)."""
        first = self._offer(population, signature)
        if first is None:
            return []
        group, signature = [first], self.search.records[first[0]].signature
        while len(group) < count and (offer := self._offer(population, signature)) is not None:
            group.append(offer)
        return group

    def judge(self, population: str, reports: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
        """Log each member's report and decide: continue, or stop with a replacement for its slot."""
        decisions = {}
        for report in reports:
            member_id, metrics = report["member_id"], report["metrics"]
            run_id, record = self._run(member_id), self.search.records[member_id]
            step = int(metrics.get("member_step", 0))
            if member_id not in self.spent:  # a new member, or one this coordinator meets after a resume
                self.spent[member_id] = self.sweep_run.last_metrics(run_id, cost.SECONDS)
            self.spent[member_id] = cost.add(self.spent[member_id], report.get("spent", {}))
            if report["index"] > len(record.values):  # not a report replayed after a resume
                self.sweep_run.log_report(run_id, {**metrics, **self.spent[member_id], "step": step,
                                                   "training_iteration": report["index"]})
                with Image.open(io.BytesIO(report["grid"])) as image:
                    self.sweep_run.log_image(run_id, image.copy(), step)
            if report.get("parent"):  # PBT: this member took the parent's state after this report
                self.sweep_run.set_tags(run_id, {"pbt_parent": report["parent"],
                                                 f"pbt_parent.step_{step}": report["parent"]})
            action = self._decide(member_id, run_id, record, report, metrics)
            decisions[member_id] = (action, self._successor(population, record) if action == "stop" else None)
        return decisions

    def _successor(self, population: str, record) -> tuple[str, dict] | None:
        """Who takes an ended member's slot: the one it got before, when a restarted population replays
        the report that ended it (so no member is handed out twice), else the next proposal."""
        held = self.search.records.get(record.successor)
        if held is not None and held.status == "running":
            return held.member_id, self.resolve(held.config)
        offer = self._offer(population, record.signature)
        record.successor = offer[0] if offer else ""
        self.search.save()
        return offer

    def _progress(self, member_id: str, what: str) -> None:
        """One line a person can follow while populations train (Tune's table shows only the populations)."""
        ended = sum(r.status in ENDED for r in self.search.records.values())
        print(f"member {member_id} {what}; {ended} of {self.search.num_samples} members ended", flush=True)

    def _decide(self, member_id, run_id, record, report, metrics) -> str:
        if metrics.get("status") == "diverged":
            self.search.end(member_id, "diverged")
            self.sweep_run.end_trial(run_id, "diverged", metrics.get("reason", "NaN or inf"))
            self._progress(member_id, "diverged")
            return "stop"
        value = metrics.get(self.search.metric, math.nan)
        final = bool(metrics.get("final"))
        action = self.search.report(member_id, value, final=final, index=report["index"])
        if final:
            with tempfile.TemporaryDirectory() as folder:
                checkpoint.save({**report["state"], "step": int(metrics["member_step"])},
                                Path(folder) / checkpoint.FILE)
                if report.get("lineage") is not None:  # a PBT member's schedule: gan train --schedule replays it
                    disk.replace(Path(folder) / SCHEDULE, json.dumps(
                        {"method": self.method, "member": member_id, **report["lineage"]}, indent=1).encode())
                self.sweep_run.log_checkpoint(run_id, folder)
            self.sweep_run.end_trial(run_id, "completed", "reached its budget")
            self._progress(member_id, f"completed ({self.search.metric} {value:.4g})")
        elif action == "stop" and record.status == "pruned":
            self.sweep_run.end_trial(run_id, "pruned", f"stopped early by ASHA after report {report['index']} "
                                                       f"({self.search.metric}={value:.4g})")
            self._progress(member_id, f"pruned after report {report['index']} ({self.search.metric} {value:.4g})")
        return action

    def fail_unfinished(self, reason: str) -> list[str]:
        """After the populations: members still unfinished (their population failed) end as failed."""
        left = [r.member_id for r in self.search.records.values() if r.status not in ENDED]
        for member_id in left:
            if member_id in self.runs:
                self.sweep_run.end_trial(self.runs[member_id], "failed", reason)
            self.search.end(member_id, "failed")
        return left

    def interrupt(self, reason: str) -> list[str]:
        """After a stop (SIGINT, SIGTERM, the server away too long): unfinished members stay resumable and
        their runs are marked interrupted (KILLED), never left RUNNING; a resumed sweep continues them."""
        left = [m for m, r in self.search.records.items() if r.status not in ENDED and m in self.runs]
        self.sweep_run.interrupt(left, reason, parent=False)  # the driver marks the parent run
        return left

    def overdue(self) -> str | None:
        """Why the sweep should stop: this process's tracking server has been away past the outbox's limit."""
        self.sweep_run.flush()  # a retry, at most every few seconds: the server may be back
        return self.sweep_run.overdue()

    def flush(self) -> None:
        """Write what this process's outbox still holds (the server away at the end), before the ranking."""
        self.sweep_run.flush(wait=True)

    def records(self) -> list[dict[str, Any]]:
        """Every member's record, for the sweep's table."""
        return [dict(vars(r), run_id=self.runs.get(r.member_id, "")) for r in self.search.records.values()]
