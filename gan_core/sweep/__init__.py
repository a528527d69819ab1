"""Sweeps: Ray Tune schedules trials, Optuna proposes them, ASHA stops losers, MLflow records all.

    plan.py           everything checked before Ray starts: options, search space, base run, ASHA's rungs
    driver.py         run_sweep: the Tuner (new or restored) with its searcher, scheduler and callback
    memory_kill.py    Ray killed a trial worker for memory and Tune aborted: one line, exit 75, --resume
    ray_session.py    joining or starting Ray, finding an experiment to resume, per-trial resources
    optuna_search.py  the only module that knows Optuna: distributions, the TPE searcher, the plots
    tune_callback.py  Tune -> MLflow: a child run per trial, metrics, grids, checkpoints, end status
    results.py        the trial table, the ranking, champion promotion or the sampler record
    cli.py            the command line every sweeps/*.py script shares (main, compare)
"""
from .cli import compare, main, parser
from .driver import run_sweep
from .plan import SweepOptions
from .results import SweepResult

__all__ = ["run_sweep", "SweepOptions", "SweepResult", "main", "compare", "parser"]
