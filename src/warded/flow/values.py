"""The values in a text that can drive an action: addresses, accounts, links, paths, amounts, ids.

Extraction runs RE2 over untrusted text (linear time, no look-arounds). Every value is reduced to a
comparison key that survives the usual disguises — case, whitespace and separators, Unicode
look-alikes, URL percent-encoding, trailing punctuation — so that a value copied from an e-mail into
a tool argument is recognised even when the model (or an attacker) dresses it up.
"""

from __future__ import annotations

import datetime
import functools
import posixpath
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import re2

from warded.core.walk import DEEPEST
from warded.flow.normalise import deobfuscate, iban_length, registrable
from warded.scan.text import fold

MAX_TEXT = 1_000_000  # characters of one text that are indexed
MAX_VALUES = 5_000  # values taken from one text


class Kind(StrEnum):
    EMAIL = "email"
    URL = "url"
    DOMAIN = "domain"
    IBAN = "iban"
    NUMBER = "number"  # account numbers, phone numbers, long digit runs
    AMOUNT = "amount"
    PATH = "path"
    DATE = "date"  # calendar dates, keyed by ISO date whatever the spelling
    TOKEN = "token"  # noqa: S105 - a value kind: identifiers with a digit (order ids, file ids, handles)
    TEXT = "text"  # a run of words copied from a source (free-text taint)
    TOOL = "tool"  # a tool called outside the session's plan


@dataclass(frozen=True, slots=True)
class Value:
    kind: Kind
    key: str  # the normalised comparison key
    shown: str  # a short printable form for explanations

    def __str__(self) -> str:
        return f"{self.kind.value} {self.shown}"


_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20

_SCANNER = re2.compile(
    r"(?P<url>(?i:https?|ftp)://[^\s<>\"'`\])}]+)"
    r"|(?P<email>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)"
    r"|(?P<path>(?:~|\.\.?)?/[A-Za-z0-9._\-/]+)"
    r"|(?P<number>\+?\(?[0-9][0-9 \-()]{5,30}[0-9])"
    r"|(?P<amount>\b[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,4})?\b|\b[0-9]+\.[0-9]{1,4}\b|\b[0-9]+\b)"
    r"|(?P<token>\b[A-Za-z0-9_\-]{5,128}\b)",
    _OPTIONS,
)
# IBANs and domains are found in passes of their own, so that a candidate the registry or the public suffix
# list rejects does not hide what else is written there. An IBAN: country, check digits, then 11 to 30
# letters or digits, each optionally after one separator (grouped in fours, with dashes or dots, or not).
_IBAN = re2.compile(r"\b(?i:[A-Z]{2}[0-9]{2}(?:[ \-.]?[A-Z0-9]){11,30})", _OPTIONS)
_DOMAIN = re2.compile(
    r"\b(?i:(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9\-]{1,59}))\b", _OPTIONS
)
_TRAILING = ".,;:!?'\")]}>"

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH = "(?i:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_DATES = re2.compile(
    r"(?P<iso>\b[0-9]{4}-[0-9]{2}-[0-9]{2})"
    rf"|(?P<mdy>\b{_MONTH}\.? +[0-9]{{1,2}}(?:st|nd|rd|th)?,? +[0-9]{{4}}\b)"
    rf"|(?P<dmy>\b[0-9]{{1,2}}(?:st|nd|rd|th)?(?: +of)? +{_MONTH}\.?,? +[0-9]{{4}}\b)",
    _OPTIONS,
)


def _date_key(kind: str, raw: str) -> str | None:
    try:
        if kind == "iso":
            return datetime.date.fromisoformat(raw).isoformat()
        words = raw.replace(",", " ").replace(".", " ").split()
        words = [w for w in words if w.lower() != "of"]
        if kind == "mdy":
            month, day, year = words[0], words[1], words[2]
        else:
            day, month, year = words[0], words[1], words[2]
        day_digits = "".join(ch for ch in day if ch.isdigit())
        return datetime.date(int(year), _MONTHS[month.lower()], int(day_digits)).isoformat()
    except (ValueError, KeyError, IndexError):
        return None


