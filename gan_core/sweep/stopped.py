"""A study stopped before its end (SIGINT, SIGTERM, or its tracking server away past the outbox's limit):
what Tune saved, which runs to mark interrupted, and the one line that says so."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .. import tracking
from ..interrupt import StudyInterrupted
from ..tracking.outbox import OutageTooLong

OUTAGE = 75  # exit status of a study stopped by its tracking server's outage (EX_TEMPFAIL: try again later)


def saved_unfinished(experiment_path: str) -> list[str]:
    """Trial ids that Tune's last saved state holds as unfinished: it saves before stopping them on SIGINT
    (and then marks them TERMINATED in memory, so only the saved state tells a cut-short trial from an ended one)."""
    states = sorted(Path(experiment_path).glob("experiment_state-*.json"))  # local storage; s3:// has none here
    if not states:
        return []
    trials = [json.loads(entry[0]) for entry in json.loads(states[-1].read_text())["trial_data"]]
    return [t["trial_id"] for t in trials if t.get("status") not in ("TERMINATED", "ERROR")]


def check_interrupted(grid, sweep_run: tracking.SweepRun, num_samples: int, outage: str | None = None) -> None:
    """Tune returns normally from SIGINT, its state saved: mark what was cut short, and say so instead of ranking.
    ``outage``: the tracking server was away past the outbox's limit (the marks wait in its journal)."""
    cut = saved_unfinished(grid.experiment_path)
    started = len(grid._experiment_analysis.trials)  # the ResultGrid counts only trials that reported
    if not cut and started >= num_samples and outage is None:
        return
    sweep_run.interrupt(cut, "interrupted; --resume continues it")
    if outage:
        raise StudyInterrupted(f"{outage}; {len(cut)} trials cut short, Tune saved the study in "
                               f"{grid.experiment_path}", status=OUTAGE)
    raise StudyInterrupted(f"{started - len(cut)} of {num_samples} trials ended, {len(cut)} cut short "
                           f"(their runs marked KILLED in MLflow); Tune saved the study in {grid.experiment_path}")


def flush_or_stop(flush: Callable[[], Any], experiment_path: str, *, on_stop: Callable[[], Any] = lambda: None) -> None:
    """Before the ranking, which reads the store: ``flush`` writes every kept write. A tracking server still
    away past the outbox's limit stops the study as Ctrl-C does (exit 75; --resume writes the journal first)."""
    try:
        flush()
    except Exception as err:
        outage = getattr(err, "cause", err)  # a Ray actor's error carries the actor's own as its cause
        if not isinstance(outage, OutageTooLong):
            raise
        on_stop()
        raise StudyInterrupted(f"{outage}; Tune saved the study in {experiment_path}", status=OUTAGE) from None
