"""Keep what policy says to hide out of everything warded writes: replace each hidden text by a marker.

The gateway collects the plaintext it must not store (the spans of secret and PII findings, the values of
secret-marked arguments) as ``{text: rule_id}`` and passes every record it writes (audit entries, approval
requests) through :func:`scrub`, which replaces every occurrence of each text, in every string and mapping
key at any depth, with ``[REDACTED:<rule_id>]``. Scrubbing whole records, not one field, is what makes the
rule hold for reason messages, taint explanations and any field added later. Pure: values in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "MIN_VALUE_CHARS", "marker", "scrub", "secret_texts"]

MAX_DEPTH = 64
"""Deeper nesting is replaced whole (nothing warded writes nests deeper; the audit cuts at 32)."""

MIN_VALUE_CHARS = 6
"""A secret argument's value is searched for elsewhere in a record only from this length: shorter ones
(``"1"``, ``"yes"``) would erase unrelated text. It is hashed in its own place whatever its length."""

_MAX_SECRET_LEAVES = 1024


def marker(rule_id: str) -> str:
    """What replaces a hidden text."""
    return f"[REDACTED:{rule_id}]"


def secret_texts(value: object, rule_id: str, out: dict[str, str]) -> None:
    """Add every string inside ``value`` (keys too) of at least :data:`MIN_VALUE_CHARS` to ``out``.

    Past :data:`MAX_DEPTH` or 1,024 strings the walk stops: the value itself is hashed where it sits, so
    only copies of it elsewhere could be missed, and those copies are scanned like any other text."""
    stack: list[tuple[object, int]] = [(value, 0)]
    seen = 0
    while stack and seen < _MAX_SECRET_LEAVES:
        item, depth = stack.pop()
        if isinstance(item, str):
            seen += 1
            if len(item) >= MIN_VALUE_CHARS:
                out.setdefault(item, rule_id)
        elif depth < MAX_DEPTH and isinstance(item, Mapping):
            for key, inner in item.items():
                stack.append((key, depth + 1))
                stack.append((inner, depth + 1))
        elif depth < MAX_DEPTH and isinstance(item, list | tuple):
            stack.extend((inner, depth + 1) for inner in item)


def scrub(value: Any, hidden: Mapping[str, str]) -> Any:
    """A copy of ``value`` with every occurrence of each key of ``hidden`` replaced by its marker.

    Strings and mapping keys are rewritten at any depth (mappings become dicts, tuples stay tuples); other
    values are returned as they are. Longer texts are replaced first, so a text containing another is
    replaced whole. With nothing hidden, ``value`` itself is returned.
    """
    texts = sorted((t for t in hidden if t), key=len, reverse=True)
    if not texts:
        return value
    pairs = [(t, marker(hidden[t])) for t in texts]
    return _scrub(value, pairs, 0)


def _scrub_text(text: str, pairs: list[tuple[str, str]]) -> str:
    for needle, replacement in pairs:
        if needle in text:
            text = text.replace(needle, replacement)
    return text


def _scrub(value: Any, pairs: list[tuple[str, str]], depth: int) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, pairs)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return {"$omitted": "too deep"}
    if isinstance(value, Mapping):
        return {
            (_scrub_text(k, pairs) if isinstance(k, str) else k): _scrub(v, pairs, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v, pairs, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v, pairs, depth + 1) for v in value)
    return value
