"""Reversible masking of PII and secrets, and irreversible redaction.

A proxy masks text on its way to a model and restores the model's reply on its way back:

    vault = RedactionVault()
    masked = vault.mask(text, findings)   # "mail [[PII_EMAIL_k3f7x2mq]] today"
    reply = vault.restore(model_reply)    # placeholders this vault issued become values again

Placeholders look like ``[[PII_EMAIL_k3f7x2mq]]``: the rule id in upper case (it names the kind of
value, never the value), then 8 random base32 characters (40 bits from :mod:`secrets`). The form is
plain ASCII, which models copy verbatim far more reliably than exotic brackets, and the double square
brackets are rare in prose and code, so forged or accidental look-alikes are easy to tell apart: only a
placeholder this vault issued (the exact string, case included) is restored; anything else is left as it
is. The token is random and never derived from the value, so a placeholder cannot be reversed, not even by
trying candidate values. Within one vault the same value always gets the same placeholder, so the model
sees consistent references.

Masking covers every finding's span, merging overlapping spans into one placeholder, and also every other
occurrence of a masked value (of at least :data:`MIN_REPEAT_CHARS` characters) in the same text, so the
masked text never contains a masked value. Restoring is a single pass: placeholders may be reordered,
repeated or dropped by the model, and a restored value is never scanned again for placeholders.

A vault belongs to one conversation. It is thread-safe, bounded (``max_entries`` values and
``max_chars`` characters in all; the least recently used entries are evicted, or with
``on_full="refuse"`` masking raises :class:`VaultFullError`), holds values only in memory, refuses to be
pickled, and can be cleared. Note that restore puts real values back into whatever the model wrote: text
restored into an outgoing tool argument must still go through the exfiltration checks.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal, NoReturn

import re2

from warded.errors import InvalidArgument, WardedError
from warded.scan.types import Finding

#: Values shorter than this are masked only at their findings' spans, not wherever else they occur.
MIN_REPEAT_CHARS = 4

_TOKEN_CHARS = 8
_PLACEHOLDER = re2.compile(r"\[\[[A-Z][A-Z0-9_]{0,63}_[a-z2-7]{8}\]\]")


class VaultFullError(WardedError):
    """A vault created with ``on_full="refuse"`` has no room for another value."""


def _label(rule_id: str) -> str:
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in rule_id.upper()).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "VALUE_" + cleaned
    return cleaned[:56]


def _token() -> str:
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def _spans(text: str, findings: Sequence[Finding]) -> list[tuple[int, int, str]]:
    """Merged, sorted ``(start, end, rule_id)`` covering every finding span and every other occurrence of
    each found value; overlapping spans become one, named after the longest finding among them."""
    raw: list[tuple[int, int, str]] = []
    n = len(text)
    for finding in findings:
        if finding.span is None:
            continue
        start, end = max(0, finding.span[0]), min(n, finding.span[1])
        if start < end:
            raw.append((start, end, finding.rule_id))
    if not raw:
        return []
    seen: set[str] = set()
    for start, end, rule_id in list(raw):
        value = text[start:end]
        if len(value) < MIN_REPEAT_CHARS or value in seen:
            continue
        seen.add(value)
        at = text.find(value)
        while at != -1:
            if at != start:
                raw.append((at, at + len(value), rule_id))
            at = text.find(value, at + len(value))
    raw.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, str]] = []
    best_len = 0
    for start, end, rule_id in raw:
        if merged and start < merged[-1][1]:
            m_start, m_end, m_rule = merged[-1]
            if end - start > best_len:
                m_rule, best_len = rule_id, end - start
            merged[-1] = (m_start, max(m_end, end), m_rule)
        else:
            merged.append((start, end, rule_id))
            best_len = end - start
    return merged


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Irreversibly replace every finding's span (and other occurrences of its value) with
    ``[REDACTED:<rule id>]``. Findings without a span are ignored: the caller must refuse those."""
    spans = _spans(text, findings)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end, rule_id in spans:
        out.append(text[pos:start])
        out.append(f"[REDACTED:{rule_id}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


class RedactionVault:
    """Per-conversation store of masked values and their placeholders. See the module documentation."""

    __slots__ = ("_by_placeholder", "_by_value", "_chars", "_lock", "max_chars", "max_entries", "on_full")

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_chars: int = 8 << 20,
        on_full: Literal["evict", "refuse"] = "evict",
    ) -> None:
        if max_entries < 1:
            raise InvalidArgument("max_entries must be at least 1")
        if max_chars < 1:
            raise InvalidArgument("max_chars must be at least 1")
        if on_full not in ("evict", "refuse"):
            raise InvalidArgument("on_full must be 'evict' or 'refuse'")
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.on_full = on_full
        self._lock = threading.Lock()
        # value -> placeholder, in least- to most-recently used order
        self._by_value: OrderedDict[str, str] = OrderedDict()
        self._by_placeholder: dict[str, str] = {}
        self._chars = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_value)

    def __repr__(self) -> str:
        return f"RedactionVault(entries={len(self)}, max_entries={self.max_entries})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a RedactionVault holds plaintext values in memory only and cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("a RedactionVault cannot be copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError("a RedactionVault cannot be copied")

    def clear(self) -> None:
        """Forget every value; placeholders issued so far will no longer be restored."""
        with self._lock:
            self._by_value.clear()
            self._by_placeholder.clear()
            self._chars = 0

    def mask(self, text: str, findings: Sequence[Finding]) -> str:
        """``text`` with every finding span (and other occurrences of its value) replaced by a placeholder."""
        spans = _spans(text, findings)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        with self._lock:
            for start, end, rule_id in spans:
                out.append(text[pos:start])
                out.append(self._placeholder(text[start:end], rule_id))
                pos = end
        out.append(text[pos:])
        return "".join(out)

    def restore(self, text: str) -> str:
        """``text`` with each placeholder this vault issued replaced by its value; others are left alone."""
        if "[[" not in text:
            return text
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
        out: list[bytes] = []
        pos = 0
        with self._lock:
            for match in _PLACEHOLDER.finditer(data):
                placeholder = match.group().decode("ascii")
                value = self._by_placeholder.get(placeholder)
                if value is None:
                    continue
                self._by_value.move_to_end(value)
                start, end = match.span()
                out.append(data[pos:start])
                out.append(value.encode("utf-8", "surrogatepass"))
                pos = end
        if not out:
            return text
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", "surrogatepass")

    def _placeholder(self, value: str, rule_id: str) -> str:
        """The placeholder for ``value``, issuing one if needed. The caller holds the lock."""
        existing = self._by_value.get(value)
        if existing is not None:
            self._by_value.move_to_end(value)
            return existing
        if len(value) > self.max_chars:
            raise VaultFullError(f"a value of {len(value)} characters exceeds the vault's {self.max_chars}")
        while len(self._by_value) >= self.max_entries or self._chars + len(value) > self.max_chars:
            if self.on_full == "refuse":
                raise VaultFullError(
                    f"the vault is full ({len(self._by_value)} values, {self._chars} characters); "
                    "start a new conversation or clear it"
                )
            old_value, old_placeholder = self._by_value.popitem(last=False)
            del self._by_placeholder[old_placeholder]
            self._chars -= len(old_value)
        label = _label(rule_id)
        placeholder = f"[[{label}_{_token()}]]"
        while placeholder in self._by_placeholder:
            placeholder = f"[[{label}_{_token()}]]"
        self._by_value[value] = placeholder
        self._by_placeholder[placeholder] = value
        self._chars += len(value)
        return placeholder
