"""The ``pii`` scanner: personal data a proxy may need to redact, with exact spans in the original text.

Candidates are found with RE2 (linear time, see ``_re2text``) and each is then validated in Python on the
candidate alone (bounded work per candidate):

=============================  =====================================================================
rule id                        what is found, and how it is validated
=============================  =====================================================================
``pii.email``                  ``local@domain.tld`` (Unicode letters allowed); dot rules on the local
                               part, hostname rules per label, an alphabetic TLD that is not a file
                               extension (``logo@2x.png`` is not an address), ``git@host:`` skipped
``pii.phone``                  ``phonenumbers`` validity. A leading ``+`` (or ``00``) is parsed
                               region-agnostic; anything else in ``default_region``. A national-format
                               number needs a phone word just before it (``tel``, ``call``, ``mobile``,
                               ``fax``...) or the region's own digit grouping (``(415) 555-2671``, not
                               ``2024-01-15 10``); date-shaped runs and mixed ``.``/``-`` separators
                               (``252.227-7013``, a clause number) are skipped
``pii.card``                   13-19 digits, optionally grouped by one kind of separator in 4s (or
                               4-6-5 / 4-6-4); Luhn-valid; a known IIN range (Visa, Mastercard, Amex,
                               Discover, JCB, Diners, UnionPay, Maestro) with a length that brand issues
``pii.iban``                   country code with its registered IBAN length, then ISO 7064 mod-97 == 1
``pii.national_id.us_ssn``     ``AAA-GG-SSSS`` (or spaces; bare nine digits only after "SSN"/"social
                               security"), excluding area 000/666/900-999, group 00, serial 0000
``pii.national_id.uk_nino``    UK National Insurance number: two prefix letters from the allowed set
                               (not BG, GB, KN, NK, NT, TN, ZZ), six digits, suffix A-D
``pii.national_id.es_dni``     Spanish DNI: eight digits and the mod-23 check letter
``pii.national_id.es_nie``     Spanish NIE: X/Y/Z, seven digits and the mod-23 check letter
``pii.national_id.nl_bsn``     Dutch BSN: nine digits passing the 11-test, only after "BSN",
                               "burgerservicenummer" or "sofinummer" (nine bare digits are too common)
``pii.ip``                     IPv4/IPv6 validated by ``ipaddress``; loopback, unspecified, multicast
                               and reserved addresses are ignored by default, private ones on request.
                               Skipped as not-a-host: CIDR ranges (``10.0.0.0/8``), dotted runs after
                               ``version``/``release``/``v``, single-digit quads (``2.5.4.7``, an OID)
                               unless an IP word (``ip``, ``host``, ``server``...) precedes them, and
                               quads among other bare numbers (SVG path data)
``pii.address``                a US street address with city, state and ZIP (``123 Main St, Springfield,
                               IL 62704``), and UK postcodes, with the street line before them when
                               present (``10 Downing Street, London SW1A 2AA``)
=============================  =====================================================================

Limits: postal addresses are only found in those two shapes (a US street without state and ZIP, or a
continental address, is not found); names are not PII findings here; the 11-test BSN and the bare SSN
need a keyword; a version number shaped like an IPv4 address (``10.2.154.19``) with no version word is
still reported. Where two findings overlap, the more specific one wins (card > IBAN > national id >
e-mail > address > phone > IP).

Cost: linear in the text. Benign text is ~30 us per KB; each digit-run candidate costs a few microseconds
and each one that reaches ``phonenumbers`` ~20-40 us, so text made only of number-like tokens is the
slowest case (about 2 ms per KB), which the pipeline's time budget turns into the on-error response.

Every finding suggests ``REDACT`` and carries no part of the value in ``detail``.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import phonenumbers

from warded.scan.scanners._re2text import PatternBank, Prepared, bounded, compile_one, word_char
from warded.scan.types import Category, Finding, Response, ScanInput

#: Every rule this scanner can report.
RULES: tuple[str, ...] = (
    "pii.email",
    "pii.phone",
    "pii.card",
    "pii.iban",
    "pii.national_id.us_ssn",
    "pii.national_id.uk_nino",
    "pii.national_id.es_dni",
    "pii.national_id.es_nie",
    "pii.national_id.nl_bsn",
    "pii.ip",
    "pii.address",
)

# Overlap priority: lower wins.
_PRIORITY = {
    "pii.card": 0,
    "pii.iban": 1,
    "pii.national_id": 2,
    "pii.email": 3,
    "pii.address": 4,
    "pii.phone": 5,
    "pii.ip": 6,
}

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

_PATTERNS: dict[str, str] = {
    "email": r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,24}",
    "phone": r"(?:\+\s?\(?|\(|\b)\d(?:[ .\-/()\t]{0,3}\d){6,17}",
    "card": (
        r"\b(?:\d{13,19}|\d{4}(?: \d{4}){2,3}(?: \d{1,4})?|\d{4}(?:-\d{4}){2,3}(?:-\d{1,4})?|"
        r"\d{4}[ \-]\d{6}[ \-]\d{4,5})\b"
    ),
    "iban": r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,30}",
    "ssn": r"\b\d{3}([ \-])\d{2}[ \-]\d{4}\b",
    "ssn_bare": r"(?i)\b(?:ssn|social security(?: number| no\.?| #)?|ss#)[^0-9\n]{0,12}(\d{9})\b",
    "nino": r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    "dni": r"\b\d{8}-?[A-Z]\b",
    "nie": r"\b[XYZ]-?\d{7}-?[A-Z]\b",
    "bsn": (
        r"(?i)\b(?:bsn|burgerservicenummer|sofi(?:nummer)?)\b[^0-9\n]{0,20}"
        r"(\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}\.\d{3}\.\d{3})\b"
    ),
    "ipv4": r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
    "ipv6": r"(?i)[0-9a-f:]*::?[0-9a-f]{0,4}:[0-9a-f:.]*(?:%[0-9a-z]{1,16})?",
    "us_address": (
        r"\b\d{1,6}(?:-\d{1,4})?[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
        r"(?:[A-Z0-9][A-Za-z0-9'.\-]*\s+){0,4}(?:" + _US_SUFFIX + r")\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\.?)?"
        r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|#)\.?\s*#?[A-Za-z0-9\-]{1,6})?"
        r",?\s+(?:[A-Z][A-Za-z.'\-]*\s?){1,4},?\s+(?:" + _US_STATES + r")\s+\d{5}(?:-\d{4})?\b"
    ),
    "uk_address": (
        r"\b(?:\d{1,4}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'\-]+\s+){1,4}(?:" + _UK_SUFFIX + r")\.?,?\s+"
        r"(?:[A-Z][A-Za-z'\-]+,?\s+){0,3})?" + _UK_POSTCODE + r"\b"
    ),
}

_RULE_OF_PATTERN = {
    "email": "pii.email",
    "phone": "pii.phone",
    "card": "pii.card",
    "iban": "pii.iban",
    "ssn": "pii.national_id.us_ssn",
    "ssn_bare": "pii.national_id.us_ssn",
    "nino": "pii.national_id.uk_nino",
    "dni": "pii.national_id.es_dni",
    "nie": "pii.national_id.es_nie",
    "bsn": "pii.national_id.nl_bsn",
    "ipv4": "pii.ip",
    "ipv6": "pii.ip",
    "us_address": "pii.address",
    "uk_address": "pii.address",
}

_BANK = PatternBank(_PATTERNS)

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

#: Top-level labels that are file extensions, not TLDs, in ``name@2x.png``-style strings.
_FILE_TLDS = frozenset({
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "heic", "css", "scss", "less",
    "js", "mjs", "cjs", "ts", "tsx", "jsx", "json", "yaml", "yml", "toml", "lock", "txt", "log", "map", "wasm",
    "whl", "egg", "exe", "dll", "dylib", "bin", "dat", "tmp", "bak", "pdf", "csv", "tsv", "xml", "html", "htm",
})  # fmt: skip

#: Words that make a bare national-format digit run a phone number (word-bounded, case-insensitive).
_PHONE_WORD = compile_one(
    r"(?i)(?:\b(?:phone|tel|telephone|call|calls|mobile|cell|cellphone|fax|whatsapp|sms|text me|telefon|"
    r"telefono|teléfono|téléphone|móvil|handy|dial|ph|mob)\b|[☎📞📱])"
)

_IP_WORD = compile_one(r"\b(?:ip|ips|ipv4|address|addr|host|hosts|server|client|peer|from|src|dst|gateway|dns)\b")
_VERSION_WORD = compile_one(r"(?:version|release|ver\.?|build|rev|oid|objectidentifier|object_identifier)\W{0,3}$")
_TOKEN_GAP = frozenset(b" \t-./)")  # a new token may start after one of these...
_NOT_TOKEN_START = frozenset(b" \t-./)")  # ...unless it starts with one of these
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


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


def card_brand(digits: str) -> str | None:
    """The card brand whose IIN range and issued lengths ``digits`` fits, else ``None``."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (16, 19):  # 13-digit Visa is no longer issued
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) and 12 <= n <= 19:
        return "maestro"
    return None


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


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN ranges the SSA never issues: area 000, 666, 900-999; group 00; serial 0000."""
    a = int(area)
    if a in (0, 666) or a >= 900:
        return False
    if int(group) == 0 or int(serial) == 0:
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999")  # numbers voided after misuse


def dni_letter(number: int) -> str:
    return _DNI_LETTERS[number % 23]


def bsn_valid(digits: str) -> bool:
    """The Dutch 11-test for a nine-digit BSN."""
    if len(digits) != 9 or not digits.isdigit() or int(digits) == 0:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


_NON_DIGITS_TO_SPACE = {c: " " for c in range(128) if not 48 <= c <= 57}


def _digit_groups(text: str) -> list[str]:
    """The runs of digits in ``text`` (a phone candidate or a formatted number), in order."""
    return text.translate(_NON_DIGITS_TO_SPACE).split()


@lru_cache(maxsize=512)
def _national_lengths(region: str) -> tuple[frozenset[int], str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset(range(4, 18)), ""
    lengths = frozenset(metadata.general_desc.possible_length or range(4, 18))
    return lengths, metadata.national_prefix or ""


def _possible_national_length(digits: str, region: str) -> bool:
    """Whether ``digits`` (a national-format number, possibly with its trunk prefix) has a length the
    region issues."""
    lengths, prefix = _national_lengths(region)
    if len(digits) in lengths:
        return True
    return bool(prefix) and digits.startswith(prefix) and len(digits) - len(prefix) in lengths


def _looks_like_date(groups: Sequence[str]) -> bool:
    """A leading ``YYYY-MM-DD`` or ``DD/MM/YYYY`` (with any separators), as in a timestamp."""
    if len(groups) < 3:
        return False
    a, b, c = (len(g) for g in groups[:3])
    if a == 4 and b <= 2 and c <= 2:
        return True
    return a <= 2 and b <= 2 and c in (2, 4)


def _grouped_like(groups: Sequence[str], formatted: Sequence[str]) -> bool:
    """True if every boundary between the written digit groups is a boundary of the country's own format
    (counted from the end, so a written trunk or country prefix is allowed)."""

    def cuts(parts: Sequence[str]) -> set[int]:
        out: set[int] = set()
        total = 0
        for part in reversed(parts):
            total += len(part)
            out.add(total)
        return out

    written = cuts(groups)
    written.discard(sum(len(g) for g in groups))
    allowed = cuts(formatted)
    return written <= allowed


class PiiScanner:
    """Finds personal data in the raw text. Pure and thread-safe: all state is read-only after ``__init__``.

    ``default_region``: ISO 3166 region for phone numbers written without ``+`` (``"US"``, ``"GB"``...).
    ``ignore_private_ips``: skip RFC 1918 / ULA / link-local and other non-global addresses.
    ``ignore_loopback_ips``: skip loopback, unspecified, multicast and reserved addresses (default on:
    they identify no one). ``rules``: the rule ids to report (default all of ``RULES``).
    """

    id: ClassVar[str] = "pii"
    category: ClassVar[Category] = Category.PII
    #: A failed PII scan cannot say what to redact: ask a human rather than pass the text on.
    on_error: ClassVar[Response] = Response.REQUIRE_APPROVAL
    budget_ms: ClassVar[float] = 250.0

    def __init__(
        self,
        *,
        default_region: str = "US",
        ignore_private_ips: bool = False,
        ignore_loopback_ips: bool = True,
        rules: Iterable[str] | None = None,
    ) -> None:
        region = default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default_region {default_region!r} is not a region phonenumbers knows")
        self.default_region = region
        # phonenumbers loads a region's metadata on first use (1-10 ms); do it now, not on the first message
        example = phonenumbers.example_number(region)
        if example is not None:
            phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            phonenumbers.is_valid_number(example)
        self.ignore_private_ips = ignore_private_ips
        self.ignore_loopback_ips = ignore_loopback_ips
        enabled = frozenset(RULES if rules is None else rules)
        unknown = enabled - set(RULES)
        if unknown:
            raise ValueError(f"unknown PII rule(s): {', '.join(sorted(unknown))}")
        self.rules = enabled
        self._handlers: dict[str, Callable[[Prepared, Any], Finding | None]] = {
            "email": self._email,
            "phone": self._phone,
            "card": self._card,
            "iban": self._iban,
            "ssn": self._ssn,
            "ssn_bare": self._ssn_bare,
            "nino": self._nino,
            "dni": self._dni,
            "nie": self._nie,
            "bsn": self._bsn,
            "ipv4": self._ipv4,
            "ipv6": self._ipv6,
            "us_address": self._us_address,
            "uk_address": self._uk_address,
        }

    def warm_up(self) -> None:
        """Region metadata is loaded at construction; run every pattern and validator once so RE2's
        automata and the validators' caches are built before the first caller's text."""
        self.find(
            "Ana at ana.lopez@example.org or +1 415 555 0134 / (020) 7946 0958, card 4111 1111 1111 1111, "
            "IBAN GB82 WEST 1234 5698 7654 32, SSN 536-22-8741, ssn 536228741, NINO AB 12 34 56 C, DNI 12345678Z, "
            "NIE X1234567L, BSN 111222333, from 203.0.113.7 and 2001:db8::1, at 123 Main St, Springfield, IL 62704 "
            "and 10 Downing Street, London SW1A 2AA."
        )

    def scan(self, item: ScanInput) -> list[Finding]:
        return self.find(item.text)

    def find(self, text: str) -> list[Finding]:
        """All PII findings in ``text``, sorted by span, with overlaps resolved."""
        prepared = Prepared(text)
        found: list[Finding] = []
        for name in _BANK.candidates(prepared):
            if _RULE_OF_PATTERN[name] not in self.rules:
                continue
            handler = self._handlers[name]
            if name in ("card", "iban", "phone"):
                found.extend(self._rescan(name, prepared, handler))
                continue
            for match in _BANK.finditer(name, prepared):
                finding = handler(prepared, match)
                if finding is not None:
                    found.append(finding)
        return _resolve(found)

    def _rescan(
        self, name: str, prepared: Prepared, handler: Callable[[Prepared, Any], Finding | None]
    ) -> list[Finding]:
        """Greedy digit-run candidates can swallow the start of the next real one. After a rejected
        candidate, search again from the next token inside it rather than from its end. Still linear:
        a candidate is at most a few dozen bytes, so each byte is re-read a bounded number of times."""
        out: list[Finding] = []
        data = prepared.data
        pos = 0
        while pos <= len(data):
            match = _BANK.search(name, prepared, pos)
            if match is None:
                break
            start, end = match.span()
            finding = handler(prepared, match)
            if finding is not None and finding.span is not None:
                out.append(finding)
                # these candidates are ASCII: characters past the match start are bytes past it
                pos = max(start + (finding.span[1] - prepared.char(start)), start + 1)
                continue
            pos = end
            for i in range(start + 1, end):
                if data[i - 1] in _TOKEN_GAP and data[i] not in _NOT_TOKEN_START:
                    pos = i
                    break
        return out

    # -- validators: each takes the match and returns a finding or None ------------------------------

    def _finding(self, rule_id: str, span: tuple[int, int], score: float, message: str, **detail: str) -> Finding:
        return Finding(
            rule_id,
            Category.PII,
            score,
            message,
            suggested=Response.REDACT,
            span=span,
            layer="raw",
            detail=detail,
        )

    def _email(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        text = p.text
        cand = text[start:end]
        at = cand.index("@")
        local, domain = cand[:at], cand[at + 1 :]
        # the greedy local part may start with punctuation: trim it off the span
        trim = len(local) - len(local.lstrip("._%+-"))
        local = local[trim:]
        start += trim
        if not local or len(local) > 64 or local.endswith(".") or ".." in local:
            return None
        if start > 0 and word_char(text[start - 1]):
            return None
        if end < len(text) and (word_char(text[end]) or text[end] in "-@"):
            return None
        labels = domain.split(".")
        if len(domain) > 253 or len(labels) > 10:
            return None
        if any(not lab or len(lab) > 63 or lab.startswith("-") or lab.endswith("-") for lab in labels):
            return None
        if labels[-1].lower() in _FILE_TLDS:
            return None
        if local.lower() == "git" and end < len(text) and text[end] == ":":
            return None  # git@github.com:org/repo.git is an SSH remote, not a mailbox
        return self._finding("pii.email", (start, end), 0.9, "e-mail address")

    def _phone(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        text = p.text
        cand = text[start:end]
        while cand and not cand[-1].isdigit():  # a trailing ')' is not part of the number
            cand = cand[:-1]
            end -= 1
        if not bounded(text, start, end, "@"):
            return None
        if start > 1 and text[start - 1] in ".-/:," and text[start - 2].isdigit():
            return None  # the tail of a larger number, date or version
        if end + 1 < len(text) and text[end] in ".-/:," and text[end + 1].isdigit():
            return None
        count = sum(map(str.isdigit, cand))
        if not 7 <= count <= 15:
            return None
        groups = _digit_groups(cand)
        digits = "".join(groups)
        international = cand.startswith("+")
        to_parse: str = cand
        region: str | None = self.default_region
        if international:
            region = None
        elif cand.startswith("00") and len(digits) >= 10:
            to_parse, region, international = "+" + cand[2:], None, True
        if not international and _looks_like_date(groups):
            return None
        if "." in cand and "-" in cand:
            return None  # "252.227-7013" is a clause or part number; phones keep one separator
        if len(groups) == 4 and all(len(g) <= 3 for g in groups) and cand.count(".") == 3:
            return None  # an IPv4 address
        if region is not None and not _possible_national_length(digits, region):
            return None  # cheap rejection before the comparatively costly parse
        try:
            number = phonenumbers.parse(to_parse, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        if not international and not self._phone_context(text, start):
            # In national format, without a phone keyword nearby, the digits must be grouped the way the
            # country writes its numbers: "2024-01-15 10" is a date and an hour, not (202) 401-1510.
            if len(groups) < 2:
                return None
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            if not _grouped_like(groups, _digit_groups(national)):
                return None
        found_region = phonenumbers.region_code_for_number(number) or "unknown"
        score = 0.8 if international else 0.7
        return self._finding("pii.phone", (start, end), score, "phone number", region=found_region)

    @staticmethod
    def _phone_context(text: str, start: int) -> bool:
        return _PHONE_WORD.search(text[max(0, start - 32) : start]) is not None

    def _card(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        text = p.text
        cand = text[start:end]
        seps = {ch for ch in cand if not ch.isdigit()}
        if len(seps) > 1:
            return None
        groups = cand.split(seps.pop()) if seps else [cand]
        # try the whole run, then shorter prefixes at group boundaries (a card followed by other digits)
        for k in range(len(groups), 0, -1):
            used = groups[:k]
            digits = "".join(used)
            if len(digits) < 13:
                break
            if len(digits) > 19:
                continue
            length = sum(len(g) for g in used) + (k - 1)
            if not bounded(text, start, start + length):
                continue
            if k > 1 and not _card_grouping([len(g) for g in used]):
                continue
            brand = card_brand(digits)
            if brand is None or not luhn_valid(digits):
                continue
            return self._finding("pii.card", (start, start + length), 0.95, "payment card number", brand=brand)
        return None

    def _iban(self, p: Prepared, m: Any) -> Finding | None:
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
        return self._finding("pii.iban", (start, start + stop), 0.95, "IBAN (bank account)", country=country)

    def _ssn(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        cand = p.text[start:end]
        sep = cand[3]
        parts = cand.split(sep)
        if len(parts) != 3 or not ssn_valid(*parts):
            return None
        if not bounded(p.text, start, end, "-."):
            return None
        return self._finding("pii.national_id.us_ssn", (start, end), 0.8, "US social security number")

    def _ssn_bare(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m, 1)
        digits = p.text[start:end]
        if not ssn_valid(digits[:3], digits[3:5], digits[5:]):
            return None
        return self._finding("pii.national_id.us_ssn", (start, end), 0.8, "US social security number")

    def _nino(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        cand = p.text[start:end]
        if cand[:2] in _NINO_BAD_PREFIXES:
            return None
        spaces = cand.count(" ")
        if spaces not in (0, 4):
            return None
        return self._finding("pii.national_id.uk_nino", (start, end), 0.8, "UK National Insurance number")

    def _dni(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        if not _standalone_id(p.text, start, end):
            return None
        cand = p.text[start:end]
        if dni_letter(int(cand[:8])) != cand[-1]:
            return None
        return self._finding("pii.national_id.es_dni", (start, end), 0.85, "Spanish DNI number")

    def _nie(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        if not _standalone_id(p.text, start, end):
            return None
        cand = p.text[start:end].replace("-", "")
        number = int(str("XYZ".index(cand[0])) + cand[1:8])
        if dni_letter(number) != cand[-1]:
            return None
        return self._finding("pii.national_id.es_nie", (start, end), 0.85, "Spanish NIE number")

    def _bsn(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m, 1)
        digits = p.text[start:end].replace(".", "")
        if not bsn_valid(digits):
            return None
        return self._finding("pii.national_id.nl_bsn", (start, end), 0.8, "Dutch citizen service number (BSN)")

    def _ipv4(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        text = p.text
        if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".vV"):
            return None  # part of a longer dotted run, or a version such as v1.2.3.4
        if _VERSION_WORD.search(text[max(0, start - 20) : start].lower()):
            return None  # "version 1.2.3.4", "release: 10.0.0.1", 'ObjectIdentifier("1.3.101.112")'
        if end < len(text) and text[end] in ".-" and end + 1 < len(text) and text[end + 1].isalnum():
            return None
        if _is_cidr(text, end):
            return None  # a network, not a host
        cand = text[start:end]
        if all(len(octet) == 1 for octet in cand.split(".")) and not _IP_WORD.search(
            text[max(0, start - 24) : start].lower()
        ):
            return None  # "2.5.4.7" is far more often an OID or a version than a host
        if _numeric_neighbour(text, start, end):
            return None  # "2.83-2.12 3.51.98.32 2.03.5": coordinates in SVG path data or a table of numbers
        return self._address(cand, (start, end))

    def _ipv6(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        text = p.text
        cand = text[start:end]
        while cand.endswith((".", ":")) and not cand.endswith("::"):
            cand = cand[:-1]  # sentence punctuation, not part of the address
            end -= 1
        zone = ""
        if "%" in cand:
            cand, zone = cand.split("%", 1)
            if not zone:
                return None
        if cand.count(":") < 2 or ("::" not in cand and cand.count(":") != 7 and "." not in cand):
            return None
        if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".:"):
            return None
        if end < len(text) and (word_char(text[end]) or text[end] == ":"):
            return None
        if _is_cidr(text, end):
            return None
        return self._address(cand, (start, end))

    def _address(self, cand: str, span: tuple[int, int]) -> Finding | None:
        try:
            address = ipaddress.ip_address(cand)
        except ValueError:
            return None
        if self.ignore_loopback_ips and (
            address.is_loopback
            or address.is_unspecified
            or address.is_multicast
            or address.is_reserved
            or (address.version == 4 and cand.startswith("0."))  # 0.0.0.0/8: "this network", never a host
        ):
            return None
        if self.ignore_private_ips and (address.is_private or address.is_link_local):
            return None
        scope = "global" if address.is_global else "private" if address.is_private else "special"
        return self._finding("pii.ip", span, 0.6, "IP address", version=str(address.version), scope=scope)

    def _us_address(self, p: Prepared, m: Any) -> Finding | None:
        span = p.span(m)
        if not bounded(p.text, *span):
            return None
        return self._finding("pii.address", span, 0.7, "postal address", kind="us_street")

    def _uk_address(self, p: Prepared, m: Any) -> Finding | None:
        start, end = p.span(m)
        if not bounded(p.text, start, end):
            return None
        kind = "uk_street" if p.text[start].isdigit() else "uk_postcode"
        return self._finding(
            "pii.address", (start, end), 0.7 if kind == "uk_street" else 0.6, "postal address", kind=kind
        )


def _standalone_id(text: str, start: int, end: int) -> bool:
    """Not a piece of a number such as ``1.38435736E+12``."""
    if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".,+-"):
        return False
    return not (end < len(text) and (word_char(text[end]) or text[end] in "+-"))


def _numeric_neighbour(text: str, start: int, end: int) -> bool:
    """True if the token just before or after ``text[start:end]`` is a number that is not a dotted quad."""
    before = text[max(0, start - 16) : start].split()
    after = text[end : end + 16].split()
    for raw in (before[-1] if before else "", after[0] if after else ""):
        token = raw.strip(",;")
        numeric = bool(token) and any(ch.isdigit() for ch in token) and all(ch.isdigit() or ch in ".-" for ch in token)
        quad = token.count(".") == 3 and all(part.isdigit() for part in token.split("."))
        if numeric and not quad:
            return True
    return False


def _is_cidr(text: str, end: int) -> bool:
    return end + 1 < len(text) and text[end] == "/" and text[end + 1].isdigit()


def _card_grouping(lengths: list[int]) -> bool:
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _priority(finding: Finding) -> int:
    rule = finding.rule_id
    if rule.startswith("pii.national_id"):
        return _PRIORITY["pii.national_id"]
    return _PRIORITY.get(rule, 9)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Drop findings that overlap a more specific (or, at equal priority, earlier and longer) one."""
    if len(found) < 2:
        return found

    def key(f: Finding) -> tuple[int, int, int]:
        s, e = f.span or (0, 0)
        return (_priority(f), s, -(e - s))

    kept: list[Finding] = []
    starts: list[int] = []
    ends: list[int] = []
    for finding in sorted(found, key=key):
        s, e = finding.span or (0, 0)
        i = bisect_left(starts, s)
        if i > 0 and ends[i - 1] > s:
            continue
        if i < len(starts) and starts[i] < e:
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        kept.insert(i, finding)
    return kept
