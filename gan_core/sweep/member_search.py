"""MemberSearch: in a population sweep every member is one Optuna trial, proposed by the study's TPE sampler
and judged by ASHA on its own, against every member that reached the same rung in any population.

The rule is Ray's own: an ``ASHAScheduler`` fed each member as if it were a trial. Optuna hears each
member's reports and its outcome (complete, pruned with its last value, or failed), so TPE learns
from pruned members too. Both persist in the sweep's storage (Optuna's journal file and a JSON
registry of members), so a killed driver resumes with every member where it was.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from .. import disk
from ..search_space import SearchSpace
from .optuna_search import direction, distributions

ENDED = ("completed", "pruned", "diverged", "failed")


class Member(NamedTuple):
    trial_id: str  # all that ASHAScheduler reads of a trial


@dataclass
class MemberRecord:
    member_id: str
    number: int                     # its Optuna trial number
    config: dict[str, Any]
    signature: str                  # the shape-changing settings it shares with its population
    status: str = "pending"         # pending, running, then one of ENDED
    values: list[float] = field(default_factory=list)  # the metric at each of its reports
    population: str = ""
    successor: str = ""             # the member that took its slot when it ended


class MemberSearch:
    def __init__(self, *, space: SearchSpace, fixed: dict[str, Any], metric: str, seed: int, num_samples: int,
                 max_t: int, grace_period: int, reduction_factor: float, early_stopping: bool,
                 points: list[dict], folder: str | Path, study_name: str,
                 signature_of: Callable[[dict], str], lookahead: int = 8):
        self.space, self.fixed, self.metric, self.num_samples = space, fixed, metric, num_samples
        self.signature_of, self.lookahead = signature_of, lookahead
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = JournalStorage(JournalFileBackend(str(self.folder / "optuna.journal")))
        self.study = optuna.create_study(study_name=study_name, storage=storage, direction=direction(metric),
                                         sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
                                         load_if_exists=True)
        self.asha = ASHAScheduler(time_attr="training_iteration", metric=metric, mode="min", max_t=max_t,
                                  grace_period=grace_period, reduction_factor=reduction_factor) \
            if early_stopping else None
        self.records: dict[str, MemberRecord] = {}
        self.trials: dict[str, optuna.Trial] = {}
        if (self.folder / "members.json").exists():
            self._restore()
        else:
            for point in points:
                self.study.enqueue_trial(point)

    # --- proposing ---------------------------------------------------------------
    def _ask(self) -> MemberRecord | None:
        if len(self.records) >= self.num_samples:
            return None
        trial = self.study.ask(distributions(self.space))
        config = {**self.fixed, **trial.params}
        record = MemberRecord(f"m{trial.number:04d}", trial.number, config, self.signature_of(config))
        self.records[record.member_id], self.trials[record.member_id] = record, trial
        if self.asha is not None:
            self.asha.on_trial_add(None, Member(record.member_id))
        return record

    def take(self, population: str, signature: str | None = None) -> MemberRecord | None:
        """The next member for ``population``: one already proposed with this signature (any, for a
        new group), else up to ``lookahead`` new proposals until one fits; None when none does."""
        pending = [r for r in self.records.values() if r.status == "pending"
                   and (signature is None or r.signature == signature)]
        found = pending[0] if pending else None
        for _ in range(0 if found else self.lookahead):
            record = self._ask()
            if record is None:
                break
            if signature is None or record.signature == signature:
                found = record
                break
        if found is not None:
            found.status, found.population = "running", population
            self.save()
        return found

    # --- judging -----------------------------------------------------------------
    def report(self, member_id: str, value: float, *, final: bool = False, index: int | None = None) -> str:
        """ASHA's decision on a member's report (its n-th is its training_iteration n): continue or stop.
        A stopped member is told to Optuna as pruned with this last value; a ``final`` report completes
        the member. A report already recorded (``index``, after a resume) changes nothing."""
        record = self.records[member_id]
        if index is not None and index <= len(record.values):
            return "stop" if record.status in ENDED else "continue"
        record.values.append(float(value))
        self.trials[member_id].report(float(value), step=len(record.values))
        if final:
            self.end(member_id, "completed")
            return "stop"
        action = TrialScheduler.CONTINUE
        if self.asha is not None:
            action = self.asha.on_trial_result(None, Member(member_id), {
                "training_iteration": len(record.values), self.metric: float(value)})
        if action == TrialScheduler.STOP:
            self.end(member_id, "pruned")
        self.save()
        return "stop" if action == TrialScheduler.STOP else "continue"

    def end(self, member_id: str, status: str) -> None:
        """A member's outcome, told to Optuna once: complete with its last value, pruned, or failed."""
        record = self.records[member_id]
        if record.status in ENDED:
            return
        record.status = status
        if status == "completed":
            self.study.tell(self.trials[member_id], record.values[-1])
            if self.asha is not None:
                self.asha.on_trial_complete(None, Member(member_id), {
                    "training_iteration": len(record.values), self.metric: record.values[-1]})
        else:
            self.study.tell(self.trials[member_id], state=TrialState.PRUNED if status == "pruned" else TrialState.FAIL)
        self.save()

    def release(self, held: set[str]) -> list[str]:
        """After a resume: running members that no population's checkpoint holds start over (pending)."""
        orphans = [r.member_id for r in self.records.values() if r.status == "running" and r.member_id not in held]
        for member_id in orphans:
            self.records[member_id].status = "pending"
        self.save()
        return orphans

    # --- persistence -------------------------------------------------------------
    def save(self) -> None:
        disk.replace(self.folder / "members.json",
                     json.dumps([asdict(r) for r in self.records.values()], indent=1).encode())

    def _restore(self) -> None:
        """Members back from the registry; ASHA's rungs rebuilt by replaying every recorded report in
        order; running members' Optuna trials reopened (they go on from their checkpoints)."""
        saved = [MemberRecord(**r) for r in json.loads((self.folder / "members.json").read_text())]
        by_number = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        for record in saved:
            self.records[record.member_id] = record
            if record.status not in ENDED:
                # reopened by Optuna's own id for it: the study's storage knows the running trial
                self.trials[record.member_id] = optuna.trial.Trial(self.study, by_number[record.number]._trial_id)
            if self.asha is not None:
                self.asha.on_trial_add(None, Member(record.member_id))
                for n, value in enumerate(record.values, 1):
                    self.asha.on_trial_result(None, Member(record.member_id),
                                              {"training_iteration": n, self.metric: value})
