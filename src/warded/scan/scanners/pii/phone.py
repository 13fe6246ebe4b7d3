"""``pii.phone``: phone numbers that ``phonenumbers`` finds valid.

A leading ``+`` (or ``00``) is parsed region-agnostic; anything else in ``default_region``. A national-format
number needs a phone word just before it (``tel``, ``call``, ``mobile``, ``fax``...) or the region's own digit
grouping (``(415) 555-2671``, not ``2024-01-15 10``); date-shaped runs and mixed ``.``/``-`` separators
(``252.227-7013``, a clause number) are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import phonenumbers

from warded.scan.scanners._re2text import Prepared, bounded, compile_one
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

#: Words that make a bare national-format digit run a phone number (word-bounded, case-insensitive).
_PHONE_WORD = compile_one(
    r"(?i)(?:\b(?:phone|tel|telephone|call|calls|mobile|cell|cellphone|fax|whatsapp|sms|text me|telefon|"
    r"telefono|teléfono|téléphone|móvil|handy|dial|ph|mob)\b|[☎📞📱])"
)

_NON_DIGITS_TO_SPACE = {c: " " for c in range(128) if not 48 <= c <= 57}


def _digit_groups(text: str) -> list[str]:
    """The runs of digits in ``text`` (a phone candidate or a formatted number), in order."""
    return text.translate(_NON_DIGITS_TO_SPACE).split()


@lru_cache(maxsize=512)
def _national_lengths(region: str) -> tuple[frozenset[int], str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset(range(4, 18)), ""
    lengths = frozenset(metadata.general_desc.possible_length or range(4, 18))
    return lengths, metadata.national_prefix or ""


def _possible_national_length(digits: str, region: str) -> bool:
    """Whether ``digits`` (a national-format number, possibly with its trunk prefix) has a length the
    region issues."""
    lengths, prefix = _national_lengths(region)
    if len(digits) in lengths:
        return True
    return bool(prefix) and digits.startswith(prefix) and len(digits) - len(prefix) in lengths


def _looks_like_date(groups: Sequence[str]) -> bool:
    """A leading ``YYYY-MM-DD`` or ``DD/MM/YYYY`` (with any separators), as in a timestamp."""
    if len(groups) < 3:
        return False
    a, b, c = (len(g) for g in groups[:3])
    if a == 4 and b <= 2 and c <= 2:
        return True
    return a <= 2 and b <= 2 and c in (2, 4)


def _grouped_like(groups: Sequence[str], formatted: Sequence[str]) -> bool:
    """True if every boundary between the written digit groups is a boundary of the country's own format
    (counted from the end, so a written trunk or country prefix is allowed)."""

    def cuts(parts: Sequence[str]) -> set[int]:
        out: set[int] = set()
        total = 0
        for part in reversed(parts):
            total += len(part)
            out.add(total)
        return out

    written = cuts(groups)
    written.discard(sum(len(g) for g in groups))
    allowed = cuts(formatted)
    return written <= allowed


def _phone_context(text: str, start: int) -> bool:
    return _PHONE_WORD.search(text[max(0, start - 32) : start]) is not None


def _phone(p: Prepared, m: Any, settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    cand = text[start:end]
    while cand and not cand[-1].isdigit():  # a trailing ')' is not part of the number
        cand = cand[:-1]
        end -= 1
    if not bounded(text, start, end, "@"):
        return None
    if start > 1 and text[start - 1] in ".-/:," and text[start - 2].isdigit():
        return None  # the tail of a larger number, date or version
    if end + 1 < len(text) and text[end] in ".-/:," and text[end + 1].isdigit():
        return None
    count = sum(map(str.isdigit, cand))
    if not 7 <= count <= 15:
        return None
    groups = _digit_groups(cand)
    digits = "".join(groups)
    international = cand.startswith("+")
    to_parse: str = cand
    region: str | None = settings.default_region
    if international:
        region = None
    elif cand.startswith("00") and len(digits) >= 10:
        to_parse, region, international = "+" + cand[2:], None, True
    if not international and _looks_like_date(groups):
        return None
    if "." in cand and "-" in cand:
        return None  # "252.227-7013" is a clause or part number; phones keep one separator
    if len(groups) == 4 and all(len(g) <= 3 for g in groups) and cand.count(".") == 3:
        return None  # an IPv4 address
    if region is not None and not _possible_national_length(digits, region):
        return None  # cheap rejection before the comparatively costly parse
    try:
        number = phonenumbers.parse(to_parse, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if not international and not _phone_context(text, start):
        # In national format, without a phone keyword nearby, the digits must be grouped the way the
        # country writes its numbers: "2024-01-15 10" is a date and an hour, not (202) 401-1510.
        if len(groups) < 2:
            return None
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        if not _grouped_like(groups, _digit_groups(national)):
            return None
    found_region = phonenumbers.region_code_for_number(number) or "unknown"
    return Hit(start, end, 0.8 if international else 0.7, {"region": found_region})


PHONE = Detector(
    id="pii.phone",
    message="phone number",
    score=0.7,
    priority=5,
    patterns=(Pattern("phone", r"(?:\+\s?\(?|\(|\b)\d(?:[ .\-/()\t]{0,3}\d){6,17}", _phone),),
    rescan=True,
)
