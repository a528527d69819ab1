"""Does the cheap metric rank generators like Inception FID? Build the validation set and its agreement figures.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/metric_validation.py \\
        --runs runs/bg/seed-san runs/bg/seed-vanilla ... --epochs 1,2,3,5,10,20,40,60,100 \\
        --inception-samples 500 --cache docs/metric_validation.json --doc docs/METRIC_VALIDATION.md

Each run folder is a `gan train --snapshots` run: generators/step_<N>.pt holds the served generator (the
average, when the run kept one) and the raw one beside it. Every chosen snapshot gives one generator of
the set per kind (served, raw). Each is scored on the same 10,000 samples with every MNIST feature layer
(fid_mnist and friends), and with Inception fid on the first ``--inception-samples`` of them. Scores are
cached (``--cache``), so a run that stops goes on where it stopped, and new snapshots add to the set.

Agreement: Spearman and Kendall between each layer's fid_mnist and Inception fid, over all generators
and within the best quarter by Inception fid (where champions are picked); and, per run, fid_mnist at
ASHA's first rungs (epochs 1, 2, 4) against the run's final Inception fid (does an early fid_mnist
predict the final FID?).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau, spearmanr

from gan_core.metrics import probe
from gan_core.metrics.evaluate import EVAL_SEED, generate, score_images
from gan_core.metrics.features import inception_extractor, mnist_extractor
from gan_core.metrics.mnist_classifier import FEATURE_LAYER, FEATURE_LAYERS
from gan_core.models import frozen_generator
from protocol_results import hardware  # scripts/ is on the path when a script runs

RUNGS = (1, 2, 4)


def snapshots(run: Path, epochs: list[int]) -> list[tuple[int, Path]]:
    """(epoch, file) of the run's snapshots at the wanted whole epochs, and at its last report."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epoch_of = {line["step"]: line["epoch"] for line in lines}
    last = max(epoch_of.values())
    out = []
    for path in sorted(run.glob("generators/step_*.pt")):
        epoch = epoch_of.get(int(path.stem.split("_")[1]))
        if epoch is not None and epoch == round(epoch) and (round(epoch) in epochs or epoch == last):
            out.append((round(epoch), path))
    return out


def score(path: Path, kind: str, n_inception: int, extractors: dict, inception, signal=None,
          n_signal: int = 0) -> dict[str, float]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    G = frozen_generator(state[kind])
    images = generate(G, 10_000)
    out: dict[str, float] = {}
    for layer, extractor in extractors.items():
        scores = score_images(images, extractor)
        out.update({f"{k}@{layer}": v for k, v in scores.items() if isinstance(v, float)})
    scores = score_images(images[:n_inception], inception)
    out.update({k: v for k, v in scores.items() if isinstance(v, float)})
    if signal is not None and n_signal:
        # the pruning signal on samples of its own (other noise): its agreement is not shared sampling noise
        scores = score_images(generate(G, n_signal, seed=EVAL_SEED + 1), signal)
        out.update({k: v for k, v in scores.items() if isinstance(v, float)})
        out["probe_samples"] = n_signal
    return out