def _dates(text: str) -> Iterator[Value]:
    for match in _DATES.finditer(text):
        group = match.lastgroup
        if group is not None:
            raw = match.group(group)
            key = _date_key(group, raw)
            if key is not None:
                yield Value(Kind.DATE, key, _short(raw))


def _short(text: str) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= 60 else text[:57] + "..."


def _unquote(text: str) -> str:
    for _ in range(3):  # percent-encoding, possibly layered
        decoded = urllib.parse.unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _amount_key(text: str) -> str | None:
    try:
        number = Decimal(text.replace(",", "").replace("'", ""))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return format(number.normalize(), "f")


def key_for(kind: Kind, raw: str) -> str | None:
    """The comparison key of a raw value of a known kind, or ``None`` if it does not hold one."""
    if kind is Kind.AMOUNT:
        return _amount_key(raw)
    text = fold(_unquote(raw)).strip().rstrip(_TRAILING)
    if kind in (Kind.IBAN, Kind.NUMBER):
        digits = "".join(ch for ch in text if ch.isalnum())
        return digits.upper() if len(digits) >= 7 else None
    if kind is Kind.DOMAIN:
        text = text.rstrip(".")
        return text if "." in text else None
    if kind is Kind.PATH:
        return posixpath.normpath(text) if text else None
    if kind is Kind.URL:
        return text.rstrip("/")
    if kind is Kind.TOKEN:
        compact = "".join(text.split())
        if len(compact) < 5 or not any(ch.isdigit() for ch in compact):
            return None
        return compact
    return text or None


def _from_match(group: str, raw: str) -> Iterator[Value]:
    kind = Kind(group)
    key = key_for(kind, raw)
    if key is None:
        return
    yield Value(kind, key, _short(raw))
    if kind is Kind.URL:
        host = urllib.parse.urlsplit(_unquote(raw)).hostname
        if host:
            yield Value(Kind.DOMAIN, fold(host).rstrip("."), _short(host))
    elif kind is Kind.EMAIL:
        domain = raw.rsplit("@", 1)[-1]
        yield Value(Kind.DOMAIN, fold(domain).rstrip(".").rstrip(_TRAILING), _short(domain))


_IBAN_SEPARATORS = " -."
_IBAN_MIN = 15  # the shortest IBAN in the registry (Norway)


def _iban(raw: str) -> tuple[str, int, set[str]]:
    """An IBAN match read the way a bank reads it: (the IBAN, where it ends in ``raw``, every reading).

    The pattern is greedy, so a word after the IBAN ("…1332 for") may have been taken in. The IBAN is the
    registry's length for its country when a separator (or the end) falls exactly there; otherwise the match
    less its trailing letters-only groups (words, not account digits). The other readings (every cut at a
    separator) are indexed too, so a value in untrusted text is found however it was grouped."""
    chars: list[str] = []
    ends: list[int] = []  # ends[i]: position in raw just after the i-th kept character
    cuts: set[int] = set()
    for pos, ch in enumerate(raw):
        if ch in _IBAN_SEPARATORS:
            if chars:
                cuts.add(len(chars))
        else:
            chars.append(ch.upper())
            ends.append(pos + 1)
    whole = len(chars)
    cuts.add(whole)
    length = iban_length("".join(chars[:2]))
    if length is not None and length <= whole and length in cuts:
        cut = length
    else:
        cut = whole
        while True:
            inner = max((c for c in cuts if c < cut), default=0)
            if inner < _IBAN_MIN or not all(ch.isalpha() for ch in chars[inner:cut]):
                break
            cut = inner
    readings = {"".join(chars[:c]) for c in cuts if c >= _IBAN_MIN}
    return "".join(chars[:cut]), ends[cut - 1], readings


def _ibans(text: str, exhaustive: bool) -> Iterator[tuple[Value, int, int]]:
    for match in _IBAN.finditer(text):
        raw = match.group(0)
        primary, end, readings = _iban(raw)
        yield Value(Kind.IBAN, primary, _short(raw[:end])), match.start(), match.start() + end
        if exhaustive:
            for reading in readings - {primary}:
                yield Value(Kind.IBAN, reading, _short(reading)), match.start(), match.start()


