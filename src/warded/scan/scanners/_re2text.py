"""Linear-time pattern matching over untrusted text, shared by the PII and secrets scanners.

A text is encoded to UTF-8 once; every pattern runs over those bytes with RE2, which never backtracks, so
no input can stall a scanner. A ``FilteredRE2`` prefilter (the patterns' required literal atoms, matched
by one automaton) names the patterns that can possibly match, so benign text costs about one pass plus
one pass per pattern that has no literal to filter on. Byte offsets are converted back into ``str``
offsets, so spans index the original text exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import re2

#: RE2 memory budget per compiled pattern; large enough that the DFA does not fall back on big inputs.
_MAX_MEM = 64 << 20


def _options(*, case_sensitive: bool = True) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    options.case_sensitive = case_sensitive
    return options


def scannable(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced one-for-one by ``?``.

    The length is unchanged, so every offset into the result is an offset into ``text``.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


#: Byte-to-character checkpoints are kept every this many bytes of non-ASCII text.
_BLOCK = 4096
#: Maps UTF-8 continuation bytes (0x80-0xBF) to 1 and every other byte to 0.
_CONTINUATION = bytes(1 if 0x80 <= b < 0xC0 else 0 for b in range(256))


class Prepared:
    """One text ready for matching: its UTF-8 bytes and a byte-to-character offset map.

    A character offset is the byte offset minus the continuation bytes before it. For non-ASCII text those
    are counted once per ``_BLOCK`` bytes (on the first conversion), so a conversion counts at most one
    block, in C.
    """

    __slots__ = ("_cont", "_cont_before", "ascii", "data", "text")

    def __init__(self, text: str) -> None:
        self.text = scannable(text)
        self.data = self.text.encode("utf-8")
        self.ascii = len(self.data) == len(self.text)
        self._cont = b""
        self._cont_before: list[int] = []

    def _checkpoints(self) -> None:
        self._cont = cont = self.data.translate(_CONTINUATION)
        total = 0
        for start in range(0, len(cont) + 1, _BLOCK):
            self._cont_before.append(total)
            total += cont.count(1, start, start + _BLOCK)

    def char(self, offset: int) -> int:
        """The ``str`` offset of byte ``offset`` (which must fall on a character boundary)."""
        if self.ascii:
            return offset
        if not self._cont_before:
            self._checkpoints()
        block = offset // _BLOCK
        base = block * _BLOCK
        return offset - self._cont_before[block] - self._cont.count(1, base, offset)

    def span(self, match: Any, group: int = 0) -> tuple[int, int]:
        start, end = match.span(group)
        return self.char(start), self.char(end)


class PatternBank:
    """Named RE2 patterns with a shared literal prefilter. Immutable after construction; thread-safe."""

    __slots__ = ("_filter", "_names", "_regexes")

    def __init__(self, patterns: Mapping[str, str]) -> None:
        if not patterns:
            raise ValueError("a pattern bank needs at least one pattern")
        self._names: list[str] = []
        self._regexes: dict[str, Any] = {}
        self._filter = re2.Filter()
        for name, pattern in patterns.items():
            try:
                self._regexes[name] = re2.compile(pattern, _options())
                index = self._filter.Add(pattern, _options())
            except re2.error as exc:
                raise ValueError(f"pattern {name!r} is not a valid RE2 expression: {exc}") from exc
            if index != len(self._names):
                raise ValueError(f"pattern {name!r} could not be added to the prefilter")
            self._names.append(name)
        self._filter.Compile()

    def candidates(self, prepared: Prepared) -> list[str]:
        """Names of the patterns that may match ``prepared`` (a superset of those that do)."""
        found = self._filter.Match(prepared.data, True)
        return [self._names[i] for i in found] if found else []

    def finditer(self, name: str, prepared: Prepared, pos: int = 0, endpos: int | None = None) -> Iterator[Any]:
        """Non-overlapping matches of pattern ``name``; offsets in the match are byte offsets."""
        regex = self._regexes[name]
        result: Iterator[Any] = regex.finditer(prepared.data, pos, endpos)
        return result

    def search(self, name: str, prepared: Prepared, pos: int = 0, endpos: int | None = None) -> Any:
        """The leftmost match of ``name`` at or after byte ``pos``, or ``None``."""
        return self._regexes[name].search(prepared.data, pos, endpos)


def compile_one(pattern: str) -> Any:
    """One RE2 pattern, compiled with the shared options (used for small helper patterns)."""
    return re2.compile(pattern, _options())


def word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def bounded(text: str, start: int, end: int, more: str = "") -> bool:
    """True if ``text[start:end]`` is not glued to a word character on either side, nor to one of ``more``
    that joins it to a further word character: ``123-45-6789.5`` and ``v1.123-45-6789`` are glued, while
    punctuation that ends a sentence or a clause (``... is 123-45-6789.``, ``(123-45-6789).``) is not."""
    if start > 0:
        before = text[start - 1]
        if word_char(before) or (before in more and start > 1 and word_char(text[start - 2])):
            return False
    if end < len(text):
        after = text[end]
        if word_char(after) or (after in more and end + 1 < len(text) and word_char(text[end + 1])):
            return False
    return True