def agreement(rows: list[dict], metric: str) -> dict[str, float]:
    pairs = [(r[metric], r["fid"]) for r in rows if metric in r and "fid" in r]
    out = {"n": len(pairs)}
    if len(pairs) > 2:
        out["spearman"] = float(spearmanr(*zip(*pairs)).statistic)
        out["kendall"] = float(kendalltau(*zip(*pairs)).statistic)
    best = sorted(pairs, key=lambda p: p[1])[:max(3, len(pairs) // 4)]
    if len(best) > 2:
        out["spearman_best_quarter"] = float(spearmanr(*zip(*best)).statistic)
        out["kendall_best_quarter"] = float(kendalltau(*zip(*best)).statistic)
        out["n_best_quarter"] = len(best)
    return out


def early_rungs(runs: list[Path], rows: list[dict], metric: str) -> dict[str, dict]:
    """Per run: ``metric`` of its served generator at epochs 1, 2, 4 against its final Inception fid."""
    out = {}
    for rung in RUNGS:
        pairs = []
        for run in runs:
            mine = [r for r in rows if r["run"] == run.name and r["kind"] == "generator"]
            if not mine:
                continue
            last = max(mine, key=lambda r: r["epoch"])
            early = next((r for r in mine if r["epoch"] == rung), None)
            if early and metric in early and "fid" in last and last["epoch"] > rung:
                pairs.append((early[metric], last["fid"]))
        out[f"epoch {rung}"] = {"n": len(pairs), **({"spearman": float(spearmanr(*zip(*pairs)).statistic),
                                                     "kendall": float(kendalltau(*zip(*pairs)).statistic)}
                                                    if len(pairs) > 2 else {})}
    return out


def markdown(cache: dict, command: str) -> str:
    """The validation table and the agreement figures, for docs/METRIC_VALIDATION.md."""
    rows = sorted(cache["rows"], key=lambda r: (r["run"], r["kind"], r["epoch"]))
    n = rows[0]["inception_samples"] if rows else 0
    layers = list(cache["agreement"])
    lines = ["# Metric validation: does `fid_mnist` rank generators like Inception `fid`?", "",
             "Written by scripts/metric_validation.py; what it shows and what was tried: docs/metrics.md, "
             "\"Agreement on trained generators\".", "",
             f"Made by `{command}` on {cache['machine']}. Inception `fid` on {n} samples for every generator "
             f"(the same first {n} of its 10,000); the MNIST metrics on 10,000.", "",
             "| layer | generators | Spearman | Kendall | best quarter (n) | Spearman there | Kendall there |",
             "|---|---|---|---|---|---|---|"]
    for layer in layers:
        a = cache["agreement"][layer]
        lines.append(f"| {layer}{' (default)' if layer == FEATURE_LAYER else ''} | {a['n']} | "
                     f"{a.get('spearman', math.nan):.3f} | {a.get('kendall', math.nan):.3f} | "
                     f"{a.get('n_best_quarter', 0)} | {a.get('spearman_best_quarter', math.nan):.3f} | "
                     f"{a.get('kendall_best_quarter', math.nan):.3f} |")
    if "signal_agreement" in cache:
        lines += ["", f"The pruning signal `{probe.SIGNAL}` (Inception in bf16 on {probe.SAMPLES} samples of other noise) "
                      "beside `fid_mnist`, on the generators that have both:", "",
                  "| metric | generators | Spearman | Kendall | best quarter (n) | Spearman there | Kendall there |",
                  "|---|---|---|---|---|---|---|"]
        for metric, a in cache["signal_agreement"].items():
            lines.append(f"| `{metric}` | {a['n']} | {a.get('spearman', math.nan):.3f} | {a.get('kendall', math.nan):.3f} | "
                         f"{a.get('n_best_quarter', 0)} | {a.get('spearman_best_quarter', math.nan):.3f} | "
                         f"{a.get('kendall_best_quarter', math.nan):.3f} |")
    for key, what in (("early_rungs", "`fid_mnist`"), ("signal_early_rungs", f"`{probe.SIGNAL}`")):
        if key not in cache:
            continue
        lines += ["", f"Early rungs: each run's served {what} at an early epoch against its last Inception `fid`:", "",
                  "| epoch | runs | Spearman | Kendall |", "|---|---|---|---|"]
        for rung, a in cache[key].items():
            lines.append(f"| {rung} | {a['n']} | {a.get('spearman', math.nan):.3f} | {a.get('kendall', math.nan):.3f} |")
    if "inception_check" in cache:
        c = cache["inception_check"]
        lines += ["", f"Inception against itself in the best quarter ({c['n']} generators): their `fid` on the next "
                      f"{n} samples ranks them like the first {n} with Spearman {c['spearman_fid_vs_fid_b']:.3f} "
                      f"(Kendall {c['kendall_fid_vs_fid_b']:.3f}); `fid_mnist` against the mean of the two: "
                      f"Spearman {c['spearman_fid_mnist_vs_mean']:.3f}"
                      + (f"; `{probe.SIGNAL}` against that mean: Spearman {c['spearman_signal_vs_mean']:.3f}."
                         if c.get("spearman_signal_vs_mean") is not None else ".")]
    lines += ["", "Every generator of the set:", "",
              f"| run | generator | epoch | Inception fid | {probe.SIGNAL} | fid_mnist | precision_mnist | recall_mnist | "
              "density_mnist | coverage_mnist |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        get = lambda k: r.get(f"{k}@{FEATURE_LAYER}", math.nan)
        lines.append(f"| {r['run']} | {'served (average)' if r['kind'] == 'generator' else 'raw'} | {r['epoch']} | "
                     f"{r['fid']:.1f} | {r.get(probe.SIGNAL, math.nan):.1f} | {get('fid_mnist'):.3f} | "
                     f"{get('precision_mnist'):.3f} | "
                     f"{get('recall_mnist'):.3f} | {get('density_mnist'):.3f} | {get('coverage_mnist'):.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--epochs", default="1,2,3,5,10,20,40,60,100")
    parser.add_argument("--kinds", default="generator,generator_raw", help="served and/or raw generators")
    parser.add_argument("--inception-samples", type=int, default=500)
    parser.add_argument("--probe-samples", type=int, default=probe.SAMPLES,
                        help="the pruning signal's samples, drawn from other noise than Inception's (0: skip)")
    parser.add_argument("--cache", type=Path, default=Path("docs/metric_validation.json"))
    parser.add_argument("--doc", type=Path, default=None, help="write the tables as markdown here")
    parser.add_argument("--inception-check", action="store_true",
                        help="score the best quarter's Inception fid again on the next, disjoint samples "
                             "(fid_b): how well Inception itself ranks them at this sample count")
    parser.add_argument("--report-only", action="store_true",
                        help="score nothing new: the figures and --doc from the cached rows")
    args = parser.parse_args()

    epochs = [int(e) for e in args.epochs.split(",")]
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {"rows": []}
    done = {(r["run"], r["epoch"], r["kind"]) for r in cache["rows"]}
    extractors = {} if args.report_only else {layer: mnist_extractor(layer=layer) for layer in FEATURE_LAYERS}
    inception = None if args.report_only else inception_extractor()
    signal = None if args.report_only or not args.probe_samples else probe.extractor()
    for run in [] if args.report_only else args.runs:
        for epoch, path in snapshots(run, epochs):
            state_keys = torch.load(path, map_location="cpu", weights_only=True).keys()
            for kind in args.kinds.split(","):
                if kind not in state_keys or (run.name, epoch, kind) in done:
                    continue
                tick = time.time()
                row = {"run": run.name, "epoch": epoch, "kind": kind, "file": str(path),
                       **score(path, kind, args.inception_samples, extractors, inception, signal,
                               args.probe_samples),
                       "inception_samples": args.inception_samples, "seconds": time.time() - tick}
                cache["rows"].append(row)
                args.cache.write_text(json.dumps(cache, indent=1))
                print(f"{run.name} epoch {epoch} {kind}: fid {row['fid']:.1f}, fid_mnist "
                      f"{row[f'fid_mnist@{FEATURE_LAYER}']:.3f}, {probe.SIGNAL} {row.get(probe.SIGNAL, math.nan):.1f} "
                      f"({row['seconds']:.0f} s)", flush=True)
    rows = cache["rows"]
    if args.inception_check and not args.report_only:
        best = sorted(rows, key=lambda r: r["fid"])[:max(3, len(rows) // 4)]
        for row in best:
            if "fid_b" not in row:
                state = torch.load(row["file"], map_location="cpu", weights_only=True)
                n = row["inception_samples"]
                images = generate(frozen_generator(state[row["kind"]]), 2 * n)[n:]
                row["fid_b"] = score_images(images, inception)["fid"]
                args.cache.write_text(json.dumps(cache, indent=1))
                print(f"{row['run']} epoch {row['epoch']} {row['kind']}: fid {row['fid']:.1f}, again {row['fid_b']:.1f}")
        pairs = [(r["fid"], r["fid_b"]) for r in best if "fid_b" in r]
        mean = [{**r, "fid": (r["fid"] + r["fid_b"]) / 2} for r in best if "fid_b" in r]
        cache["inception_check"] = {
            "n": len(pairs), "spearman_fid_vs_fid_b": float(spearmanr(*zip(*pairs)).statistic),
            "kendall_fid_vs_fid_b": float(kendalltau(*zip(*pairs)).statistic),
            "spearman_fid_mnist_vs_mean": agreement(mean, f"fid_mnist@{FEATURE_LAYER}").get("spearman"),
            "spearman_signal_vs_mean": agreement(mean, probe.SIGNAL).get("spearman")}
    cache["agreement"] = {layer: agreement(rows, f"fid_mnist@{layer}") for layer in FEATURE_LAYERS}
    both = [r for r in rows if probe.SIGNAL in r]  # side by side on the same generators
    cache["signal_agreement"] = {m: agreement(both, m) for m in (probe.SIGNAL, f"fid_mnist@{FEATURE_LAYER}")}
    cache["early_rungs"] = early_rungs(args.runs, rows, f"fid_mnist@{FEATURE_LAYER}")
    cache["signal_early_rungs"] = early_rungs(args.runs, rows, probe.SIGNAL)
    cache["machine"] = f"{hardware()}, torch {torch.__version__}"
    args.cache.write_text(json.dumps(cache, indent=1))
    print(json.dumps({k: cache[k] for k in ("agreement", "signal_agreement", "early_rungs", "signal_early_rungs")},
                     indent=1))
    if args.doc:
        args.doc.write_text(markdown(cache, "scripts/metric_validation.py " + " ".join(
            a for a in sys.argv[1:] if a != "--report-only")))


if __name__ == "__main__":
    main()
