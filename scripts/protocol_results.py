"""Score generators by the protocol: Inception fid, precision, recall, density and coverage on 10,000 samples
against the 10,000 MNIST test images, for docs/RESULTS.md's tables.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/protocol_results.py --mapping both \\
        --run seed-san=runs/seed-san --kinds generator_raw,generator --cache docs/protocol_results.json

``--run LABEL=SOURCE``, one row per kind, sampler and mapping. SOURCE is:
- a run folder (``gan train ... --out FOLDER``): its checkpoint.pt, or with ``--epoch N`` the snapshot of
  epoch N (``generators/``, kept by ``--snapshots``);
- a checkpoint.pt (a run's, a population member's, a Tune trial's) or a bare Generator state dict;
- a method name (its champion in MLflow, ``gan_core.best_model``) or an MLflow run id, with ``--tracking-uri``.
``--kinds``: ``generator`` (the served one: the average when the run kept one) and ``generator_raw`` (the
trained G). ``--sampler drs|latent_rs|...`` samples through a post-hoc sampler instead (a tracked source:
its fitted sampler is found in MLflow). ``--mapping template`` scores the course template's pixel mapping
(``save_image`` on the raw tanh output: x < 0 black), ``both`` scores both on the same samples. Rows are
cached in ``--cache``, so a stopped run goes on where it stopped.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from gan_core import METHODS, checkpoint
from gan_core.data import MAPPINGS
from gan_core.gan_model import GanModel, best_model, from_checkpoint, load_run
from gan_core.metrics.evaluate import evaluate_samples, noise_for_evaluation, score_images
from gan_core.models import frozen_generator


def hardware() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return ""


def resolve(source: str, epoch: int | None, tracking_uri: str | None) -> tuple[str, dict, GanModel | None]:
    """(file or run id, checkpoint state, the tracked model or None) of one --run SOURCE."""
    path = Path(source)
    if path.is_dir():
        if epoch is None:
            path = path / checkpoint.FILE
        else:
            steps = {json.loads(l)["epoch"]: json.loads(l)["step"] for l in (path / "metrics.jsonl").open()}
            path = path / "generators" / f"step_{steps[float(epoch)]:07d}.pt"
    if path.is_file():
        model = from_checkpoint(path) if epoch is None else None
        return str(path), (model.state if model else torch.load(path, map_location="cpu", weights_only=True)), None
    # a method's champion, else a run id
    model = best_model(source, tracking_uri=tracking_uri) if source in METHODS else \
        load_run(source, tracking_uri=tracking_uri)
    return f"mlflow run {model.run_id}", model.state, model


@torch.no_grad()
def samples(state: dict, kind: str, model: GanModel | None, sampler: str, n: int, batch: int = 2000) -> torch.Tensor:
    """n samples in [-1, 1]: the plain generator on the evaluation's fixed noise, or through ``sampler``."""
    if sampler != "plain":
        if model is None:
            raise SystemExit(f"--sampler {sampler} needs a tracked source (a method or an MLflow run id)")
        return model.sample(n, sampler=sampler, seed=0)
    G = frozen_generator(state[kind])
    z = noise_for_evaluation(n)
    return torch.cat([G(z[i:i + batch]) for i in range(0, n, batch)])


def score(x: torch.Tensor, mapping: str, n: int) -> dict:
    pixels = MAPPINGS[mapping](x).view(n, 784)
    if mapping == "protocol":  # the MNIST-feature metrics too, on the same samples
        return evaluate_samples(pixels, eval_samples=n, inception_samples=n)
    return {"inception_samples": n, **score_images(pixels, "inception")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=SOURCE")
    parser.add_argument("--kinds", default="generator_raw,generator")
    parser.add_argument("--sampler", default="plain")
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--mapping", choices=("protocol", "template", "both"), default="protocol")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--cache", type=Path, default=Path("docs/protocol_results.json"))
    args = parser.parse_args()

    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {"rows": []}
    done = {(r["label"], r["kind"], r["epoch"], r["mapping"], r.get("sampler", "plain")) for r in cache["rows"]}
    mappings = ("protocol", "template") if args.mapping == "both" else (args.mapping,)
    for spec in args.run:
        label, source = spec.split("=", 1)
        where, state, model = resolve(source, args.epoch, args.tracking_uri)
        config = state.get("config", {})  # a bare state dict has none: its epoch is unknown
        epoch = args.epoch if args.epoch is not None else \
            round(state["step"] * config["batch_size"] / 60_000) if "step" in state and config else None
        kinds = ["generator"] if args.sampler != "plain" else [k for k in args.kinds.split(",") if k in state]
        for kind in kinds:
            todo = [m for m in mappings if (label, kind, epoch, m, args.sampler) not in done]
            if not todo:
                continue
            tick = time.time()
            x = samples(state, kind, model, args.sampler, args.samples)
            for mapping in todo:
                row = {"label": label, "kind": kind, "epoch": epoch, "mapping": mapping, "sampler": args.sampler,
                       "file": where, "config": config, **score(x, mapping, args.samples),
                       "seconds": time.time() - tick, "hardware": hardware(), "commit": commit()}
                tick = time.time()
                cache["rows"].append(row)
                args.cache.parent.mkdir(parents=True, exist_ok=True)
                args.cache.write_text(json.dumps(cache, indent=1))
                print(f"{label} {kind} {args.sampler} epoch {epoch} ({mapping}): fid {row['fid']:.2f}, precision "
                      f"{row.get('precision', float('nan')):.3f}, recall {row.get('recall', float('nan')):.3f} "
                      f"({row['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
