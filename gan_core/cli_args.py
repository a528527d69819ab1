"""Argument types of the `gan` command: a bad value is refused in one line, before any compute."""
from __future__ import annotations

import argparse

from .errors import ConfigError


def int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its message
    return parse


positive_int, non_negative_int = int_at_least(1), int_at_least(0)


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """``--set key=value`` pairs -> {key: value} (values still text; the method's schema types them)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out
