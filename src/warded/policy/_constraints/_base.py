"""Shared pieces of the argument-constraint families: the result type, model config and value display."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

#: Every constraint model is strict (no coercion), closed (unknown keys are errors) and immutable.
STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

#: How much of an offending value a message may show.
SHOW_CHARS = 80


@dataclass(frozen=True, slots=True)
class Violation:
    """One argument constraint that a value broke. ``rule_id`` is ``arg.<tool>.<arg>.<family>``."""

    rule_id: str
    message: str


def _list_to_tuple(value: Any) -> Any:
    # YAML and JSON give lists; the models are frozen, so store tuples. Elements stay strictly typed.
    if isinstance(value, list):
        return tuple(value)
    return value


#: An immutable list in a policy file (accepts a YAML list, stores a tuple).
StrTuple = Annotated[tuple[str, ...], BeforeValidator(_list_to_tuple)]
StrIntTuple = Annotated[tuple[str | int, ...], BeforeValidator(_list_to_tuple)]


def describe(value: object) -> str:
    """A short, safe rendering of an untrusted value for a message (never raises, never huge)."""
    try:
        if isinstance(value, str):
            if len(value) > SHOW_CHARS:
                return repr(value[: SHOW_CHARS - 3]) + "..."
            return repr(value)
        if value is None or isinstance(value, bool):
            return repr(value)
        if isinstance(value, int):
            # Python refuses to print ints beyond 4300 digits; keep messages short anyway.
            return repr(int(value)) if value.bit_length() <= 200 else "<very large integer>"
        if isinstance(value, float):
            return repr(float(value)) if math.isfinite(value) else str(float(value))
        if isinstance(value, list | tuple | dict):
            return f"<{type(value).__name__} of {len(value)} item(s)>"
        return f"<{type(value).__name__}>"
    except Exception:  # a hostile object must not break the error path
        return "<value>"


@dataclass(frozen=True, slots=True)
class Subject:
    """The argument a family check speaks about in its messages."""

    arg: str
    secret: bool

    def show(self, value: object) -> str:
        """How a message renders ``value``: secrets are never echoed, not even in part."""
        return "<secret value>" if self.secret else describe(value)


def exact_str(value: object) -> str | None:
    """``value`` as a plain ``str`` (a subclass is copied so that its overrides cannot run), else None."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return None


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates), i.e. can be encoded as UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FamilyCheck:
    """A compiled check of one constraint family over one element of an argument value.

    ``check`` returns ``None`` when the element passes, else the violation message. It may raise on a
    bug; the caller turns any exception into a denial.
    """

    __slots__ = ()

    family: str = ""
    #: Whether the check applies to every element when the value is a list (a recipient list).
    per_element: bool = True

    def check(self, value: object) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError
