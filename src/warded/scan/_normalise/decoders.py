"""Decoders for encoded runs: base64 (standard and URL-safe), hex, percent-encoding, JSON/YAML escapes,
ROT13 and leetspeak. Each finds candidates with RE2 (linear time) and returns only what decodes to text."""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import re2

from warded.scan._normalise.tables import (
    LEET_MAP,
    LEET_TRIGGER_WORDS,
    ROT13_PREFILTER_WORDS,
    SUSPICIOUS_WORDS,
    WORDS,
)
from warded.scan.text import bytes_to_text

MIN_HEX_BYTES = 8
MIN_PERCENT_ESCAPES = 3
MIN_ROT13_WORDS = 3
MIN_LEET_WORDS = 2
MIN_HTML_ENTITIES = 3
_MEMO_SIZE = 4096  # runs remembered per normalisation


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: str  # base64, hex, url, html
    start: int
    end: int
    text: str


# Quantifier minimums below: 16 base64 characters, MIN_HEX_BYTES bytes, MIN_PERCENT_ESCAPES escapes.
_B64_RUN: Final = re2.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_SEPARATED: Final = re2.compile(
    r"(?:[0-9A-Fa-f]{2}[ :,]){7,}[0-9A-Fa-f]{2}|(?:0[xX][0-9A-Fa-f]{2}[, ]*){8,}|(?:\\[xX][0-9A-Fa-f]{2}){4,}"
)
_B64_LINES: Final = re2.compile(r"(?:[A-Za-z0-9+/]{16,}\r?\n)+[A-Za-z0-9+/]{4,}={0,2}")
_HTML_ENTITY: Final = re2.compile(r"&#(?:[xX][0-9a-fA-F]{1,6}|[0-9]{1,7});")
_PERCENT_RUN: Final = re2.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}")
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
# Fixed-length branches after a literal backslash: constant work per position, so linear in ``re``.
_ESCAPE: Final = re.compile(r"""\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[nrtbf"'\\/])""")
_SIMPLE_ESCAPES: Final = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
}
_ROT13_PREFILTER: Final = re2.compile(r"(?i)\b(?:" + "|".join(ROT13_PREFILTER_WORDS) + r")\b")
# Tokenisers: one character class each, so linear in Python's ``re`` too, which costs far less per match than
# the RE2 wrapper (these run over every word once a prefilter has fired).
_ALPHA_TOKEN: Final = re.compile(r"[A-Za-z]{2,}")
_LEET_TOKEN: Final = re.compile(r"[A-Za-z0-9@$|+!]{2,}")


def _escape(text: str) -> str:
    """RE2-escape ``text`` (letters, digits and spaces stay; every other character gets a backslash)."""
    return "".join(ch if ch.isalnum() or ch == " " else "\\" + ch for ch in text)


def _leet_trigger_pattern() -> str:
    """An RE2 alternation matching each trigger word spelled with at least one leetspeak character."""
    leet_of: dict[str, str] = {}
    for leet, letter in LEET_MAP.items():
        leet_of[letter] = leet_of.get(letter, "") + leet
    leet_of["l"] = leet_of.get("l", "") + "1"
    leet_of["i"] = leet_of.get("i", "") + "|"

    def any_of(letter: str) -> str:
        return "[" + _escape(letter + leet_of.get(letter, "")) + "]"

    variants: list[str] = []
    for word in LEET_TRIGGER_WORDS:
        for i, letter in enumerate(word):
            if letter in leet_of:
                variants.append(
                    _escape(word[:i]) + "[" + _escape(leet_of[letter]) + "]" + "".join(any_of(c) for c in word[i + 1 :])
                )
    return "(?i)(?:" + "|".join(variants) + ")"


_LEET_TRIGGER: Final = re2.compile(_leet_trigger_pattern())
_SUSPICIOUS: Final = re2.compile("(?i)(?:" + "|".join(_escape(w) for w in SUSPICIOUS_WORDS) + ")")
ROT13: Final = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)
_LEET_I: Final = str.maketrans(LEET_MAP)
_LEET_L: Final = str.maketrans({**LEET_MAP, "1": "l", "|": "i"})
_LEET_CHARS: Final = frozenset(LEET_MAP)


def suspicious(text: str) -> bool:
    """Whether decoded text uses the vocabulary of injected instructions (raises a finding's score)."""
    return _SUSPICIOUS.search(text) is not None


