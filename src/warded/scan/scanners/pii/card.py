"""``pii.card``: payment card numbers.

13-19 digits, optionally grouped by one kind of separator in 4s (or 4-6-5 / 4-6-4); Luhn-valid; a known IIN
range (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) with a length that brand issues.
The forms that random digit runs fit more often (a 13-digit Visa, a 12-digit Maestro) count only after a
card word (``card``, ``cc``, ``visa``...) just before them.
"""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, bounded, compile_one
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: Words that make a short or legacy card form count (word-bounded, case-insensitive).
_CARD_WORD = compile_one(r"(?i)\b(?:card|cards|cc|credit|debit|visa|maestro|jcb|mastercard|amex|pan)\b")


def card_brand(digits: str, *, context: bool = False) -> str | None:
    """The card brand whose IIN range and issued lengths ``digits`` fits, else ``None``. ``context``: a card
    word precedes the number, so the legacy 13-digit Visa and 12-digit Maestro forms count too."""
    n = len(digits)
    if n < 12:
        return None
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (16, 19):  # 13-digit Visa is no longer issued
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if (3528 <= p4 <= 3589 and 16 <= n <= 19) or (p4 in (2131, 1800) and n == 15):
        return "jcb"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) and 13 <= n <= 19:
        return "maestro"
    if context and digits[0] == "4" and n == 13:
        return "visa"
    if context and (50 <= p2 <= 69 and p2 not in (51, 52, 53, 54, 55)) and n == 12:
        return "maestro"
    return None


def _card_grouping(lengths: list[int]) -> bool:
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _card(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    cand = text[start:end]
    seps = {ch for ch in cand if not ch.isdigit()}
    if len(seps) > 1:
        return None
    groups = cand.split(seps.pop()) if seps else [cand]
    context = _CARD_WORD.search(text[max(0, start - 32) : start]) is not None
    # try the whole run, then shorter prefixes at group boundaries (a card followed by other digits)
    for k in range(len(groups), 0, -1):
        used = groups[:k]
        digits = "".join(used)
        if len(digits) < 12:
            break
        if len(digits) > 19:
            continue
        length = sum(len(g) for g in used) + (k - 1)
        if not bounded(text, start, start + length):
            continue
        if k > 1 and not _card_grouping([len(g) for g in used]):
            continue
        brand = card_brand(digits, context=context)
        if brand is None or not luhn_valid(digits):
            continue
        return Hit(start, start + length, detail={"brand": brand})
    return None


CARD = Detector(
    id="pii.card",
    message="payment card number",
    score=0.95,
    priority=0,
    patterns=(
        Pattern(
            "card",
            r"\b(?:\d{12,19}|\d{4}(?: \d{4}){2,3}(?: \d{1,4})?|\d{4}(?:-\d{4}){2,3}(?:-\d{1,4})?|"
            r"\d{4}[ \-]\d{6}[ \-]\d{4,5})\b",
            _card,
        ),
    ),
    rescan=True,
)
