"""Small text utilities shared by the normaliser's parts: folding, byte-to-text checks, surrogate repair."""

from __future__ import annotations

import re
import unicodedata

from warded.scan._normalise.tables import CONFUSABLE_TABLE, CONFUSABLES, PRINTABLE_BYTES, STRIP_CLASS, WORDS

_STRIP = re.compile(STRIP_CLASS)  # one character class: linear (see tables.HIDDEN_CLASS)
_CONFUSABLE = re.compile("[" + "".join(sorted(CONFUSABLES)) + "]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def has_surrogates(text: str) -> bool:
    """True when ``text`` holds lone surrogates (which cannot be encoded as UTF-8)."""
    return _SURROGATES.search(text) is not None


def replace_surrogates(text: str) -> str:
    """Replace each lone surrogate with U+FFFD, keeping every other character (and so every offset) in place."""
    return _SURROGATES.sub("\ufffd", text)


def bytes_to_text(data: bytes, *, min_chars: int = 4) -> str | None:
    """Decode ``data`` as UTF-8 if it is mostly printable text, else ``None``.

    At most 5% of the characters may be control bytes or invalid UTF-8 (replaced by U+FFFD).
    """
    if len(data) < min_chars:
        return None
    controls = len(data.translate(None, PRINTABLE_BYTES))
    if controls * 20 > len(data):
        return None
    text = data.decode("utf-8", "replace")
    bad = controls + text.count("\ufffd")
    if bad * 20 > len(text) or len(text) < min_chars:
        return None
    return text


def _fold_confusable_word(word: str) -> str:
    if word.isascii():
        return word
    folded = word.translate(CONFUSABLE_TABLE)
    if folded == word:
        return word
    # Mixed-script words (some ASCII letters) and words made only of look-alikes are folded; an ordinary
    # Cyrillic or Greek word with letters that have no Latin twin stays readable.
    ascii_part = word.encode("ascii", "ignore")
    if len(ascii_part.translate(None, _ASCII_LETTERS)) < len(ascii_part):
        return folded  # Latin letters mixed with look-alikes
    if folded.isascii() and (folded.lower() in WORDS or len(_scripts(word)) > 1):
        return folded  # only look-alikes, from several scripts or spelling an English word ("рау" for "pay")
    return word


def _scripts(word: str) -> set[str]:
    return {unicodedata.name(ch, "?").split(" ")[0] for ch in word if ch.isalpha()}


def fold(text: str) -> str:
    """The matching skeleton of ``text``: NFKC, invisible characters and generic accents removed, Latin
    look-alikes folded to ASCII, case-folded, whitespace collapsed to single spaces."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = _STRIP.sub("", unicodedata.normalize("NFKD", text))
    composed = unicodedata.normalize("NFC", decomposed)
    words = composed.split()
    if _CONFUSABLE.search(composed) is not None:
        words = [w if w.isascii() else _fold_confusable_word(w) for w in words]
    return " ".join(words).casefold()


_CHUNK = 1 << 15


def _chunks(text: str) -> list[tuple[int, int]]:
    """Cut ``text`` into pieces of about ``_CHUNK`` characters, at whitespace where there is some nearby."""
    out: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(start + _CHUNK, len(text))
        if end < len(text):
            space = max(text.rfind(" ", end - 1024, end), text.rfind("\n", end - 1024, end))
            end = space + 1 if space > start else end
        out.append((start, end))
        start = end
    return out


def fold_bounded(text: str, limit: int) -> tuple[str, bool]:
    """``fold(text)`` cut to ``limit`` characters, and whether it was cut. Long non-ASCII text is folded in
    chunks, so a text that NFKC expands many-fold (U+FDFA becomes 18 characters) costs time in proportion
    to ``limit``, not to the expansion."""
    if text.isascii() or len(text) <= _CHUNK:
        folded = fold(text)
        return (folded[:limit], True) if len(folded) > limit else (folded, False)
    parts: list[str] = []
    size = 0
    for start, end in _chunks(text):
        part = fold(text[start:end])
        if part:
            if parts and text[start - 1].isspace():
                parts.append(" ")  # the single space that joins two chunks cut at whitespace
                size += 1
            parts.append(part)
            size += len(part)
        if size > limit:
            return "".join(parts)[:limit], True
    return "".join(parts), False


def clean_bounded(text: str, limit: int) -> str:
    """``clean(text)``, at most ``limit`` characters of it (computed chunk by chunk, like ``fold_bounded``)."""
    if len(text) <= _CHUNK:
        return clean(text)[:limit]
    parts: list[str] = []
    size = 0
    for start, end in _chunks(text):
        part = clean(text[start:end])
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return "".join(parts)[:limit]


def clean(text: str) -> str:
    """``text`` with hidden characters removed and NFKC applied, case and spacing kept (for decoding)."""
    return unicodedata.normalize("NFKC", _STRIP.sub("", text))
