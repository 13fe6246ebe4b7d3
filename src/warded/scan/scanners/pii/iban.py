"""``pii.iban``: a country code with its registered IBAN length, then ISO 7064 mod-97 == 1."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, word_char
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

#: Registered IBAN lengths (SWIFT IBAN registry), by country code.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """Country length and ISO 7064 mod-97 check of an IBAN without separators (upper case)."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    total = 0
    for ch in rearranged:
        if "0" <= ch <= "9":
            total = (total * 10 + ord(ch) - 48) % 97
        elif "A" <= ch <= "Z":
            total = (total * 100 + ord(ch) - 55) % 97
        else:
            return False
    return total == 1


def _iban(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    if start > 0 and word_char(text[start - 1]):
        return None
    cand = text[start:end]
    country = cand[:2].upper()
    want = IBAN_LENGTHS.get(country)
    if want is None:
        return None
    chars: list[str] = []
    stop = 0
    for i, ch in enumerate(cand):
        if ch.isalnum():
            chars.append(ch)
            if len(chars) == want:
                stop = i + 1
                break
    if len(chars) != want:
        return None
    if start + stop < len(text) and word_char(text[start + stop]):
        return None
    iban = "".join(chars)
    if not iban_valid(iban.upper()):
        return None
    return Hit(start, start + stop, detail={"country": country})


IBAN = Detector(
    id="pii.iban",
    message="IBAN (bank account)",
    score=0.95,
    priority=1,
    patterns=(Pattern("iban", r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,30}", _iban),),
    rescan=True,
)
