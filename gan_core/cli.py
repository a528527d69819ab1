"""The `gan` command: train one run, sample from a champion, report on a study, list methods and presets."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

from . import METHODS, PRESETS, SAMPLERS, checkpoint, interrupt, presets
from .config import COMMON
from .cli_args import non_negative_int, parse_sets, positive_int
from .data import MAPPINGS
from .errors import ConfigError, UserError
from .gan_model import best_model, from_checkpoint
from .images import save_pngs
from .loop import Diverged
from .paths import writable_folder
from .registry import names
from .report import write_report
from .sampling.jobs import JOBS
from .population import REFUSED, train_population
from .standalone import train


def train_config(args: argparse.Namespace) -> tuple[str, dict]:
    """(method, config) from --method or --preset, then --set, then the budget flags."""
    if bool(args.method) == bool(args.preset):
        raise ConfigError("give exactly one of --method M or --preset NAME (gan methods lists both)")
    method, config = args.method, {}
    if args.preset:
        preset = presets.get(args.preset)
        method, config = preset.method, dict(preset.config)
    config.update(parse_sets(args.set))
    if args.epochs is not None:
        config.update(epochs=args.epochs, max_steps=0)  # a preset's budget gives way to the flag
    if args.max_steps is not None:
        config["max_steps"] = args.max_steps
    if args.seed is not None:
        config["seed"] = args.seed
    return method, config


def member_list(path: str, shared: dict) -> list[dict]:
    """--members FILE: a YAML list of configs, each over the shared config (--preset, --set, budget flags)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"--members {path}: cannot read it as YAML ({type(err).__name__})") from None
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise ConfigError(f"--members {path} must be a non-empty YAML list of config mappings")
    return [{**shared, **m} for m in raw]


def read_schedule(path: str, method: str) -> dict:
    """--schedule FILE: a PBT champion's root config and schedule (champion_schedule.json)."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--schedule {path}: cannot read it as JSON ({type(err).__name__})") from None
    if not isinstance(saved, dict) or "schedule" not in saved or "config" not in saved:
        raise ConfigError(f"--schedule {path} is not a champion_schedule.json (no config and schedule in it)")
    if saved.get("method") != method:
        raise ConfigError(f"--schedule {path} is a {saved.get('method')!r} schedule, not {method!r}")
    return saved


def saved_step(out: Path, population: bool) -> int | None:
    """The step of the checkpoint a resume would continue from, None when there is none."""
    path = out / "member_000" / checkpoint.FILE if population else out / checkpoint.FILE
    if population and not (out / "population.json").exists():
        return None
    try:
        return int(checkpoint.load(path)["step"])
    except UserError:
        return None


def interrupted(stop: KeyboardInterrupt, out: Path, population: bool) -> int:
    """One line: what was saved and the exact command that resumes; the status a signal's death would give."""
    name = str(stop) if isinstance(stop, interrupt.Interrupted) else "SIGINT"
    step = saved_step(out, population)
    if step is None:
        print(f"gan: interrupted ({name}) before the first report: nothing saved; rerun with: "
              f"{interrupt.resume_command(sys.argv[1:], out=out, resume=False)}", file=sys.stderr)
    else:
        what = "every member's checkpoint" if population else "checkpoint"
        print(f"gan: interrupted ({name}): {what} at step {step} saved in {out}; resume with: "
              f"{interrupt.resume_command(sys.argv[1:], out=out)}", file=sys.stderr)
    return interrupt.exit_status(stop)


