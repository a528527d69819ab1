"""PBT against ASHA + TPE at the same member-epoch budget, both as population sweeps of one method on one device.

    .venv/bin/python bench/pbt_vs_asha.py [--method san] [--population 8] [--epochs 20] [--seeds 1]
                                          [--inception-samples 500] [--tiny]

Both arms run the population-sweep code path without Ray (the coordinator as a plain object, its MLflow
child runs in a temporary SQLite store): Optuna's TPE proposes members, ``population.serve`` trains them K
at a time. ASHA stops losers at its rungs and refills their slots; PBT trains the K first proposals to the
end and, after each epoch's report, copies the best quarter's state into the worst quarter on the device and
perturbs it. ASHA's number of trials is chosen so that its expected member-epochs match PBT's K × epochs;
the member-epochs each arm actually trained are printed. Rows: best fid_mnist (final), the champion's
Inception fid on ``--inception-samples``, wall time; and one exploit's time against one epoch's.
Exit status 1 when an arm could not be measured.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import _common
import torch

from gan_core import methods, search_space, tracking
from gan_core.metrics.evaluate import evaluate_generator
from gan_core.models import Generator
from gan_core.population.pbt import ranges
from gan_core.population.serve import serve
from gan_core.sweep.coordinator import Coordinator

# The member-varying floats of SAN's study space: what one population can hold (shape keys stay at defaults).
FLOATS = ("san_lambda", "lr_g", "lr_d", "beta1")


def asha_trials(members: int, epochs: int, grace: int = 1, reduction: float = 3.0) -> int:
    """Trials whose expected member-epochs under ASHA match members × epochs: a 1/reduction^i share of the
    trials trains from rung i-1 to rung i (rungs grace · reduction^i, then the last epoch)."""
    per_trial, start, i = 0.0, 0, 0
    while start < epochs:
        rung = min(epochs, int(grace * reduction ** i))
        per_trial += (rung - start) / reduction ** i
        start, i = rung, i + 1
    return max(members, round(members * epochs / per_trial))


def run_arm(scheduler: str, args, seed: int, folder: Path) -> dict:
    method = methods.get(args.method)
    space = search_space.load(args.method)
    space.search = {k: v for k, v in space.search.items() if k in FLOATS}
    fixed = {"eval_samples": args.eval_samples, "inception_samples": 0, "device": args.device, "seed": seed,
             **({"max_steps": args.epochs * args.steps_per_epoch, "eval_every_steps": args.steps_per_epoch}
                if args.steps_per_epoch else {"epochs": args.epochs, "eval_every_epochs": 1})}
    uri = f"sqlite:///{folder}/mlflow.db"
    sweep_run = tracking.SweepRun.start(uri, args.method, f"{scheduler}-{seed}", {"scheduler": scheduler})
    trials = asha_trials(args.population, args.epochs) if scheduler == "asha" else args.population
    options = dict(space=space, fixed=fixed, metric="fid_mnist", seed=seed, num_samples=trials, max_t=args.epochs,
                   grace_period=1, reduction_factor=3, early_stopping=scheduler == "asha", points=[],
                   folder=str(folder / "members"), study_name=f"{scheduler}-{seed}", signature_of=lambda c: "one")
    coordinator = Coordinator(options, sweep_run, method)
    finals, member_epochs, exploit_s, epoch_s = {}, 0, [], []

    def judge(reports):
        nonlocal member_epochs
        member_epochs += len(reports)
        for r in reports:
            m = r["metrics"]
            if "pbt_exploit_seconds" in m:
                exploit_s.append(m["pbt_exploit_seconds"])
            if "steps_per_s" in m:
                epoch_s.append(args.steps_per_epoch_or_937 / m["steps_per_s"])
            if m.get("final") and "fid_mnist" in m:
                finals[r["member_id"]] = (m["fid_mnist"], r["state"])
        return coordinator.judge("p0", reports)

    tick = time.perf_counter()
    serve(method, torch.device(args.device), slots=args.population,
          take=lambda signature, count: coordinator.take("p0", signature, count), judge=judge,
          save=lambda state: None, scheduler=scheduler, metric="fid_mnist",
          space=ranges(space.search) if scheduler == "pbt" else None)
    wall = time.perf_counter() - tick
    best_id = min(finals, key=lambda k: finals[k][0])
    best_fid_mnist, state = finals[best_id]
    G = Generator().to(args.device)
    G.load_state_dict(state["generator"])
    inception = evaluate_generator(G.eval(), eval_samples=args.eval_samples,
                                   inception_samples=args.inception_samples)["fid"] if args.inception_samples else None
    return {"best_fid_mnist": best_fid_mnist, "fid": inception, "wall_s": wall, "member_epochs": member_epochs,
            "trials": trials, "exploit_s": statistics.fmean(exploit_s) if exploit_s else None,
            "epoch_s": statistics.median(epoch_s) if epoch_s else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="san")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--inception-samples", type=int, default=500)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="K = 4, 4 'epochs' of 10 steps, 200 samples (CI)")
    args = parser.parse_args(argv)
    args.steps_per_epoch = 0
    if args.tiny:
        args.population, args.epochs, args.steps_per_epoch = 4, 4, 10
        args.eval_samples, args.inception_samples = 200, 8
    args.steps_per_epoch_or_937 = args.steps_per_epoch or 937
    print(f"machine: {_common.machine()}")
    print(f"{args.method}, K = {args.population}, {args.epochs} epochs"
          f"{f' of {args.steps_per_epoch} steps' if args.steps_per_epoch else ''}, {args.seeds} seed(s); "
          f"fid_mnist on {args.eval_samples} samples, Inception fid on {args.inception_samples}", flush=True)
    rows, errors, results = [], [], {"asha": [], "pbt": []}
    for seed in range(args.seeds):
        for scheduler in ("asha", "pbt"):
            try:
                with tempfile.TemporaryDirectory() as folder:
                    r = run_arm(scheduler, args, seed, Path(folder))
            except Exception as err:
                errors.append(f"{scheduler} seed {seed}: {type(err).__name__}: {err}")
                traceback.print_exc(limit=3, file=sys.stderr)
                continue
            results[scheduler].append(r)
            rows.append([scheduler, seed, r["trials"], r["member_epochs"], f"{r['best_fid_mnist']:.3f}",
                         "" if r["fid"] is None else f"{r['fid']:.2f}", f"{r['wall_s']:.1f}"])
            print(f"  {scheduler} seed {seed}: best fid_mnist {r['best_fid_mnist']:.3f}, {r['wall_s']:.1f} s",
                  flush=True)
    print()
    print(_common.table(["scheduler", "seed", "trials", "member-epochs", "best fid_mnist", "Inception fid (champion)",
                         "wall s"], rows))
    pbt = results["pbt"]
    if pbt and pbt[0]["exploit_s"] is not None and pbt[0]["epoch_s"]:
        share = pbt[0]["exploit_s"] / pbt[0]["epoch_s"]
        print(f"one exploit event: {pbt[0]['exploit_s'] * 1e3:.2f} ms against one epoch's {pbt[0]['epoch_s']:.2f} s "
              f"({share:.4%}); target < 1%: {'met' if share < 0.01 else 'NOT met'}")
    if pbt and results["asha"]:
        def spread(arm, key):
            values = [r[key] for r in results[arm] if r[key] is not None]
            return (f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1
                    else f"{values[0]:.2f}" if values else "n/a"), values
        (pbt_text, pbt_fid), (asha_text, asha_fid) = spread("pbt", "fid"), spread("asha", "fid")
        verdict = ("met" if statistics.fmean(pbt_fid) <= statistics.fmean(asha_fid) else "NOT met") \
            if pbt_fid and asha_fid else "not measured"
        print(f"champion Inception fid, PBT {pbt_text} vs ASHA+TPE {asha_text}: "
              f"target PBT at least as good: {verdict}")
    return _common.finish(errors, gpu_rows=False)


if __name__ == "__main__":
    sys.exit(main())
