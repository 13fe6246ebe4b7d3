"""The ``pattern`` family: the whole string must match an RE2 regular expression.

RE2 runs in linear time, so no argument can stall the gateway (no catastrophic backtracking); patterns
that need backtracking features (backreferences, lookaround) are refused when the policy loads. The match
is a full match: ``[a-z]+`` does not accept ``abc; rm -rf /``. Strings longer than ``max_length`` (default
65,536 characters per element) are refused before matching.
"""

from __future__ import annotations

import re2

from ._base import FamilyCheck, Subject, encodable, exact_str

#: Longest string a pattern is ever matched against, when the argument sets no smaller max_length.
PATTERN_MAX_INPUT = 65536


class PatternCheck(FamilyCheck):
    __slots__ = ("_arg", "_limit", "_regex", "_show")

    family = "pattern"

    def __init__(self, pattern: str, limit: int, subject: Subject) -> None:
        if not pattern:
            raise ValueError("pattern is empty: it would only accept the empty string")
        options = re2.Options()
        options.log_errors = False
        try:
            self._regex = re2.compile(pattern, options)
        except re2.error as exc:
            detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValueError(f"pattern {pattern!r} is not a valid RE2 expression: {detail}") from exc
        self._limit = limit
        self._arg = subject.arg
        self._show = subject.show

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is None:
            return f"argument {self._arg!r}: {self._show(value)} is not a string"
        if len(text) > self._limit:
            return f"argument {self._arg!r}: value is longer than {self._limit} characters; not matched"
        if not encodable(text):
            return f"argument {self._arg!r}: {self._show(value)} is not valid Unicode text (lone surrogate)"
        if self._regex.fullmatch(text) is None:
            return f"argument {self._arg!r}: {self._show(value)} does not match the required pattern"
        return None
