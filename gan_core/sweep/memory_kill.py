"""Ray's memory monitor killed a trial's worker and Tune aborted the whole study: say so in one line, mark the
runs it left RUNNING interrupted, and stop with the status that says "try again later".

Tune 2.60 has no setting that turns this into a failed or retried trial: when the killed worker's task returns
``ray.exceptions.OutOfMemoryError`` (not a ``RayActorError``), the actor manager raises ``RuntimeError`` from its
event loop before ``FailureConfig(max_failures)`` is consulted. (A kill that surfaces as ``RayActorError`` is an
ordinary trial error, retried by ``max_failures``.) Tune's periodic save (``TUNE_GLOBAL_CHECKPOINT_S``) holds
the study, so ``--resume`` continues it."""
from __future__ import annotations

import contextlib
import re

import ray
from ray.exceptions import OutOfMemoryError

from .. import tracking
from ..interrupt import StudyInterrupted
from .stopped import OUTAGE, saved_unfinished

MEMORY_KILL = OUTAGE  # 75, EX_TEMPFAIL: nothing is wrong with the study; resume once the node has memory again
RAY_SAYS = "killed due to the node running low on memory"
_USAGE = re.compile(r"was ([\d.]+)GB used / ([\d.]+)GB limit \(([\d.]+)\)")


def memory_kill(err: BaseException | None) -> str | None:
    """What happened, if ``err`` or anything that caused it is Ray's memory monitor killing a worker."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OutOfMemoryError) or RAY_SAYS in str(err):
            usage = _USAGE.search(str(err))
            return "Ray's memory monitor killed a trial's worker" + (
                f" (node memory {float(usage[3]):.0%} used: {usage[1]} of {usage[2]} GB)" if usage else "")
        err = err.__cause__ or err.__context__
    return None


@contextlib.contextmanager
def stops_study(sweep_run: tracking.SweepRun, experiment_path: str):
    """Within (around ``Tuner.fit``): Tune aborting on a memory kill becomes ``StudyInterrupted`` with status 75,
    the runs cut short marked interrupted as on SIGINT; any other error passes unchanged."""
    try:
        yield
    except Exception as err:
        what = memory_kill(err)
        if what is None:
            raise
        ray.shutdown()  # the rest talks to MLflow only
        cut = saved_unfinished(experiment_path)
        sweep_run.interrupt(cut, "interrupted; --resume continues it")
        raise StudyInterrupted(f"{what} and Tune stopped the study; {len(cut)} trials cut short (their runs "
                               f"marked KILLED in MLflow); Tune saved the study in {experiment_path}",
                               status=MEMORY_KILL) from None
