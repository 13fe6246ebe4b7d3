"""``pii.national_id.es_dni`` and ``pii.national_id.es_nie``: Spanish DNI (eight digits) and NIE (X/Y/Z and
seven digits), each with its mod-23 check letter."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, word_char
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(number: int) -> str:
    return _DNI_LETTERS[number % 23]


def _standalone_id(text: str, start: int, end: int) -> bool:
    """Not a piece of a number such as ``1.38435736E+12``."""
    if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".,+-"):
        return False
    return not (end < len(text) and (word_char(text[end]) or text[end] in "+-"))


def _dni(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    if not _standalone_id(p.text, start, end):
        return None
    cand = p.text[start:end]
    if dni_letter(int(cand[:8])) != cand[-1]:
        return None
    return Hit(start, end)


def _nie(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    if not _standalone_id(p.text, start, end):
        return None
    cand = p.text[start:end].replace("-", "")
    number = int(str("XYZ".index(cand[0])) + cand[1:8])
    if dni_letter(number) != cand[-1]:
        return None
    return Hit(start, end)


ES_DNI = Detector(
    id="pii.national_id.es_dni",
    message="Spanish DNI number",
    score=0.85,
    priority=2,  # every national id
    patterns=(Pattern("dni", r"\b\d{8}-?[A-Z]\b", _dni),),
)

ES_NIE = Detector(
    id="pii.national_id.es_nie",
    message="Spanish NIE number",
    score=0.85,
    priority=2,  # every national id
    patterns=(Pattern("nie", r"\b[XYZ]-?\d{7}-?[A-Z]\b", _nie),),
)
