"""Argument constraints for tool calls: the ``args:`` section of a policy file.

A policy declares, per tool and per argument, an :class:`ArgSpec`. :func:`compile_arg` turns a spec into an
:class:`ArgChecker` once, when the policy loads (every regex, glob, host pattern and SQL dialect is
precompiled then, and unusable specs raise ``ValueError``); ``ArgChecker.check`` then runs on every tool
call and returns the list of :class:`Violation` (empty means the value passes).

``check`` never raises: an error inside a family check becomes a violation ("internal error, denied"),
so a bug can only ever deny. Rule ids are ``arg.<tool>.<arg>.<family>`` with family one of ``type``,
``max_length``, ``path``, ``email``, ``domain``, ``values``, ``number``, ``pattern``, ``sql``.

Shape first: ``type`` and ``max_length`` (characters of a string, items of a list) are checked before
anything else and, if they fail, nothing else runs. Then, when the value is a list (or tuple), the
``path``, ``email``, ``domain``, ``values``, ``number`` and ``pattern`` checks apply to every element
(an empty list passes them); ``sql`` needs one string. Each family's semantics, and the attacks it
refuses, are documented in its module under :mod:`warded.policy._constraints`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from warded.errors import InvalidArgument

from ._constraints._base import STRICT, FamilyCheck, Subject, Violation
from ._constraints.domain import DomainCheck, DomainSpec
from ._constraints.email import EmailCheck, EmailSpec
from ._constraints.number import NumberCheck, NumberSpec
from ._constraints.path import PathCheck, PathSpec
from ._constraints.pattern import PATTERN_MAX_INPUT, PatternCheck
from ._constraints.sql import DANGEROUS_FUNCTIONS, SqlCheck, SqlSpec
from ._constraints.values import ValuesCheck, ValuesSpec

__all__ = [
    "DANGEROUS_FUNCTIONS",
    "PATTERN_MAX_INPUT",
    "ArgChecker",
    "ArgSpec",
    "ArgType",
    "DomainSpec",
    "EmailSpec",
    "NumberSpec",
    "PathSpec",
    "SqlSpec",
    "ValuesSpec",
    "Violation",
    "compile_arg",
]

ArgType = Literal["string", "integer", "number", "boolean", "array", "object", "any"]


class ArgSpec(BaseModel):
    """What one argument of one tool may be. Every constraint given must hold."""

    model_config = STRICT

    type: ArgType = "any"
    required: bool = False
    #: The audit log stores a salted hash instead of the value; messages never echo it.
    secret: bool = False
    #: Strings: most characters; arrays: most items.
    max_length: int | None = Field(default=None, ge=0)
    path: PathSpec | None = None
    email: EmailSpec | None = None
    domain: DomainSpec | None = None
    values: ValuesSpec | None = None
    number: NumberSpec | None = None
    #: RE2 expression the whole string must match.
    pattern: str | None = None
    sql: SqlSpec | None = None


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


_TYPE_TESTS: dict[str, tuple[Callable[[object], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (_is_integer, "an integer"),
    "number": (_is_number, "a finite number"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "array": (lambda v: isinstance(v, list | tuple), "an array"),
    "object": (lambda v: isinstance(v, Mapping), "an object"),
}

_STRINGY = frozenset({"string", "array", "any"})
#: Which declared argument types each family makes sense for (arrays: the family applies per element).
_FAMILY_TYPES: dict[str, frozenset[str]] = {
    "path": _STRINGY,
    "email": _STRINGY,
    "domain": _STRINGY,
    "pattern": _STRINGY,
    "values": _STRINGY | {"integer"},
    "number": frozenset({"integer", "number", "array", "any"}),
    "sql": frozenset({"string", "any"}),
    "max_length": _STRINGY,
}


@dataclass(frozen=True, slots=True)
class ArgChecker:
    """The compiled constraints of one argument. Build with :func:`compile_arg`."""

    tool: str
    arg: str
    required: bool
    secret: bool
    _type: tuple[Callable[[object], bool], str] | None = field(repr=False)
    _max_length: int | None = field(repr=False)
    _families: tuple[tuple[str, FamilyCheck], ...] = field(repr=False)
    _prefix: str = field(repr=False)

    def check(self, value: object) -> list[Violation]:
        """The constraints ``value`` breaks; empty when it passes. Never raises."""
        try:
            shape = self._shape(value)
        except Exception:
            return [Violation(self._prefix + "type", f"argument {self.arg!r}: type check internal error, denied")]
        if shape is not None:
            return [shape]
        violations: list[Violation] = []
        for rule_id, family in self._families:
            try:
                message = self._run(family, value)
            except Exception:
                message = f"argument {self.arg!r}: {family.family} check internal error, denied"
            if message is not None:
                violations.append(Violation(rule_id, message))
        return violations

    def _shape(self, value: object) -> Violation | None:
        if self._type is not None:
            test, wanted = self._type
            if not test(value):
                return Violation(
                    self._prefix + "type",
                    f"argument {self.arg!r}: expected {wanted}, got {type(value).__name__}",
                )
        limit = self._max_length
        if limit is not None and isinstance(value, str | list | tuple) and len(value) > limit:
            unit = "characters" if isinstance(value, str) else "items"
            return Violation(
                self._prefix + "max_length",
                f"argument {self.arg!r}: {len(value)} {unit}, more than max_length {limit}",
            )
        return None

    @staticmethod
    def _run(family: FamilyCheck, value: object) -> str | None:
        if family.per_element and isinstance(value, list | tuple):
            for index, element in enumerate(value):
                message = family.check(element)
                if message is not None:
                    return f"{message} (element {index})"
            return None
        return family.check(value)


def compile_arg(tool: str, arg: str, spec: ArgSpec) -> ArgChecker:
    """Compile ``spec`` for argument ``arg`` of ``tool``.

    Raises :class:`~warded.errors.InvalidArgument` (a ``ValueError``) with a human message for a spec
    that validates but cannot be used: an invalid RE2 pattern or glob, a relative root, an unknown SQL
    dialect, ``min > max``, an empty allow list, a constraint that cannot apply to the declared type...
    """
    try:
        return _compile(tool, arg, spec)
    except ValueError as exc:
        raise InvalidArgument(f"tool {tool!r}, argument {arg!r}: {exc}") from exc


def _compile(tool: str, arg: str, spec: ArgSpec) -> ArgChecker:
    if not tool or not arg:
        raise ValueError("tool and argument names must not be empty")
    subject = Subject(arg, spec.secret)
    families: list[tuple[str, FamilyCheck]] = []
    if spec.path is not None:
        families.append(("path", PathCheck(spec.path, subject)))
    if spec.email is not None:
        families.append(("email", EmailCheck(spec.email, subject)))
    if spec.domain is not None:
        families.append(("domain", DomainCheck(spec.domain, subject)))
    if spec.values is not None:
        families.append(("values", ValuesCheck(spec.values, subject)))
    if spec.number is not None:
        families.append(("number", NumberCheck(spec.number, subject)))
    if spec.pattern is not None:
        limit = PATTERN_MAX_INPUT
        if spec.type == "string" and spec.max_length is not None:
            limit = min(limit, spec.max_length)
        families.append(("pattern", PatternCheck(spec.pattern, limit, subject)))
    if spec.sql is not None:
        families.append(("sql", SqlCheck(spec.sql, subject)))
    used = [name for name, _ in families] + (["max_length"] if spec.max_length is not None else [])
    for name in used:
        if spec.type not in _FAMILY_TYPES[name]:
            raise ValueError(f"the {name} constraint cannot apply to an argument of type {spec.type!r}")
    prefix = f"arg.{tool}.{arg}."
    return ArgChecker(
        tool=tool,
        arg=arg,
        required=spec.required,
        secret=spec.secret,
        _type=_TYPE_TESTS.get(spec.type),
        _max_length=spec.max_length,
        _families=tuple((prefix + name, check) for name, check in families),
        _prefix=prefix,
    )
