"""Checks on the shape of an action before any policy looks at it.

Arguments come from a model that may be adversarial: they are walked iteratively (no
recursion to blow up), bounded in size, depth and item count, and must be plain JSON-like
values with valid UTF-8 text and no NUL bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from warded.core.types import Action, Reason
from warded.core.walk import MAX_ITEMS

__all__ = ["MAX_ID_CHARS", "MAX_ITEMS", "bad_text", "check_arguments", "check_identifiers"]

MAX_ID_CHARS = 256


def bad_text(text: str) -> str | None:
    """The rule id a text breaks (``input.invalid_utf8``: a lone surrogate; ``input.nul_byte``), or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "input.invalid_utf8"
    if "\x00" in text:
        return "input.nul_byte"
    return None


def check_identifiers(action: Action) -> Reason | None:
    for name, value in (
        ("agent_id", action.agent_id),
        ("session_id", action.session_id),
        ("tool", action.tool),
    ):
        if not isinstance(value, str) or not value:
            return Reason("input.bad_identifier", f"{name} must be a non-empty string")
        bad = bad_text(value)  # before the printable check: a lone surrogate is not printable either
        if bad is not None:
            return Reason(bad, f"{name} is not valid text")
        if len(value) > MAX_ID_CHARS:
            return Reason("input.bad_identifier", f"{name} is longer than {MAX_ID_CHARS} characters")
        if not value.isprintable():
            return Reason("input.bad_identifier", f"{name} contains control or non-printable characters")
    if not isinstance(action.arguments, Mapping):
        return Reason("input.unsupported_type", "arguments must be a mapping of names to values")
    for label in action.labels:
        if not isinstance(label, str) or len(label) > MAX_ID_CHARS:
            return Reason("input.bad_identifier", "labels must be short, valid strings")
        bad = bad_text(label)
        if bad is not None:
            return Reason(bad, "a label is not valid text")
    return None


def check_arguments(arguments: Mapping[str, Any], max_bytes: int, max_depth: int) -> Reason | None:
    """``None`` if the arguments are acceptable, else the reason they are not."""
    total = 0
    items = 0
    stack: list[tuple[object, int, str]] = [(arguments, 1, "arguments")]
    while stack:
        value, depth, where = stack.pop()
        items += 1
        if items > MAX_ITEMS:
            return Reason("input.too_many_items", f"arguments hold more than {MAX_ITEMS} values")
        if depth > max_depth:
            return Reason("input.too_deep", f"arguments nested deeper than {max_depth} levels (at {where[:80]})")
        if value is None or isinstance(value, bool):
            total += 4
        elif isinstance(value, str):
            try:
                total += len(value.encode("utf-8"))
            except UnicodeEncodeError:
                return Reason("input.invalid_utf8", f"{where[:80]} is not valid UTF-8 text")
            if "\x00" in value:
                return Reason("input.nul_byte", f"{where[:80]} contains a NUL byte")
        elif isinstance(value, int):
            total += 8
        elif isinstance(value, float):
            if not math.isfinite(value):
                return Reason("input.non_finite_number", f"{where[:80]} is NaN or infinite")
            total += 8
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return Reason("input.unsupported_type", f"{where[:80]} has a non-string key")
                bad = bad_text(key)
                if bad is not None:
                    return Reason(bad, f"{where[:80]} has a key that is not valid text")
                total += len(key)
                stack.append((item, depth + 1, f"{where}.{key}"))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                stack.append((item, depth + 1, f"{where}[{i}]"))
        elif isinstance(value, bytes | bytearray):
            try:
                bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return Reason("input.invalid_utf8", f"{where[:80]} holds bytes that are not valid UTF-8")
            return Reason("input.unsupported_type", f"{where[:80]} holds bytes; pass text instead")
        else:
            return Reason("input.unsupported_type", f"{where[:80]} has unsupported type {type(value).__name__}")
        if total > max_bytes:
            return Reason("input.too_large", f"arguments larger than {max_bytes} bytes")
    return None
