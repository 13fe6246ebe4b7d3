"""``pii.national_id.uk_nino``: UK National Insurance numbers: two prefix letters from the allowed set (not
BG, GB, KN, NK, NT, TN, ZZ), six digits, suffix A-D."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    cand = p.text[start:end]
    if cand[:2] in _NINO_BAD_PREFIXES:
        return None
    spaces = cand.count(" ")
    if spaces not in (0, 4):
        return None
    return Hit(start, end)


UK_NINO = Detector(
    id="pii.national_id.uk_nino",
    message="UK National Insurance number",
    score=0.8,
    priority=2,  # every national id
    patterns=(Pattern("nino", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", _nino),),
)
