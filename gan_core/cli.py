"""The `gan` command: train one run, sample from a champion, list methods."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ERRORS_WITHOUT_TRACEBACK = ("ConfigError", "DataNotFoundError", "InceptionWeightsError", "Diverged",
                            "ModelNotFoundError", "TrackingUnavailableError", "FileNotFoundError")


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    from .config import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from .standalone import train

    from . import presets
    from .config import ConfigError

    if bool(args.method) == bool(args.preset):
        raise ConfigError("give --method M or --preset NAME (gan methods lists both)")
    method, config = args.method, {}
    if args.preset:
        preset = presets.get(args.preset)
        method, config = preset.method, dict(preset.config)
    config.update(_parse_sets(args.set))
    for key in ("epochs", "max_steps", "seed"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
            if key == "epochs":
                config.pop("max_steps", None)
    out = Path(args.out or f"runs/{args.preset or method}-{time.strftime('%Y%m%d-%H%M%S')}")
    metrics = train(method, config, out_dir=out, resume=args.resume, progress=not args.quiet,
                    snapshots=args.snapshots)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}))
    print(f"throughput: {metrics['images_per_s']:.0f} images/s ({metrics['steps_per_s']:.1f} steps/s); "
          f"fid_mnist {metrics['fid_mnist']:.3f}, precision_mnist {metrics['precision_mnist']:.3f}, "
          f"recall_mnist {metrics['recall_mnist']:.3f} on {metrics['eval_samples']} samples")
    print(f"checkpoint and sample grids: {out}/")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .images import save_pngs
    from .data import quantize
    from .model import best_model

    model = best_model(args.method, tracking_uri=args.tracking_uri)
    samples = model.sample(args.n, sampler=args.sampler, seed=args.seed)
    count = save_pngs(quantize(samples), args.out)
    print(f"wrote {count} PNGs to {args.out} from run {model.run_id} (sampler {args.sampler or model.sampler})")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from .config import COMMON
    from .registry import REGISTRY, is_sampler_job

    for name, method in REGISTRY.items():
        own = {k: p.default for k, p in method.params.items()}
        print(f"{name:18s} {method.doc}")
        if is_sampler_job(name):
            print(f"{'':18s} sampler job: --set base=<run id | method | checkpoint.pt>")
        if own:
            print(f"{'':18s} defaults: {own}")
    print(f"\ncommon keys of the GAN methods (--set key=value): {', '.join(COMMON)}")
    from .presets import PRESETS
    print("\npresets (gan train --preset NAME):")
    for name, preset in PRESETS.items():
        print(f"{name:18s} {preset.method}: {preset.doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import METHODS
    from .sampling import JOBS, SAMPLERS

    parser = argparse.ArgumentParser(prog="gan", description="GANs on MNIST with the fixed generator.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one run standalone (no Ray)")
    train.add_argument("--method",
                       help=f"one of {', '.join(METHODS)}; or a sampler job {', '.join(JOBS)} with --set base=RUN")
    train.add_argument("--preset", help="a named configuration (gan methods lists them), e.g. seed-san")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int)
    budget.add_argument("--max-steps", type=int, dest="max_steps")
    train.add_argument("--seed", type=int)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any config key, e.g. --set san_lambda=2 --set batch_size=128")
    train.add_argument("--out", help="run folder (default runs/<method>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--snapshots", action="store_true",
                       help="keep every report's generator under generators/step_<N>.pt")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="write 0.png … (N-1).png from best_model(METHOD)")
    sample.add_argument("method")
    sample.add_argument("--n", type=int, default=10_000)
    sample.add_argument("--out", required=True)
    sample.add_argument("--sampler", default=None, help=f"one of {', '.join(SAMPLERS)} (default: the run's best)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--tracking-uri", default=None)
    sample.set_defaults(func=cmd_sample)

    methods = sub.add_parser("methods", help="list methods and their defaults")
    methods.set_defaults(func=cmd_methods)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:  # expected user errors get one line, not a traceback
        if type(err).__name__ in ERRORS_WITHOUT_TRACEBACK:
            print(f"gan: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
