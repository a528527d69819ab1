"""gan_core.train: the shared loop without Ray, writing its reports to a folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import loop
from .images import save_grid

CHECKPOINT = "checkpoint.pt"


def train(method: str, config: dict | None = None, *, out_dir: str | Path | None = None,
          resume: bool = False, progress: bool = False, snapshots: bool = False) -> dict[str, Any]:
    """Train one run and return its final metrics.

    With ``out_dir``, each evaluation writes checkpoint.pt, samples/step_<N>.png and
    a line of metrics.jsonl there; ``resume=True`` continues from that checkpoint.
    ``snapshots=True`` also keeps each report's generator(s) as generators/step_<N>.pt.
    """
    out = Path(out_dir) if out_dir is not None else None
    state = None
    if resume:
        if out is None or not (out / CHECKPOINT).exists():
            raise FileNotFoundError(f"nothing to resume: no {CHECKPOINT} in {out}")
        state = loop.load_checkpoint(out / CHECKPOINT)
        if state["method"] != method:
            raise ValueError(f"{out / CHECKPOINT} is a {state['method']!r} run, not {method!r}")

    def report(metrics: dict, ckpt: dict, samples_u8) -> None:
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        loop.save_checkpoint(ckpt, out / f"{CHECKPOINT}.tmp")
        (out / f"{CHECKPOINT}.tmp").replace(out / CHECKPOINT)  # never leave half a checkpoint
        save_grid(samples_u8, out / "samples" / f"step_{metrics['step']:07d}.png")
        if snapshots:  # the served generator, and the raw one when it is an average
            keep = {k: ckpt[k] for k in ("method", "config", "generator", "generator_raw", "step") if k in ckpt}
            (out / "generators").mkdir(exist_ok=True)
            loop.save_checkpoint(keep, out / "generators" / f"step_{metrics['step']:07d}.pt")
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")

    return loop.run(method, config, report=report, resume=state, progress=progress)
