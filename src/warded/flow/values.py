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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import NamedTuple

import re2

from warded.core.walk import DEEPEST, MAX_ITEMS
from warded.flow.normalise import deobfuscate, iban_length, registrable
from warded.scan.text import fold

MAX_TEXT = 1_000_000  # characters of one text that are read for values; past it, the text is a bound reached
MAX_VALUES = 5_000  # values read from one text; past it, the text is a bound reached
MAX_NODES = 2 * MAX_ITEMS  # values and keys one walk over nested data visits (arguments hold at most MAX_ITEMS)


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
def _extract_short(text: str, exhaustive: bool) -> tuple[frozenset[Value], str]:
    return _extract(text, exhaustive)


def extract(text: str, *, exhaustive: bool = True) -> set[Value]:
    """Every action-driving value in ``text`` (bounded by ``MAX_TEXT`` and ``MAX_VALUES``: use
    :func:`extract_bounded` wherever reaching a bound must be known, as it must wherever a decision follows).

    ``exhaustive`` (for indexing what a source said) also yields every other reading of an ambiguous match
    (an IBAN's groups read with and without a following word); without it (for an argument) only the
    reading a consumer would act on, and nothing found inside an IBAN's digits."""
    return set(extract_bounded(text, exhaustive=exhaustive)[0])


def extract_bounded(text: str, *, exhaustive: bool = True) -> tuple[frozenset[Value], str]:
    """:func:`extract`, and the bound it reached in words ("" when it read the whole text): a text longer than
    ``MAX_TEXT`` or carrying more than ``MAX_VALUES`` values is not read past the bound, and the caller must
    turn that into a finding."""
    if not isinstance(text, str) or not text:
        return frozenset(), ""
    if len(text) <= _MEMO_TEXT:
        return _extract_short(text, exhaustive)
    return _extract(text, exhaustive)


_TOO_MANY_VALUES = "more than MAX_VALUES ({:,}) values in one text"


def _extract(text: str, exhaustive: bool = True) -> tuple[frozenset[Value], str]:
    bound = ""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
        bound = f"a text longer than MAX_TEXT ({MAX_TEXT:,}) characters"
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
    full = frozenset[Value]  # the values read up to a bound

    def over() -> tuple[frozenset[Value], str]:
        return full(out), _TOO_MANY_VALUES.format(MAX_VALUES)

    for view in (*views, *rebuilt):
        strict = view in rebuilt
        for date in _dates(view):
            out.add(date)
            if len(out) > MAX_VALUES:
                return over()
        spans: list[tuple[int, int]] = []
        for value, start, end in _ibans(view, exhaustive):
            out.add(value)
            if len(out) > MAX_VALUES:
                return over()
            if end > start:
                spans.append((start, end))
        for domain in _domains(view, [] if exhaustive else spans):
            out.add(domain)
            if len(out) > MAX_VALUES:
                return over()
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
            if len(out) > MAX_VALUES:
                return over()
    return full(out), bound


class Leaf(NamedTuple):
    """One scalar inside nested data: ``path`` in the index's notation (keys joined by ``.``, list items as
    ``[]``; a key sits at the path of its mapping), ``text`` (a number as its ``repr``), whether it is a number,
    and whether it is a mapping key."""

    path: str
    text: str
    number: bool
    key: bool


@dataclass(frozen=True, slots=True)
class Leaves:
    """What :func:`leaves` read, and the bound it reached in words ("" when it read everything)."""

    items: tuple[Leaf, ...]
    bound: str


def leaves(value: object, where: str = "") -> Leaves:
    """The one bounded walk over nested data in ``warded.flow`` (tool outputs, arguments): every text and number,
    mapping keys as well as values, at most ``DEEPEST`` levels deep (as deep as any policy lets arguments nest)
    and ``MAX_NODES`` values and keys. Reaching a bound, or meeting a value it cannot read (an object that is not
    JSON-like, a number too long to write out), is never silent: the walk stops and :attr:`Leaves.bound` says
    why; the caller turns that into a finding. Bytes are read as UTF-8 text (undecodable bytes replaced)."""
    out: list[Leaf] = []
    nodes = 0
    stack: list[tuple[object, str, int, bool]] = [(value, where, 0, False)]
    while stack:
        item, path, depth, is_key = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return Leaves(tuple(out), f"more than MAX_NODES ({MAX_NODES:,}) values and keys")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str):
            out.append(Leaf(path, item, False, is_key))
        elif isinstance(item, int | float):
            try:
                shown = repr(item)
            except ValueError:  # an int longer than Python writes out as text
                return Leaves(tuple(out), f"a number too long to read (at {path[:120] or 'the top'})")
            out.append(Leaf(path, shown, True, is_key))
        elif isinstance(item, bytes | bytearray | memoryview):
            out.append(Leaf(path, bytes(item).decode("utf-8", "replace"), False, is_key))
        elif isinstance(item, Mapping | list | tuple | set | frozenset):
            if depth >= DEEPEST:
                return Leaves(tuple(out), f"nested deeper than DEEPEST ({DEEPEST}) levels (at {path[:120]})")
            # Every node on the stack will be visited: refuse now rather than stack a million of them.
            if nodes + len(stack) + (2 if isinstance(item, Mapping) else 1) * len(item) > MAX_NODES:
                return Leaves(tuple(out), f"more than MAX_NODES ({MAX_NODES:,}) values and keys")
            if isinstance(item, Mapping):
                for k, v in item.items():
                    stack.append((v, f"{path}.{k}" if path else str(k), depth + 1, False))
                    stack.append((k, path, depth + 1, True))  # keys carry values too ({"bob@x.com": "rw"})
            else:
                stack.extend((v, f"{path}[]", depth + 1, False) for v in item)
        else:
            return Leaves(tuple(out), f"a value of type {type(item).__name__} that cannot be read")
    return Leaves(tuple(out), "")


def argument_values(value: object) -> set[Value]:
    """The values an argument carries (see :func:`argument_read`, which also says whether a bound was reached)."""
    return argument_read(value)[0]


def argument_read(value: object) -> tuple[set[Value], str]:
    """The values an argument carries: numbers as amounts, texts as everything in them, and a short
    text as a whole (an account id like ``ACC-7`` is a value even if no pattern recognises it). Mapping
    keys carry values too (``{"DE89…": 100}``); they are read for what patterns find in them. Read with
    :func:`leaves` (as deep as any policy lets arguments nest) and :func:`extract_bounded`; the second item is
    the bound reached, in words ("" when the argument was read whole)."""
    out: set[Value] = set()
    walked = leaves(value)
    bound = walked.bound
    for leaf in walked.items:
        if leaf.number:
            key = _amount_key(leaf.text)
            if key is not None:
                out.add(Value(Kind.AMOUNT, key, _short(leaf.text)))
            continue
        found, over = extract_bounded(leaf.text, exhaustive=False)
        bound = bound or over
        out.update(found)
        whole = fold(_unquote(leaf.text)).strip()
        if not leaf.key and not found and 4 <= len(whole) <= 128:
            out.add(Value(Kind.TOKEN, "".join(whole.split()), _short(leaf.text)))
    return out, bound
