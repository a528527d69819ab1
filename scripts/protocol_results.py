"""Score finished runs by the protocol: Inception fid, precision, recall (and density, coverage) on 10,000 samples
against the 10,000 MNIST test images, for docs/RESULTS.md's table at the protocol's budget.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/protocol_results.py \\
        --run seed-san=runs/seed-san --kinds generator_raw,generator --cache docs/protocol_results.json

``--run LABEL=FOLDER`` is a run folder (``gan train ... --out FOLDER``) whose checkpoint.pt is scored; each
``--kinds`` entry is one row: ``generator_raw`` (the trained G: the run without averaging) and
``generator`` (the served one: the average when the run kept one). ``--epoch N`` scores the snapshot of
epoch N (``generators/``) instead of the final checkpoint. ``--mapping template`` also scores the course
template's pixel mapping (``save_image`` on the raw tanh output: [-1, 0] clamped to black), to measure
what that mapping does to a seed's figure. Rows are cached, so a stopped run goes on where it stopped.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from gan_core.metrics.evaluate import evaluate_samples, generate, noise_for_evaluation, score_images
from gan_core.models import frozen_generator


def template_pixels(generator, n: int) -> torch.Tensor:
    """The course template's PNGs: save_image(x) clamps to [0, 1] and rounds x·255, so x < 0 is black."""
    with torch.no_grad():
        x = generator(noise_for_evaluation(n))
    return (x.clamp(0, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).view(n, 784)


def hardware() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER")
    parser.add_argument("--kinds", default="generator_raw,generator")
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--mapping", choices=("protocol", "template", "both"), default="protocol")
    parser.add_argument("--cache", type=Path, default=Path("docs/protocol_results.json"))
    args = parser.parse_args()

    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {"rows": []}
    done = {(r["label"], r["kind"], r["epoch"], r["mapping"]) for r in cache["rows"]}
    for spec in args.run:
        label, folder = spec.split("=", 1)
        folder = Path(folder)
        if args.epoch is None:
            path = folder / "checkpoint.pt"
        else:
            steps = {json.loads(l)["epoch"]: json.loads(l)["step"] for l in (folder / "metrics.jsonl").open()}
            path = folder / "generators" / f"step_{steps[float(args.epoch)]:07d}.pt"
        state = torch.load(path, map_location="cpu", weights_only=True)
        epoch = args.epoch or round(json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])["epoch"])
        for kind in args.kinds.split(","):
            if kind not in state:
                continue
            G = frozen_generator(state[kind])
            for mapping in (("protocol", "template") if args.mapping == "both" else (args.mapping,)):
                if (label, kind, epoch, mapping) in done:
                    continue
                tick = time.time()
                if mapping == "protocol":
                    metrics = evaluate_samples(generate(G, args.samples), eval_samples=args.samples,
                                               inception_samples=args.samples)
                else:
                    metrics = score_images(template_pixels(G, args.samples), "inception")
                row = {"label": label, "kind": kind, "epoch": epoch, "mapping": mapping, "file": str(path),
                       "config": state.get("config", {}), "inception_samples": args.samples, **metrics, "seconds": time.time() - tick,
                       "hardware": hardware()}
                cache["rows"].append(row)
                args.cache.parent.mkdir(parents=True, exist_ok=True)
                args.cache.write_text(json.dumps(cache, indent=1))
                print(f"{label} {kind} epoch {epoch} ({mapping}): fid {row['fid']:.2f}, precision "
                      f"{row.get('precision', float('nan')):.3f}, recall {row.get('recall', float('nan')):.3f} "
                      f"({row['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
