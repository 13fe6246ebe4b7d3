"""Strict encodings shared by approvals, capability tokens and envelopes (internal).

Everything here is pure. Parsers refuse rather than repair: a value that does not round-trip to the
exact bytes it came from is refused, so no two encodings ever mean the same signed thing.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from warded import jsonio
from warded.audit.canonical import canonical_json
from warded.errors import AuditError

__all__ = [
    "HEX_DIGEST",
    "HEX_KEY_ID",
    "HEX_SIGNATURE",
    "ParseError",
    "b64url_decode",
    "b64url_encode",
    "canonical_or_raise",
    "finite_float",
    "strict_json_loads",
]

HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
HEX_KEY_ID = re.compile(r"[0-9a-f]{16}")
HEX_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class ParseError(ValueError):
    """Internal: the input is not in the expected strict form. Callers translate it to their own error."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; refuses padding, foreign characters and non-canonical encodings."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ParseError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:  # unused low bits set: another spelling of the same bytes
        raise ParseError("non-canonical base64url")
    return data


def strict_json_loads(data: bytes | str) -> Any:
    """:func:`warded.jsonio.loads`: no duplicate keys, NaN/Infinity, invalid UTF-8 or lone surrogates."""
    try:
        return jsonio.loads(data)
    except jsonio.JsonRefused as exc:
        if exc.rule in ("json.syntax", "json.encoding", "json.too_deep"):
            raise ParseError(f"not valid JSON: {exc}") from None
        raise ParseError(str(exc)) from None


def canonical_or_raise(obj: object) -> bytes:
    """Canonical JSON of ``obj``; :class:`ParseError` if it cannot be encoded."""
    try:
        return canonical_json(obj)
    except AuditError as exc:
        raise ParseError(str(exc)) from None


def finite_float(value: object, what: str) -> float:
    """``value`` as a float if it is a finite int or float (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{what} must be a number, got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:
        raise ParseError(f"{what} is out of range") from None
    if not math.isfinite(result):
        raise ParseError(f"{what} must be finite")
    return result
