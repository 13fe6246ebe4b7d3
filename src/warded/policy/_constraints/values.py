"""The ``values`` family: exact membership in an allow list (and not in a deny list).

Entries are strings or integers and compare by type as well as value, so ``True`` never matches ``1`` and
``1.0`` never matches ``1`` (Python says both are equal). With ``case_sensitive: false`` strings compare by
``str.casefold``; the deny list additionally compares NFKC-normalised, so a full-width or ligature spelling
of a denied value is still denied.
"""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, StrIntTuple, Subject, exact_str


class ValuesSpec(BaseModel):
    """``values: {allow: [...], deny: [...], case_sensitive: true}``."""

    model_config = STRICT

    allow: StrIntTuple | None = None
    deny: StrIntTuple = ()
    case_sensitive: bool = True


def _exact_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__index__(value)
    return None


class ValuesCheck(FamilyCheck):
    __slots__ = ("_allow_ints", "_allow_strs", "_arg", "_deny_ints", "_deny_strs", "_fold", "_show")

    family = "values"

    def __init__(self, spec: ValuesSpec, subject: Subject) -> None:
        if spec.allow is not None and not spec.allow:
            raise ValueError(
                "values.allow is an empty list, which would allow nothing (omit it to allow every value not denied)"
            )
        if spec.allow is None and not spec.deny:
            raise ValueError("values: give an 'allow' list (or at least a 'deny' list); it constrains nothing")
        self._fold = not spec.case_sensitive
        allow = () if spec.allow is None else spec.allow
        self._allow_strs: frozenset[str] | None = (
            None if spec.allow is None else frozenset(self._key(v) for v in allow if isinstance(v, str))
        )
        self._allow_ints: frozenset[int] | None = (
            None if spec.allow is None else frozenset(v for v in allow if isinstance(v, int))
        )
        deny_strs: set[str] = set()
        for v in spec.deny:
            if isinstance(v, str):
                deny_strs.add(self._key(v))
                deny_strs.add(self._deny_key(v))
        self._deny_strs = frozenset(deny_strs)
        self._deny_ints = frozenset(v for v in spec.deny if isinstance(v, int))
        self._arg = subject.arg
        self._show = subject.show

    def _key(self, text: str) -> str:
        return text.casefold() if self._fold else text

    def _deny_key(self, text: str) -> str:
        return unicodedata.normalize("NFKC", text).casefold() if self._fold else text

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is not None:
            key = self._key(text)
            if key in self._deny_strs or (self._fold and self._deny_key(text) in self._deny_strs):
                return f"argument {self._arg!r}: value {self._show(value)} is denied"
            if self._allow_strs is not None and key not in self._allow_strs:
                return f"argument {self._arg!r}: value {self._show(value)} is not one of the allowed values"
            return None
        number = _exact_int(value)
        if number is not None:
            if number in self._deny_ints:
                return f"argument {self._arg!r}: value {self._show(value)} is denied"
            if self._allow_ints is not None and number not in self._allow_ints:
                return f"argument {self._arg!r}: value {self._show(value)} is not one of the allowed values"
            return None
        return f"argument {self._arg!r}: {self._show(value)} is not a string or an integer"
