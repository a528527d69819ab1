"""gan_core.train: one run without Ray, its reports written to a folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import checkpoint, loop, registry, run_folder
from .errors import CheckpointError
from .gan_model import load_base
from .gan_trainer import schedule
from .population.pbt import Replay


def resume_state(out: Path | None, name: str, config: dict) -> dict[str, Any]:
    """The checkpoint to continue from ``out``, refused when it is another method's or config's."""
    if out is None or not (out / checkpoint.FILE).exists():
        raise CheckpointError(f"nothing to resume: no {checkpoint.FILE} in {out}")
    state = checkpoint.load(out / checkpoint.FILE, method=name)
    checkpoint.check_resume(str(out / checkpoint.FILE), state["config"], config, int(state["step"]),
                            schedule(config)[0])
    return state


def train(method: str, config: dict | None = None, *, out_dir: str | Path | None = None,
          resume: bool = False, progress: bool = False, snapshots: bool = False,
          base: dict[str, Any] | None = None, on_report: loop.Report | None = None,
          schedule_of: list | None = None) -> dict[str, Any]:
    """Train one run of ``method`` (or a sampler job) and return its final metrics.

    With ``out_dir``, each evaluation writes samples/step_<N>.png, a line of metrics.jsonl and then
    checkpoint.pt there (``run_folder``); ``resume=True`` continues from that checkpoint. ``snapshots=True``
    also keeps each report's generator(s) as generators/step_<N>.pt. A sampler job loads its
    ``base`` run from config (run id, method champion or checkpoint) unless ``base`` is given.
    ``on_report(metrics, state, samples_u8)`` sees every report too (benchmarks, notebooks).
    ``schedule_of`` [(step, {key: value}), ...] changes hyperparameters at those steps: a PBT member's
    schedule replayed from scratch (``gan train --schedule``).
    """
    job, config = registry.resolve(method, config)
    out = Path(out_dir) if out_dir is not None else None
    state = resume_state(out, method, config) if resume else None
    if state is not None:
        run_folder.rewind(out, int(state["step"]))
    if base is None and config.get("base"):
        base = load_base(config["base"])[1]
    trainer = registry.build_trainer(job, config, base)
    if schedule_of:
        trainer = Replay(trainer, schedule_of)

    def report(metrics: dict, ckpt: dict, samples_u8) -> None:
        if on_report is not None:
            on_report(metrics, ckpt, samples_u8)
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        run_folder.write_report(out, metrics, samples_u8)
        if snapshots:  # the served generator, and the raw one when it is an average
            keep = {k: ckpt[k] for k in ("method", "config", "generator", "generator_raw", "step") if k in ckpt}
            checkpoint.save(keep, out / "generators" / f"step_{metrics['step']:07d}.pt")
        checkpoint.save(ckpt, out / checkpoint.FILE)  # last: it commits the report

    return loop.drive(trainer, report=report, resume=state, progress=progress)
