"""Detection of invisible characters: zero-width, bidi controls, Unicode tag characters, variation selectors.

Tag characters (U+E0020-E007E) mirror printable ASCII and render as nothing: "ASCII smuggling" hides whole
instructions in them, so they are decoded into a view. Runs of variation selectors can carry arbitrary bytes
(VS1-16 = 0-15, VS17-256 = 16-255) and are decoded the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from warded.scan._normalise.tables import (
    BIDI_CONTROLS,
    BLACK_FLAG,
    CANCEL_TAG,
    HIDDEN_CLASS,
    JOINERS,
    TAG_FIRST,
    TAG_LAST,
    ZERO_WIDTH,
)
from warded.scan.text import bytes_to_text

_HIDDEN = re.compile(HIDDEN_CLASS)  # one character class: linear (see tables.HIDDEN_CLASS)
# Tag characters U+E0020-E007E mirror ASCII 0x20-0x7E; the others (language tag, cancel tag) spell nothing.
_TAG_TO_ASCII: Final = {
    cp: (chr(cp - TAG_FIRST) if 0xE0020 <= cp <= 0xE007E else None) for cp in range(TAG_FIRST, TAG_LAST + 1)
}
_ONLY_TAGS: Final = dict.fromkeys(range(TAG_FIRST, TAG_LAST + 1))  # str.translate table deleting tag characters
MIN_SELECTOR_RUN = 4  # a single selector after an emoji or ideograph is ordinary; runs of them are not


@dataclass(slots=True)
class Counted:
    """How many characters of one kind were flagged, and where (first start to last end)."""

    count: int = 0
    start: int = -1
    end: int = -1

    def add(self, start: int, end: int) -> None:
        self.count += 1
        if self.start < 0:
            self.start = start
        self.end = end

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


@dataclass(slots=True)
class HiddenReport:
    zero_width: Counted = field(default_factory=Counted)
    bidi: Counted = field(default_factory=Counted)
    tags: Counted = field(default_factory=Counted)
    tag_text: list[str] = field(default_factory=list)
    selectors: Counted = field(default_factory=Counted)
    selector_texts: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.zero_width.count or self.bidi.count or self.tags.count or self.selectors.count)


def _selector_byte(cp: int) -> int | None:
    if 0xFE00 <= cp <= 0xFE0F:
        return cp - 0xFE00
    if 0xE0100 <= cp <= 0xE01EF:
        return cp - 0xE0100 + 16
    return None


def _is_flag_sequence(text: str, start: int, end: int) -> bool:
    """U+1F3F4 followed by tag letters/digits and CANCEL TAG: the England, Scotland and Wales flags."""
    if start == 0 or ord(text[start - 1]) != BLACK_FLAG or ord(text[end - 1]) != CANCEL_TAG:
        return False
    body = text[start : end - 1]
    return 0 < len(body) <= 6 and all(0xE0030 <= ord(c) <= 0xE0039 or 0xE0061 <= ord(c) <= 0xE007A for c in body)


def _tag_segment(text: str, start: int, end: int, report: HiddenReport) -> None:
    """Report ``text[start:end]``, a run of tag characters, unless it is part of a flag emoji."""
    if _is_flag_sequence(text, start, end):
        return
    report.tags.add(start, end)
    report.tags.count += end - start - 1
    decoded = text[start:end].translate(_TAG_TO_ASCII)
    if decoded.strip():
        report.tag_text.append(decoded)


def _tag_runs(run: str, base: int, text: str, report: HiddenReport) -> None:
    i = 0
    n = len(run)
    while i < n:
        if TAG_FIRST <= ord(run[i]) <= TAG_LAST:
            j = i + 1
            while j < n and TAG_FIRST <= ord(run[j]) <= TAG_LAST:
                j += 1
            _tag_segment(text, base + i, base + j, report)
            i = j
        else:
            i += 1


def _selector_runs(run: str, base: int, report: HiddenReport) -> None:
    i = 0
    n = len(run)
    while i < n:
        if _selector_byte(ord(run[i])) is None:
            i += 1
            continue
        j = i
        values = bytearray()
        while j < n:
            value = _selector_byte(ord(run[j]))
            if value is None:
                break
            values.append(value)
            j += 1
        if j - i >= MIN_SELECTOR_RUN:
            report.selectors.add(base + i, base + j)
            report.selectors.count += j - i - 1
            decoded = bytes_to_text(bytes(values))
            if decoded is not None:
                report.selector_texts.append(decoded)
        i = j


def scan_hidden(text: str) -> HiddenReport:
    """Find hidden characters in ``text``. Offsets are in ``text``."""
    report = HiddenReport()
    if text.isascii():
        return report
    n = len(text)
    for match in _HIDDEN.finditer(text):
        start, end = match.span()
        run = match.group()
        if not run.translate(_ONLY_TAGS):  # a run of tag characters only: no need to look at each one
            _tag_segment(text, start, end, report)
            continue
        has_tag = has_selector = False
        for k, ch in enumerate(run):
            pos = start + k
            cp = ord(ch)
            if ch in ZERO_WIDTH:
                if ch in JOINERS:
                    before = text[pos - 1] if pos > 0 else " "
                    after = text[end] if end < n else " "
                    if not (before.isascii() or after.isascii()):
                        continue  # emoji ZWJ sequences, Persian/Indic ZWNJ
                elif cp == 0xFEFF and pos == 0:
                    continue  # a byte-order mark at the very start
                report.zero_width.add(pos, pos + 1)
            elif ch in BIDI_CONTROLS:
                report.bidi.add(pos, pos + 1)
            elif TAG_FIRST <= cp <= TAG_LAST:
                has_tag = True
            elif _selector_byte(cp) is not None:
                has_selector = True
        if has_tag:
            _tag_runs(run, start, text, report)
        if has_selector:
            _selector_runs(run, start, report)
    return report
