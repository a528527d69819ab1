"""Search spaces: one YAML per method, validated against the method's own schema (Optuna builds them in sweep/).

    method: san
    fixed:   {epochs: 20}                       # plain config values
    search:                                     # Optuna distributions
      san_lambda: {type: loguniform, low: 0.1, high: 20}
      batch_size: {type: categorical, choices: [64, 128, 256, 512]}
    smoke:   {max_steps: 60, ...}               # fixed values that --smoke adds
    resources: {cpu: 2, gpu: 0.25}              # optional, per trial: 4 trials share a GPU
    asha: {grace: 2, reduction: 3}              # optional: ASHA's rungs for this space's budget

Every bound and choice must itself be a valid config value, so a space can never
propose a configuration the trainable would refuse.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import registry
from .errors import ConfigError

SPACES_DIR = Path(__file__).resolve().parents[1] / "search_spaces"
KINDS = {"uniform": ("low", "high"), "loguniform": ("low", "high"), "int": ("low", "high"),
         "logint": ("low", "high"), "categorical": ("choices",)}


class SearchSpaceError(ConfigError):
    """A search-space file that cannot be used; the message names the file and key."""


@dataclass
class SearchSpace:
    method: str
    fixed: dict[str, Any] = field(default_factory=dict)
    search: dict[str, dict[str, Any]] = field(default_factory=dict)
    smoke: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)  # per trial: cpu, gpu (Ray's units)
    asha: dict[str, float] = field(default_factory=dict)       # grace (reports), reduction: the space's rungs
    source: str = "<dict>"

    def fixed_config(self, *, smoke: bool = False) -> dict[str, Any]:
        return {**self.fixed, **(self.smoke if smoke else {})}


def _fail(source: str, message: str) -> None:
    raise SearchSpaceError(f"{source}: {message}")


def validate(raw: Any, source: str = "<dict>", method: str | None = None) -> SearchSpace:
    if not isinstance(raw, dict):
        _fail(source, "must be a mapping with keys method, fixed, search, smoke")
    extra = set(raw) - {"method", "fixed", "search", "smoke", "resources", "asha"}
    if extra:
        _fail(source, f"unknown top-level key {sorted(extra)[0]!r}; allowed: method, fixed, search, smoke, "
                      f"resources, asha")
    name = raw.get("method", method)
    if method is not None and name != method:
        _fail(source, f"is for method {name!r}, not {method!r}")
    try:
        schema = registry.get(name).schema
    except ConfigError as err:
        _fail(source, str(err))
    space = SearchSpace(name, source=source)
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"cpu", "gpu"}:
        _fail(source, "resources must be a mapping with keys cpu and/or gpu, e.g. {cpu: 2, gpu: 0.25}")
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (key == "cpu" and value == 0):
            _fail(source, f"resources.{key} must be a number {'> 0' if key == 'cpu' else '>= 0'}, got {value!r}")
        space.resources[key] = float(value)
    asha = raw.get("asha") or {}
    if not isinstance(asha, dict) or set(asha) - {"grace", "reduction"}:
        _fail(source, "asha must be a mapping with keys grace and/or reduction, e.g. {grace: 2, reduction: 3}")
    if "grace" in asha and (isinstance(asha["grace"], bool) or not isinstance(asha["grace"], int) or asha["grace"] < 1):
        _fail(source, f"asha.grace must be an integer >= 1 (reports), got {asha['grace']!r}")
    if "reduction" in asha and (isinstance(asha["reduction"], bool) or not isinstance(asha["reduction"], (int, float))
                                or not asha["reduction"] > 1):
        _fail(source, f"asha.reduction must be a number above 1, got {asha['reduction']!r}")
    space.asha = dict(asha)
    for section in ("fixed", "smoke"):
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            _fail(source, f"{section} must be a mapping of config keys to values")
        for key, value in values.items():
            if key not in schema:
                _fail(source, f"{section}.{key} is not a config key of {name!r}")
            try:
                getattr(space, section)[key] = schema[key].check(key, value)
            except ConfigError as err:
                _fail(source, f"{section}.{err}")
    search = raw.get("search") or {}
    if not isinstance(search, dict):
        _fail(source, "search must be a mapping of config keys to distributions")
    for key, spec in search.items():
        where = f"search.{key}"
        if key not in schema:
            _fail(source, f"{where} is not a config key of {name!r}")
        if key in space.fixed:
            _fail(source, f"{key} is both fixed and searched")
        if not isinstance(spec, dict) or spec.get("type") not in KINDS:
            _fail(source, f"{where} needs type: one of {', '.join(KINDS)}")
        missing = [f for f in KINDS[spec["type"]] if f not in spec]
        unknown = set(spec) - {"type", *KINDS[spec["type"]]}
        if missing or unknown:
            _fail(source, f"{where} ({spec['type']}) takes exactly {', '.join(KINDS[spec['type']])}")
        if spec["type"] == "categorical":
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                _fail(source, f"{where}.choices must be a non-empty list")
            try:
                choices = [schema[key].check(key, c) for c in spec["choices"]]
            except ConfigError as err:
                _fail(source, f"{where}: {err}")
            space.search[key] = {"type": "categorical", "choices": choices}
            continue
        try:
            low, high = (schema[key].check(key, spec[b]) for b in ("low", "high"))
        except ConfigError as err:
            _fail(source, f"{where}: {err}")
        if isinstance(low, bool) or not isinstance(low, (int, float)):
            _fail(source, f"{where}: {spec['type']} needs a numeric config key")
        if spec["type"] in ("int", "logint") and not isinstance(low, int):
            _fail(source, f"{where}: int distributions need an integer key")
        if not low < high:
            _fail(source, f"{where}: low ({low}) must be below high ({high})")
        if spec["type"] in ("loguniform", "logint") and low <= 0:
            _fail(source, f"{where}: a log distribution needs low > 0, got {low}")
        space.search[key] = {"type": spec["type"], "low": low, "high": high}
    return space


def contains(spec: dict[str, Any], value: Any) -> bool:
    """Whether a distribution of a validated space can propose ``value``."""
    if spec["type"] == "categorical":
        return value in spec["choices"]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and spec["low"] <= value <= spec["high"]


def load(method_or_path: str | Path, method: str | None = None) -> SearchSpace:
    """A method name (search_spaces/<method>.yaml) or a path to a YAML file."""
    path = Path(method_or_path)
    if path.suffix not in (".yaml", ".yml"):
        registry.get(str(method_or_path))
        path = SPACES_DIR / f"{method_or_path}.yaml"
    if not path.exists():
        raise SearchSpaceError(f"no search space file at {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SearchSpaceError(f"{path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)  # one line: where and what, not the YAML excerpt
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SearchSpaceError(f"{path}: not valid YAML{where} ({getattr(err, 'problem', None) or type(err).__name__})") from None
    return validate(raw, str(path), method)
