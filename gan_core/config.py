"""Config schema: every parameter a run accepts, its default and its valid range.

The loop's common parameters live here; each method adds its own and may change
defaults. ``resolve`` turns a user dict into a complete, validated config, so bad
input fails in one clear line before any compute is spent.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError
from .losses import LOSSES


@dataclass(frozen=True)
class Param:
    default: Any
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    low_open: bool = False  # True: value must be strictly greater than low
    help: str = ""

    def check(self, key: str, value: Any) -> Any:
        if self.kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                value = value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {value!r}")
            return value
        if self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    pass
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key} must be an integer, got {value!r}")
        elif self.kind is float:
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    pass
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{key} must be a number, got {value!r}")
            value = float(value)
        elif self.kind is str and not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{key} must be one of {list(self.choices)}, got {value!r}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            op = ">" if self.low_open else ">="
            raise ConfigError(f"{key} must be {op} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{key} must be <= {self.high}, got {value!r}")
        return value


def lr(default: float) -> Param:
    return Param(default, float, low=0.0, high=10.0, low_open=True, help="learning rate")


COMMON: dict[str, Param] = {
    "seed": Param(0, int, low=0, help="seeds weights, noise, batches and evaluation"),
    "device": Param("auto", str, choices=("auto", "cpu", "cuda"), help="auto picks cuda when available"),
    "epochs": Param(100, int, low=1, high=10_000, help="passes over the 60k training images"),
    "max_steps": Param(0, int, low=0, help="stop after this many generator steps (0: epochs decide)"),
    "batch_size": Param(64, int, low=1, high=60_000),
    "loss": Param("non_saturating", str, choices=tuple(LOSSES), help="the D/G loss pair (methods set their own)"),
    "optimizer": Param("adam", str, choices=("adam", "rmsprop", "sgd")),
    "lr_g": lr(2e-4),
    "lr_d": lr(2e-4),
    "beta1": Param(0.9, float, low=0.0, high=0.999),
    "beta2": Param(0.999, float, low=0.0, high=0.9999),
    "n_critic": Param(1, int, low=1, high=100, help="discriminator steps per generator step"),
    "d_dropout": Param(0.0, float, low=0.0, high=0.9),
    "d_spectral_norm": Param(False, bool),
    # The discriminator's levers (G is fixed): its body, anti-collapse features, and what it sees.
    "d_arch": Param("mlp", str, choices=("mlp", "conv"),
                    help="D's body: the baseline MLP, or two strided 4x4 convolutions"),
    "d_width": Param(64, int, low=4, high=512, help="the conv D's channels (2x in its second layer)"),
    "d_mbstd": Param(False, bool, help="a minibatch-std feature before D's head (Karras et al. 2018)"),
    "d_pack": Param(1, int, low=1, high=8, help="PacGAN: D judges this many samples at once (divides batch_size)"),
    "augment": Param("none", str, help="DiffAugment policy on what D sees: none, or a comma list of "
                                       "color, translation, cutout"),
    "augment_p": Param(1.0, float, low=0.0, high=1.0, help="probability that an image D sees is augmented"),
    "lr_decay": Param("none", str, choices=("none", "linear"),
                      help="learning-rate schedule: constant, or linear to 0 at the last step"),
    "gp_lambda": Param(0.0, float, low=0.0, high=1000.0, help="WGAN-GP penalty weight (0: off)"),
    "r1_gamma": Param(0.0, float, low=0.0, high=1000.0, help="R1 penalty weight γ (0: off)"),
    "g_ema": Param(0.0, float, low=0.0, high=0.99999,
                   help="decay of the generator's weight average (0: off); reports and exports use the average"),
    "eval_every_epochs": Param(1, int, low=1, help="evaluation cadence in epochs"),
    "eval_every_steps": Param(0, int, low=0, help="evaluation cadence in steps (overrides epochs when > 0)"),
    "eval_samples": Param(10_000, int, low=10, high=100_000, help="samples for fid_mnist/precision/recall"),
    "inception_samples": Param(-1, int, low=-1, high=100_000,
                               help="samples for Inception fid at the end of a run "
                                    "(0: skip; -1: 10,000 on GPU, 500 on CPU)"),
    "inception_every_report": Param(False, bool, help="Inception fid at every report (GPU sweeps)"),
    # The pruning signal (gan_core.metrics.probe): Inception in bf16 on a few samples where ASHA decides.
    "probe_samples": Param(0, int, low=0, high=10_000,
                           help="samples for the pruning signal fid_inception_bf16 (0: off; sweeps that prune on "
                                "it set 250)"),
    "probe_grace": Param(1, int, low=1, help="ASHA's grace in reports: the signal is computed at its rungs"),
    "probe_reduction": Param(3.0, float, low=1.0, high=100.0, low_open=True,
                             help="ASHA's reduction factor: rungs at grace·reduction^k reports"),
    "probe_every": Param(0, int, low=0, help="the signal every this many reports instead (PBT's rounds; 0: rungs)"),
    "fast": Param(True, bool, help="fused/foreach optimizers and other speedups with identical maths"),
    "compile": Param(False, bool, help="torch.compile the models (wins on GPU, costs start-up)"),
    "compile_mode": Param("default", str, choices=("default", "reduce-overhead", "max-autotune"),
                          help="torch.compile's mode; reduce-overhead replays CUDA graphs"),
}


def resolve(schema: Mapping[str, Param], user: Mapping[str, Any] | None, *, method: str) -> dict:
    """Defaults overlaid with ``user``, every value checked against ``schema``."""
    user = dict(user or {})
    unknown = [k for k in user if k not in schema]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(schema), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown config key {key!r} for method {method!r}{hint}; "
                          f"valid keys: {', '.join(sorted(schema))}")
    config = {k: p.default for k, p in schema.items()}
    for key, value in user.items():
        config[key] = schema[key].check(key, value)
    return config
