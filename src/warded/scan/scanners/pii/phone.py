"""``pii.phone``: phone numbers that ``phonenumbers`` parses.

A leading ``+`` (or ``00``) is parsed region-agnostic; anything else in each of the policy's ``regions`` in
turn (default :data:`DEFAULT_REGIONS`), the first region that accepts it winning. A number labelled as a
phone (a phone word just before it, or ``office``/``fax``/``mobile``... just after) needs only a length its
region issues; any other must be valid. A national-format number without such a label must be grouped the
way its region writes numbers (``(415) 555-2671``, ``07700 900 123``, not ``2024-01-15 10``); date-shaped
runs, SSN-shaped runs and mixed ``.``/``-`` separators (``252.227-7013``, a clause number) are skipped.

Bounded work: a candidate is parsed at most once per region whose national number lengths admit its digit
count, and at most :data:`MAX_REGIONS` regions may be configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import phonenumbers

from warded.scan.scanners._re2text import Prepared, bounded, compile_one
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

#: Regions a national-format number is tried in when the policy names none: the largest English-speaking
#: markets and the EU's largest, so a UK ``07700 900 123`` or an Australian ``0412 345 678`` is found.
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "CA", "AU", "IE", "IN", "DE", "FR", "ES", "IT", "NL")
#: At most this many regions: each costs one parse per candidate whose length it admits.
MAX_REGIONS = 24

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


@lru_cache(maxsize=512)
def _national_pattern(region: str) -> Any:
    """The region's general national-number pattern (every valid number's significant digits match it)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    pattern = metadata.general_desc.national_number_pattern if metadata and metadata.general_desc else None
    return re.compile(pattern) if pattern else None


def _could_be_valid(digits: str, region: str) -> bool:
    """False when ``digits`` (national format, trunk prefix or not) cannot be a valid number of ``region``:
    neither it nor it without the trunk prefix matches the region's general pattern. A cheap filter on at
    most 17 digits that spares the parse for most regions; a superset of what ``is_valid_number`` accepts."""
    pattern = _national_pattern(region)
    if pattern is None:
        return True
    prefix = _national_lengths(region)[1]
    if pattern.fullmatch(digits):
        return True
    return bool(prefix) and digits.startswith(prefix) and pattern.fullmatch(digits[len(prefix) :]) is not None


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
    if a == 4 and b <= 2 and c <= 2 and 1900 <= int(groups[0]) <= 2099:
        return True
    if a <= 2 and b <= 2 and c == 4 and 1900 <= int(groups[2]) <= 2099:
        return True
    # "15 01 24" or "15-01-24 10"; five pairs ("06 12 34 56 78") is how France writes a phone
    return a <= 2 and b <= 2 and c == 2 and len(groups) <= 4


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


def _same_lead(groups: Sequence[str], national: str) -> bool:
    """The written number starts with the region's own leading group (area code or mobile prefix, at least
    three digits) and splits the rest into groups of two or more: ``07700 063 966`` for ``07700 063966``."""
    lead = _digit_groups(national)[0]
    return len(groups) >= 2 and len(lead) >= 3 and groups[0] == lead and all(len(g) >= 2 for g in groups[1:])


def _continues_digit_run(text: str, start: int) -> bool:
    """True if the candidate (starting with a digit) follows a bare digit group across one space: a national
    number found inside a longer run of digit groups (an id, an IBAN) after the run as a whole was rejected.
    A group that ends a date or a version (``2024-01-15 415-555-2671``) is not such a run."""
    if start < 2 or text[start - 1] != " " or not text[start - 2].isdigit() or not text[start].isdigit():
        return False
    i = start - 2
    while i > 0 and text[i - 1].isdigit() and start - i < 12:
        i -= 1
    return i == 0 or text[i - 1].isspace() or text[i - 1].isalpha()


#: Words that label a number when they follow it (``416 60 039 office``, ``+1 984 182 0190 mobile``).
_PHONE_WORD_AFTER = compile_one(r"(?i)^[\s:,()\-]{0,3}(?:phone|tel|mobile|cell|fax|office|home|work|desk)\b")


def _phone_context(text: str, start: int, end: int) -> bool:
    if _PHONE_WORD.search(text[max(0, start - 32) : start]) is not None:
        return True
    return _PHONE_WORD_AFTER.search(text[end : end + 16]) is not None


@lru_cache(maxsize=4096)
def _parse(to_parse: str, region: str | None) -> tuple[bool, bool, str, str] | None:
    """``phonenumbers``' reading of one candidate in one region: (valid, possible, national format, region
    of the number), or ``None`` if it does not parse. Cached: a number repeated in a thread or a signature
    is parsed once per process."""
    try:
        number = phonenumbers.parse(to_parse, region)
    except phonenumbers.NumberParseException:
        return None
    valid = phonenumbers.is_valid_number(number)
    possible = valid or phonenumbers.is_possible_number(number)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return valid, possible, national, phonenumbers.region_code_for_number(number) or "unknown"


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
    context = _phone_context(text, start, end)
    attempts: list[tuple[str, str | None]]
    if international:
        attempts = [(cand, None)]
    elif cand.startswith("00") and len(digits) >= 10:
        attempts, international = [("+" + cand[2:], None)], True
    else:
        if _looks_like_date(groups):
            return None
        if [len(g) for g in groups] == [3, 2, 4] and cand.count("-") == 2:
            return None  # the shape of a US SSN (valid or not), never how a country writes its phones
        if _continues_digit_run(text, start):
            return None  # "843 2231 9987", "DE00 3704 0044 0532": the tail of a longer number
        if not context and len(groups) < 2:
            return None  # an unlabelled national number must show its region's grouping (see below)
        # cheap rejections before the comparatively costly parse: a length the region issues and, unless the
        # number is labelled as a phone (then a possible number is enough), its general number pattern
        attempts = [
            (cand, r)
            for r in settings.regions
            if _possible_national_length(digits, r) and (context or _could_be_valid(digits, r))
        ]
    if "." in cand and "-" in cand:
        return None  # "252.227-7013" is a clause or part number; phones keep one separator
    if len(groups) == 4 and all(len(g) <= 3 for g in groups) and cand.count(".") == 3:
        return None  # an IPv4 address
    for to_parse, region in attempts:
        parsed = _parse(to_parse, region)
        if parsed is None:
            continue
        valid, possible, national, found_region = parsed
        # labelled as a phone ("Phone: ...", "... fax"), a number of a length the region issues is reported
        # even if its prefix is not (or not yet) allocated: that is still someone's number
        if not valid and not (context and possible):
            continue
        if not international:
            national_digits = "".join(_digit_groups(national))
            prefix = _national_lengths(region or "")[1]
            if prefix and national_digits.startswith(prefix) and not digits.startswith(prefix):
                continue  # a German "02231 9987" is written with its trunk 0; "2231 9987" is not that number
            if not context:
                # In national format, without a phone keyword nearby, the digits must be grouped the way the
                # country writes its numbers: "2024-01-15 10" is a date and an hour, not (202) 401-1510.
                if len(groups) < 2:
                    continue
                if not _grouped_like(groups, _digit_groups(national)) and not _same_lead(groups, national):
                    continue
        return Hit(start, end, 0.8 if international else 0.7, {"region": found_region})
    return None


PHONE = Detector(
    id="pii.phone",
    message="phone number",
    score=0.7,
    priority=5,
    patterns=(Pattern("phone", r"(?:\+\s?\(?|\(|\b)\d(?:[ .\-/()\t]{0,3}\d){6,17}", _phone),),
    rescan=True,
)