def _decode_base64(token: str) -> str | None:
    core = token.rstrip("=")
    urlsafe = "-" in core or "_" in core
    if urlsafe and ("+" in core or "/" in core):
        return None
    if len(core) % 4 == 1:
        core = core[:-1]
    core += "=" * (-len(core) % 4)
    try:
        data = base64.b64decode(core, altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return bytes_to_text(data, min_chars=6)


def _decode_hex(token: str) -> str | None:
    digits = token
    if digits[:2] in ("0x", "0X") or "\\" in digits or "x" in digits or "X" in digits:
        digits = digits.replace("\\x", "").replace("\\X", "").replace("0x", "").replace("0X", "")
    digits = digits.replace(" ", "").replace(":", "").replace(",", "")
    if len(digits) % 2 or len(digits) < 2 * MIN_HEX_BYTES - 2 or not set(digits) <= _HEX_DIGITS:
        return None
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        return None
    return bytes_to_text(data)


def _spans(pattern: Any, text: str) -> Iterator[tuple[int, int]]:
    """Match spans of an RE2 pattern; ASCII text is matched as bytes (offsets agree), which spares the
    wrapper's per-match conversion of byte offsets to character offsets."""
    if text.isascii():
        for match in pattern.finditer(text.encode("ascii")):
            yield match.span()
    else:
        for match in pattern.finditer(text):
            yield match.span()


def find_encoded(text: str, memo: dict[str, str | None] | None = None) -> Iterator[Decoded]:
    """Every base64, hex, percent-encoded or HTML-entity run in ``text`` that decodes to text."""
    blocks: list[tuple[int, int]] = []
    if "\n" in text:  # MIME-style base64, wrapped over lines: decoded as one block
        for start, end in _spans(_B64_LINES, text):
            decoded = _decode_base64("".join(text[start:end].split()))
            if decoded is not None:
                blocks.append((start, end))
                yield Decoded("base64", start, end, decoded)
    block = 0  # blocks and runs both come in text order: one pointer skips runs inside blocks
    for start, end in _spans(_B64_RUN, text):
        while block < len(blocks) and blocks[block][1] <= start:
            block += 1
        if block < len(blocks) and blocks[block][0] <= start:
            continue
        token = text[start:end]
        if memo is not None and token in memo:
            known = memo[token]  # the same run again (a repeat, or the raw run seen in a cleaned copy)
            if known is not None:
                yield Decoded("hex" if known[0] == "h" else "base64", start, end, known[1:])
            continue
        decoded = None
        kind = "base64"
        bare = token[2:] if token[:2] in ("0x", "0X") else token
        if len(bare) % 2 == 0 and set(bare) <= _HEX_DIGITS:
            decoded = _decode_hex(bare)
            kind = "hex"
        if decoded is None:
            decoded = _decode_base64(token)
            kind = "base64"
        if memo is not None and len(memo) < _MEMO_SIZE:
            memo[token] = None if decoded is None else kind[0] + decoded
        if decoded is not None:
            yield Decoded(kind, start, end, decoded)
    if "\\x" in text or "\\X" in text or "0x" in text or "0X" in text or ":" in text or " " in text or "," in text:
        for start, end in _spans(_HEX_SEPARATED, text):
            decoded = _decode_hex(text[start:end])
            if decoded is not None:
                yield Decoded("hex", start, end, decoded)
    if "%" in text:
        for start, end in _spans(_PERCENT_RUN, text):
            token = text[start:end]
            decoded = unquote(token, errors="replace")
            if decoded != token and "\ufffd" not in decoded:
                yield Decoded("url", start, end, decoded)
    if "&#" in text:
        html = _html_entities(text)
        if html is not None:
            yield html


def _html_entities(text: str) -> Decoded | None:
    """The whole text with HTML character references resolved, when at least ``MIN_HTML_ENTITIES`` of them
    spell letters or digits (``&#39;`` for an apostrophe is ordinary HTML, ``&#105;gnore`` is not)."""
    first = -1
    count = 0
    for start, end in _spans(_HTML_ENTITY, text):
        body = text[start + 2 : end - 1]
        code = int(body[1:], 16) if body[:1] in ("x", "X") else int(body)
        if code <= 0x10FFFF and chr(code).isalnum():
            first = start if first < 0 else first
            count += 1
            if count >= MIN_HTML_ENTITIES:
                break
    if count < MIN_HTML_ENTITIES:
        return None
    last = text.rfind("&#")
    return Decoded("html", first, max(text.find(";", last) + 1, first + 1), html.unescape(text))


def json_unescape(text: str) -> str | None:
    """``text`` with JSON/YAML string escapes resolved (``\\n``, ``\\"``, ``\\uXXXX`` incl. surrogate pairs,
    ``\\xHH``), or ``None`` when it has none. Lone surrogate escapes become U+FFFD."""
    if "\\" not in text:
        return None
    pieces: list[str] = []
    last = 0
    pending_high: int | None = None
    pending_end = -1
    found = wide = False
    count = 0
    for match in _ESCAPE.finditer(text):
        start, end = match.span()
        esc = match.group()
        found = True
        count += 1
        wide = wide or esc[1] in "uxX"
        if pending_high is not None and start != pending_end:
            pieces.append("\ufffd")
            pending_high = None
        pieces.append(text[last:start])
        last = end
        kind = esc[1]
        if kind == "u":
            unit = int(esc[2:], 16)
            if 0xD800 <= unit <= 0xDBFF:
                if pending_high is not None:
                    pieces.append("\ufffd")
                pending_high = unit
                pending_end = end
                continue
            if 0xDC00 <= unit <= 0xDFFF:
                if pending_high is not None:
                    pieces.append(chr(0x10000 + ((pending_high - 0xD800) << 10) + (unit - 0xDC00)))
                    pending_high = None
                else:
                    pieces.append("\ufffd")
                continue
            if pending_high is not None:
                pieces.append("\ufffd")
                pending_high = None
            pieces.append(chr(unit))
        else:
            if pending_high is not None:
                pieces.append("\ufffd")
                pending_high = None
            pieces.append(chr(int(esc[2:], 16)) if kind in "xX" else _SIMPLE_ESCAPES[kind])
    if not found or (count < 2 and not wide):
        return None  # one stray ``\n`` hides nothing: the raw view already reads the same
    if pending_high is not None:
        pieces.append("\ufffd")
    pieces.append(text[last:])
    return "".join(pieces)


def rot13_runs(text: str) -> list[tuple[int, int, str]]:
    """Stretches of ``text`` whose ROT13 reading is English words while the text itself is not:
    ``(start, end, decoded)``. A cheap prefilter keeps ordinary text from paying for the word check."""
    if sum(1 for _ in zip(range(2), _ROT13_PREFILTER.finditer(text), strict=False)) < 2:
        return []
    runs: list[tuple[int, int, str]] = []
    run_start = run_end = -1
    rot_known = unknown = 0

    def close() -> None:
        if rot_known >= MIN_ROT13_WORDS and rot_known * 2 >= rot_known + unknown:
            runs.append((run_start, run_end, text[run_start:run_end].translate(ROT13)))

    for match in _ALPHA_TOKEN.finditer(text):
        word = match.group().lower()
        plain = word in WORDS
        rotated = word.translate(ROT13) in WORDS
        if plain and not rotated:
            close()
            run_start = run_end = -1
            rot_known = unknown = 0
            continue
        if run_start < 0:
            run_start = match.start()
        run_end = match.end()
        if rotated and not plain:
            rot_known += 1
        elif not rotated:
            unknown += 1
    close()
    return runs


def _deleet(token: str) -> str | None:
    for table in (_LEET_I, _LEET_L):
        candidate = token.translate(table).lower()
        if candidate in WORDS:
            return candidate
    return None


def leet_reading(text: str) -> tuple[int, int, str] | None:
    """The text with leetspeak words spelled out, when at least two tokens turn into known words:
    ``(start, end, decoded)`` where start/end bound the changed tokens."""
    if _LEET_TRIGGER.search(text) is None:
        return None
    replaced: list[tuple[int, int, str]] = []
    for match in _LEET_TOKEN.finditer(text):
        token = match.group()
        stripped = token.rstrip("!")
        if (
            len(stripped) < 2
            or stripped.isalpha()
            or stripped.lower() == stripped.upper()  # no letters at all
            or not (_LEET_CHARS & set(stripped))
            or stripped.lower() in WORDS
        ):
            continue
        word = _deleet(stripped)
        if word is not None:
            replaced.append((match.start(), match.start() + len(stripped), word))
    if len(replaced) < MIN_LEET_WORDS:
        return None
    pieces: list[str] = []
    last = 0
    for start, end, word in replaced:
        pieces.append(text[last:start])
        pieces.append(word)
        last = end
    pieces.append(text[last:])
    return replaced[0][0], replaced[-1][1], "".join(pieces)
