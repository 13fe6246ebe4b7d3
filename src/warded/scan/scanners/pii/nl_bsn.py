"""``pii.national_id.nl_bsn``: Dutch citizen service numbers: nine digits passing the 11-test, only after
"BSN", "burgerservicenummer" or "sofinummer" (nine bare digits are too common)."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings


def bsn_valid(digits: str) -> bool:
    """The Dutch 11-test for a nine-digit BSN."""
    if len(digits) != 9 or not digits.isdigit() or int(digits) == 0:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


def _bsn(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m, 1)
    digits = p.text[start:end].replace(".", "")
    if not bsn_valid(digits):
        return None
    return Hit(start, end)


NL_BSN = Detector(
    id="pii.national_id.nl_bsn",
    message="Dutch citizen service number (BSN)",
    score=0.8,
    priority=2,  # every national id
    patterns=(
        Pattern(
            "bsn",
            r"(?i)\b(?:bsn|burgerservicenummer|sofi(?:nummer)?)\b[^0-9\n]{0,20}"
            r"(\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}\.\d{3}\.\d{3})\b",
            _bsn,
        ),
    ),
)