def cmd_population(args: argparse.Namespace, method: str, config: dict, out: Path) -> int:
    if args.snapshots:
        raise ConfigError("--snapshots keeps a single run's generators; a population writes each member's folder")
    members = member_list(args.members, config) if args.members else config
    try:
        with interrupt.signals_interrupt():
            finals = train_population(method, members, size=args.population, out_dir=out, resume=args.resume,
                                      progress=not args.quiet, scheduler=args.scheduler,
                                      perturb_interval=args.perturb_interval)
    except KeyboardInterrupt as stop:
        return interrupted(stop, out, population=True)
    for m in finals:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}))
    print(f"{len(finals)} members, {sum(m.get('status') != 'diverged' for m in finals)} finished; "
          f"spread of each metric: {out}/spread.json; member folders: {out}/member_*/")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    method, config = train_config(args)
    out = writable_folder(args.out or f"runs/{args.preset or method}-{time.strftime('%Y%m%d-%H%M%S')}", "--out")
    if args.population is not None or args.members:
        return cmd_population(args, method, config, out)
    if args.scheduler != "none":
        raise ConfigError("--scheduler pbt judges the members of a population: give --population K")
    replay = read_schedule(args.schedule, method) if args.schedule else None
    if replay is not None:
        config = {**replay["config"], **config}
    try:
        with interrupt.signals_interrupt():
            metrics = train(method, config, out_dir=out, resume=args.resume, progress=not args.quiet,
                            snapshots=args.snapshots, schedule_of=replay and replay["schedule"])
    except KeyboardInterrupt as stop:
        return interrupted(stop, out, population=False)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}))
    print(f"throughput: {metrics['images_per_s']:.0f} images/s ({metrics['steps_per_s']:.1f} steps/s); "
          f"fid_mnist {metrics['fid_mnist']:.3f}, precision_mnist {metrics['precision_mnist']:.3f}, "
          f"recall_mnist {metrics['recall_mnist']:.3f} on {metrics['eval_samples']} samples")
    print(f"checkpoint and sample grids: {out}/")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    writable_folder(args.out, "--out")
    is_file = args.method.endswith(".pt") or Path(args.method).is_file()  # else a method: its champion in MLflow
    model = from_checkpoint(args.method) if is_file else best_model(args.method, tracking_uri=args.tracking_uri)
    sampler = args.sampler or model.default_sampler
    origin = f"checkpoint {args.method}" if is_file else f"run {model.run_id}"
    tick = time.perf_counter()  # a sampler can take minutes for 10,000 samples before the first PNG is written
    print(f"drawing {args.n} samples from {origin} with sampler {sampler} ...", flush=True)
    samples = model.sample(args.n, sampler=args.sampler, seed=args.seed)
    print(f"drew them in {time.perf_counter() - tick:.0f} s", flush=True)
    count = save_pngs(MAPPINGS[args.mapping](samples), args.out, progress=True)
    print(f"wrote {count} PNGs to {args.out} from {origin} (sampler {sampler}, {args.mapping} pixel mapping)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    path = write_report(args.target, tracking_uri=args.tracking_uri, out=args.out, log=not args.no_log)
    print(f"study report: {path.resolve()}" + ("" if args.no_log else " (also logged to the sweep's parent run)"))
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    for name, method in names().items():
        own = {k: p.default for k, p in method.params.items()}
        print(f"{name:18s} {method.doc}")
        if "base" in method.schema:
            print(f"{'':18s} sampler job: --set base=<run id | method | checkpoint.pt>")
        if own:
            print(f"{'':18s} defaults: {own}")
    print(f"\ncommon keys of the GAN methods (--set key=value): {', '.join(COMMON)}")
    print("\npopulations (--population K or --members FILE): every GAN method but:")
    for name, why in REFUSED.items():
        print(f"{name:18s} {why}")
    print("\npresets (gan train --preset NAME):")
    for name, preset in PRESETS.items():
        print(f"{name:18s} {preset.method}: {preset.doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gan", description="GANs on MNIST with the fixed generator.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one run standalone (no Ray)")
    train.add_argument("--method",
                       help=f"one of {', '.join(METHODS)}; or a sampler job {', '.join(JOBS)} with --set base=RUN")
    train.add_argument("--preset", help=f"a named configuration: {', '.join(PRESETS)}")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=positive_int)
    budget.add_argument("--max-steps", type=positive_int, dest="max_steps")
    train.add_argument("--seed", type=non_negative_int)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any config key, e.g. --set san_lambda=2 --set batch_size=128")
    train.add_argument("--out", help="run folder (default runs/<method or preset>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--snapshots", action="store_true",
                       help="keep every report's generator under generators/step_<N>.pt")
    train.add_argument("--population", type=positive_int, metavar="K",
                       help="train K members in one process: K seeds of the config, or the --members list")
    train.add_argument("--members", metavar="FILE", help="a YAML list of member configs (one population)")
    train.add_argument("--scheduler", choices=("none", "pbt"), default="none",
                       help="pbt: a population's bottom quarter copies the top on the device and perturbs")
    train.add_argument("--perturb-interval", type=positive_int, default=1, dest="perturb_interval",
                       metavar="REPORTS", help="reports between PBT rounds (default 1)")
    train.add_argument("--schedule", metavar="FILE",
                       help="replay a PBT champion's schedule (its champion_schedule.json) from scratch")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="write 0.png … (N-1).png from best_model(METHOD) or a checkpoint.pt")
    sample.add_argument("method", help="a method (its champion in MLflow), a GAN run's checkpoint.pt, "
                        "or a generator's state dict (gan_core/weights/best_generator.pt)")
    sample.add_argument("--n", type=positive_int, default=10_000)
    sample.add_argument("--out", required=True)
    sample.add_argument("--sampler", choices=SAMPLERS, default=None, help="default: the run's best")
    sample.add_argument("--seed", type=non_negative_int, default=0)
    sample.add_argument("--mapping", choices=tuple(MAPPINGS), default="protocol",
                        help="protocol: [-1, 1] -> [0, 255]; template: the course template's (x < 0 black)")
    sample.add_argument("--tracking-uri", default=None)
    sample.set_defaults(func=cmd_sample)

    report = sub.add_parser("report", help="one study as a self-contained HTML page: leaderboard, learning "
                                           "curves, Pareto fronts, cost, the champion's samples")
    report.add_argument("target", help="a sweep's parent run id, a sweep name, or an experiment (its latest sweep)")
    report.add_argument("--out", help="the HTML file (default runs/<sweep>-report.html)")
    report.add_argument("--tracking-uri", default=None)
    report.add_argument("--no-log", action="store_true", help="do not log the file to the sweep's parent run")
    report.set_defaults(func=cmd_report)

    methods = sub.add_parser("methods", help="list methods, sampler jobs, their defaults and the presets")
    methods.set_defaults(func=cmd_methods)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, Diverged) as err:  # what the user can fix gets one line, not a traceback
        print(f"gan: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
