"""``pii.address``: a US street address with city, state and ZIP (``123 Main St, Springfield, IL 62704``,
any USPS street suffix: Ave, Blvd, Rd, Lane, Dr, Ct, Way...), a US military or diplomatic address
(``PSC 1234, Box 5678, APO AE 09204``, ``USS Nimitz FPO AP 96620``, ``Unit 2050 Box 4190 DPO AP 96278``),
and UK postcodes, with the street line before them when present (``10 Downing Street, London SW1A 2AA``).

Only those shapes: a US street without state and ZIP, or a continental address, is not found.
"""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, bounded
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP"
)
_US_SUFFIX = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Alley|Aly|Plaza|Plz|Loop|Row|Path|Pike|Crossing|Xing|Run|Pass"
)
_UK_SUFFIX = (
    "Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Close|Drive|Way|Gardens|Place|Crescent|Terrace|Court|Square|Hill|Grove|"
    "Row|Mews|Walk|Park|Green|Rise|Parade|View"
)
_UK_POSTCODE = r"(?:[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?) \d[ABD-HJLNP-UW-Z]{2}|GIR 0AA)"


def _us_address(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    if not bounded(p.text, start, end):
        return None
    return Hit(start, end, detail={"kind": "us_street"})


def _military(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    if not bounded(p.text, start, end):
        return None
    return Hit(start, end, 0.75, {"kind": "us_military"})


def _uk_address(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    if not bounded(p.text, start, end):
        return None
    kind = "uk_street" if p.text[start].isdigit() else "uk_postcode"
    return Hit(start, end, 0.7 if kind == "uk_street" else 0.6, {"kind": kind})


ADDRESS = Detector(
    id="pii.address",
    message="postal address",
    score=0.7,
    priority=4,
    patterns=(
        Pattern(
            "us_address",
            r"\b\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
            r"(?:[A-Z0-9][A-Za-z0-9'.\-]*\s+){0,4}(?:" + _US_SUFFIX + r")\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\.?)?"
            r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|#)\.?\s*#?[A-Za-z0-9\-]{1,6})?"
            r",?\s+(?:[A-Z][A-Za-z.'\-]*\s?){1,4},?\s+(?:" + _US_STATES + r")\s+\d{5}(?:-\d{4})?\b",
            _us_address,
        ),
        Pattern(
            "us_military",
            r"\b(?:(?:(?:PSC|CMR|Unit)\s+\d{1,5},?\s+Box\s+\d{1,5}|(?:USS|USNS|USCGC)\s+(?:[A-Z][A-Za-z.'\-]*\s+){0,3}"
            r"[A-Z][A-Za-z.'\-]*)\s*,?\s+)?(?:APO|DPO|FPO)\s+(?:AA|AE|AP)\s+\d{5}(?:-\d{4})?\b",
            _military,
        ),
        Pattern(
            "uk_address",
            r"\b(?:\d{1,4}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'\-]+\s+){1,4}(?:" + _UK_SUFFIX + r")\.?,?\s+"
            r"(?:[A-Z][A-Za-z'\-]+,?\s+){0,3})?" + _UK_POSTCODE + r"\b",
            _uk_address,
        ),
    ),
)
