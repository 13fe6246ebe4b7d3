"""The one strict JSON parser: every JSON text warded reads from a client, a file or a signed token.

:func:`loads` refuses, each with a :class:`JsonRefused` naming the rule:

* ``json.encoding``: bytes that are not UTF-8;
* ``json.syntax``: text that is not JSON;
* ``json.duplicate_key``: a key given twice in one object, at any depth (``{"to": "a", "to": "b"}``:
  parsers disagree on which one wins, so the value warded judges may not be the one a consumer reads);
* ``json.constant``: ``NaN``, ``Infinity``, ``-Infinity`` (Python's extension, not JSON);
* ``json.number_range``: a number that overflows a float and would read as infinity;
* ``json.lone_surrogate``: a ``\\ud800`` escape without its pair, in a key or a string (no UTF-8 text
  carries it);
* ``json.too_deep``: nesting past ``max_depth``, or past what the parser can recurse into;
* ``json.too_large``: more nodes or characters than the text's own size allows (never, in practice);
* ``json.too_many_members``: more than ``max_members`` object members in all, counted while parsing, so
  a huge body is refused before it is built whole.

The decision API passes ``refuse_overflow=False, refuse_lone_surrogates=False``: there ``decide()``
denies such values with its own rule ids (``input.non_finite_number``, ``input.invalid_utf8``).
Callers translate :class:`JsonRefused` into their own error codes and messages.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from warded.core.walk import Bound, Limits, walk
from warded.errors import WardedError

__all__ = ["JsonRefused", "loads"]

# A surrogate escape in the text, or a surrogate character in a str given directly: only then can a
# parsed value hold a lone surrogate, so only then is the value checked for one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_CHAR = re.compile("[\ud800-\udfff]")


class JsonRefused(WardedError):
    """A JSON text was refused. ``rule`` says why (``json.duplicate_key``...); ``subject`` is the key
    given twice or the constant named, where there is one."""

    def __init__(self, rule: str, message: str, subject: str | None = None) -> None:
        self.rule = rule
        self.subject = subject
        super().__init__(message)


class _TooManyMembers(Exception):
    pass


def _constant(name: str) -> Any:
    raise JsonRefused("json.constant", f"{name} is not JSON", name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("json.number_range", f"the number {text[:40]} is out of range")
    return value


def loads(
    data: bytes | str,
    *,
    max_depth: int | None = None,
    max_members: int | None = None,
    refuse_overflow: bool = True,
    refuse_lone_surrogates: bool = True,
) -> Any:
    """Parse one JSON text strictly (see the module docs); raise :class:`JsonRefused` for anything else."""
    members = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal members
        if max_members is not None:
            members += len(items)
            if members > max_members:
                raise _TooManyMembers
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise JsonRefused("json.duplicate_key", f"duplicate key {key[:64]!r}", key)
            out[key] = value
        return out

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JsonRefused("json.encoding", f"not valid UTF-8: {exc}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_constant=_constant,
            parse_float=_finite if refuse_overflow else float,
        )
    except _TooManyMembers:
        raise JsonRefused("json.too_many_members", f"more than {max_members} members") from None
    except RecursionError:
        raise JsonRefused("json.too_deep", "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
        raise JsonRefused("json.syntax", str(exc)) from None
    if refuse_lone_surrogates and (
        _SURROGATE_ESCAPE.search(text) is not None or (isinstance(data, str) and _SURROGATE_CHAR.search(text))
    ):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRefused("json.lone_surrogate", "a string holds a lone surrogate") from None
        except RecursionError:
            raise JsonRefused("json.too_deep", "nested too deeply") from None
    if max_depth is not None:
        # No text has more nodes or characters than characters: only depth can stop this walk.
        walked = walk(value, Limits(max_depth, len(text) + 1, len(text)), keep_texts=False)
        if walked.overflow is not None:
            rule = "json.too_deep" if walked.overflow.bound is Bound.DEPTH else "json.too_large"
            raise JsonRefused(rule, walked.overflow.message)
    return value
