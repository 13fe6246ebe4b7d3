"""Canonical JSON: one byte sequence per value, so hashes and signatures are reproducible.

Rules (applied by :func:`canonical_json`):

* objects have their keys sorted by Unicode code point; keys must be ``str`` (no silent ``1 -> "1"``);
* no insignificant whitespace: separators are ``,`` and ``:``;
* strings are emitted as raw UTF-8 (``ensure_ascii=False``); only ``"``, ``\\`` and control characters
  are escaped, exactly as :mod:`json` escapes them; lone surrogates are rejected;
* numbers: ``int`` as decimal digits, ``float`` as Python's shortest round-trip ``repr``
  (so ``1`` and ``1.0`` differ); ``NaN`` and ``±Infinity`` are rejected;
* ``True``/``False``/``None`` become ``true``/``false``/``null``; tuples are encoded as arrays;
* any other type (bytes, sets, datetimes, custom objects, ``Mapping`` that is not a ``dict``) is rejected,
  as is nesting deeper than :data:`MAX_DEPTH` (which also rules out cycles).

Everything rejected raises :class:`~warded.errors.AuditError`. Parsing the output with :func:`json.loads`
and encoding it again yields the same bytes.
"""

from __future__ import annotations

import json
import math

from warded.errors import AuditError

__all__ = ["MAX_DEPTH", "canonical_json", "canonical_str"]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted."""

# check_circular is off because _check bounds the depth, which rules out cycles first.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)
_SCALARS = (str, int, type(None))  # bool is a subclass of int


def canonical_json(obj: object) -> bytes:
    """Encode ``obj`` as canonical JSON (see the module docstring); raise AuditError if it cannot be."""
    _check(obj, 0)
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AuditError("cannot encode as canonical JSON: string contains a lone surrogate") from exc
    except ValueError as exc:  # e.g. an int beyond the interpreter's digit limit
        raise AuditError(f"cannot encode as canonical JSON: {exc}") from exc


def canonical_str(value: str) -> bytes:
    """Canonical JSON of a single string (fast path used when hashing entries)."""
    if not isinstance(value, str):
        raise AuditError(f"expected a string, got {type(value).__name__}")
    try:
        return json.encoder.encode_basestring(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AuditError("cannot encode as canonical JSON: string contains a lone surrogate") from exc


def _check(root: object, depth: int) -> None:
    # Iterative, with exact-type fast paths: this runs on every audit append.
    stack: list[tuple[object, int]] = [(root, depth)]
    pop = stack.pop
    push = stack.append
    while stack:
        obj, level = pop()
        kind = type(obj)
        if kind is str or kind is int or kind is bool or obj is None:
            continue
        if kind is float or isinstance(obj, float):
            if not math.isfinite(obj):  # type: ignore[arg-type]
                raise AuditError(f"cannot encode as canonical JSON: {obj!r} is not a finite number")
            continue
        if isinstance(obj, _SCALARS):
            continue
        if level >= MAX_DEPTH:
            raise AuditError(f"cannot encode as canonical JSON: nested deeper than {MAX_DEPTH} levels")
        if isinstance(obj, dict):
            for key, value in obj.items():
                if type(key) is not str and not isinstance(key, str):
                    raise AuditError(
                        f"cannot encode as canonical JSON: object key {key!r} is {type(key).__name__}, not str"
                    )
                vkind = type(value)
                if vkind is str or vkind is int or vkind is bool or value is None:
                    continue
                push((value, level + 1))
            continue
        if isinstance(obj, list | tuple):
            for item in obj:
                ikind = type(item)
                if ikind is str or ikind is int or ikind is bool or item is None:
                    continue
                push((item, level + 1))
            continue
        raise AuditError(f"cannot encode as canonical JSON: unsupported type {type(obj).__name__}")