def _domains(text: str, skip: list[tuple[int, int]]) -> Iterator[Value]:
    for match in _DOMAIN.finditer(text):
        raw = match.group(0)
        if any(s <= match.start() < e for s, e in skip):
            continue  # an IBAN grouped with dots is not a host name
        if registrable(raw) is not None:
            yield Value(Kind.DOMAIN, raw.lower().rstrip("."), _short(raw))


def _host(group: str, raw: str) -> str:
    if group == "email":
        return raw.rsplit("@", 1)[-1].rstrip(_TRAILING)
    return urllib.parse.urlsplit(_unquote(raw)).hostname or ""


_MEMO_TEXT = 4096  # texts up to this length have their values memoised (extraction is pure)
_MEMO_SIZE = 8192


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _extract_short(text: str, exhaustive: bool) -> frozenset[Value]:
    return frozenset(_extract(text, exhaustive))


def extract(text: str, *, exhaustive: bool = True) -> set[Value]:
    """Every action-driving value in ``text`` (bounded by ``MAX_TEXT`` and ``MAX_VALUES``).

    ``exhaustive`` (for indexing what a source said) also yields every other reading of an ambiguous match
    (an IBAN's groups read with and without a following word); without it (for an argument) only the
    reading a consumer would act on, and nothing found inside an IBAN's digits."""
    if not isinstance(text, str) or not text:
        return set()
    if len(text) <= _MEMO_TEXT:
        return set(_extract_short(text, exhaustive))
    return _extract(text, exhaustive)


def _extract(text: str, exhaustive: bool = True) -> set[Value]:
    text = text[:MAX_TEXT]
    # Match on a view with look-alikes folded and percent-encoding undone, and on one with spelled-out and
    # defanged addresses put back together, so disguises do not hide values.
    views = {text}
    if not text.isascii():
        views.add(fold(text))
    if "%" in text:
        views.add(_unquote(text))
    # In a view put back together, an address counts only under a real public suffix ("look at the dot on
    # the map" is prose, not look@the.on).
    rebuilt = {deobfuscate(v) for v in views} - views
    out: set[Value] = set()
    for view in (*views, *rebuilt):
        strict = view in rebuilt
        out.update(_dates(view))
        spans: list[tuple[int, int]] = []
        for value, start, end in _ibans(view, exhaustive):
            out.add(value)
            if end > start:
                spans.append((start, end))
        out.update(_domains(view, [] if exhaustive else spans))
        for match in _SCANNER.finditer(view):
            group = match.lastgroup
            if group is None:
                continue
            if not exhaustive and any(s <= match.start() < e for s, e in spans):
                continue  # a group of an IBAN's digits is not a value of its own
            raw = match.group(group)
            if strict and group in ("email", "url") and registrable(_host(group, raw)) is None:
                continue
            out.update(_from_match(group, raw))
            if len(out) >= MAX_VALUES:
                return out
    return out


def argument_values(value: object) -> set[Value]:
    """The values an argument carries: numbers as amounts, texts as everything in them, and a short
    text as a whole (an account id like ``ACC-7`` is a value even if no pattern recognises it). Mapping
    keys carry values too (``{"DE89…": 100}``); they are read for what patterns find in them. Reads as deep
    as any policy lets arguments nest, so that nothing the input check accepted is left untraced."""
    out: set[Value] = set()
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            key = _amount_key(repr(item))
            if key is not None:
                out.add(Value(Kind.AMOUNT, key, _short(repr(item))))
        elif isinstance(item, str):
            found = extract(item, exhaustive=False)
            out.update(found)
            whole = fold(_unquote(item)).strip()
            if not found and 4 <= len(whole) <= 128:
                out.add(Value(Kind.TOKEN, "".join(whole.split()), _short(item)))
        elif depth < DEEPEST and isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    out.update(extract(key, exhaustive=False))
                stack.append((child, depth + 1))
        elif depth < DEEPEST and isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return out
