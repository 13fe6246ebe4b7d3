"""``pii.national_id.us_ssn``: US social security numbers.

``AAA-GG-SSSS`` (or spaces; bare nine digits only after "SSN"/"social security"), excluding area
000/666/900-999, group 00, serial 0000.
"""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, bounded
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN ranges the SSA never issues: area 000, 666, 900-999; group 00; serial 0000."""
    a = int(area)
    if a in (0, 666) or a >= 900:
        return False
    if int(group) == 0 or int(serial) == 0:
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999")  # numbers voided after misuse


def _ssn(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    cand = p.text[start:end]
    sep = cand[3]
    parts = cand.split(sep)
    if len(parts) != 3 or not ssn_valid(*parts):
        return None
    if not bounded(p.text, start, end, "-."):
        return None
    return Hit(start, end)


def _ssn_bare(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m, 1)
    digits = p.text[start:end]
    if not ssn_valid(digits[:3], digits[3:5], digits[5:]):
        return None
    return Hit(start, end)


US_SSN = Detector(
    id="pii.national_id.us_ssn",
    message="US social security number",
    score=0.8,
    priority=2,  # every national id
    patterns=(
        Pattern("ssn", r"\b\d{3}([ \-])\d{2}[ \-]\d{4}\b", _ssn),
        Pattern(
            "ssn_bare", r"(?i)\b(?:ssn|social security(?: number| no\.?| #)?|ss#)[^0-9\n]{0,12}(\d{9})\b", _ssn_bare
        ),
    ),
)
