"""MLflow tracking: the only package that talks to MLflow.

Layout in the store:
- one experiment per method (named after it);
- one parent run per sweep (tag ``sweep``), each trial a child run (tag ``trial_id``);
- per report: metrics at the loop's step (named by section: metric_names.py), and the sample grid under the image key
  ``samples`` so the UI's step slider pages through training;
- per trial: the final checkpoint, and tags ``status`` (completed, pruned, diverged,
  failed) and ``stop_reason``;
- per method: a registered model ``gan-<method>`` whose alias ``champion`` points
  at the best generator seen so far.

All writes come from the sweep driver (a Tune callback), never from trials, so
2–8 concurrent trials never contend for one SQLite file. Runs are found again by
their tags, so a resumed sweep continues its runs instead of duplicating them.
"""
from ..errors import ModelNotFoundError, TrackingUnavailableError
from ..ranking import RunRecord
from . import metric_names
from .runs import (best_linked_run, load_checkpoint, finished_runs, log_metrics, promote_champion,
                   record_sampler, run_record)
from .store import (CHAMPION, CHECKPOINT_ARTIFACT, GENERATOR_RUN, SAMPLES_KEY, check_reachable, client,
                    default_tracking_uri, normalize_uri, numeric_metrics)
from .study import (Study, artifact_bytes, history, last_image, linked_runs, load_study, log_file,
                    study_cost)
from .sweep_run import SweepRun

__all__ = ["metric_names", "Study", "history", "load_study", "study_cost", "artifact_bytes", "last_image",
           "linked_runs", "log_file",
           "ModelNotFoundError", "TrackingUnavailableError", "RunRecord", "SweepRun", "client",
           "default_tracking_uri", "normalize_uri", "check_reachable", "finished_runs", "run_record",
           "load_checkpoint", "log_metrics", "promote_champion", "record_sampler", "best_linked_run", "numeric_metrics",
           "CHAMPION", "CHECKPOINT_ARTIFACT", "GENERATOR_RUN", "SAMPLES_KEY"]
