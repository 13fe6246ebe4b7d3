"""Value types every configuration section shares: names and durations, declared once."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

__all__ = ["NAME_PATTERN", "Duration", "Name", "parse_duration"]

# Agent, tool, limit and approver names: printable, no spaces, at most 128 characters.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``250ms``, ``30s``, ``10m``, ``24h``, ``7d`` or a positive number of seconds; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '10m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"bad duration {value!r}: use e.g. '500ms', '30s', '10m', '24h', '7d'")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    else:
        raise ValueError("a duration must be a number of seconds or a string like '10m'")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError("a duration must be positive and finite")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
