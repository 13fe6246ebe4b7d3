"""The ``pii`` scanner: personal data a proxy may need to redact, with exact spans in the original text.

Each kind of personal data is one :class:`~warded.scan.scanners.pii._base.Detector`, declared in its own
module with its permanent rule id, RE2 pattern(s), validators, score, message and overlap priority:

=============================  ==================  ==================================================
rule id                        module              what is found
=============================  ==================  ==================================================
``pii.email``                  ``email``           ``local@domain.tld``, not ``logo@2x.png``
``pii.phone``                  ``phone``           numbers ``phonenumbers`` finds valid in a policy region
``pii.card``                   ``card``            Luhn-valid numbers in a known IIN range
``pii.iban``                   ``iban``            registered length and mod-97 check
``pii.national_id.us_ssn``     ``us_ssn``          ``AAA-GG-SSSS`` in issued ranges
``pii.national_id.uk_nino``    ``uk_nino``         UK National Insurance numbers
``pii.national_id.es_dni``     ``es_id``           Spanish DNI with its check letter
``pii.national_id.es_nie``     ``es_id``           Spanish NIE with its check letter
``pii.national_id.nl_bsn``     ``nl_bsn``          Dutch BSN (11-test), after a keyword
``pii.ip``                     ``ip``              IPv4/IPv6 hosts, not versions, OIDs or ranges
``pii.address``                ``address``         US street addresses and UK postcodes
=============================  ==================  ==================================================

Candidates are found with RE2 (linear time, see ``_re2text``) and each is then validated in Python on the
candidate alone (bounded work per candidate).

Limits: postal addresses are only found in the shapes ``address`` lists; names and places are not PII
findings here (the optional ``pii_ner`` scanner reports them); the 11-test
BSN and the bare SSN need a keyword; a version number shaped like an IPv4 address (``10.2.154.19``) with no
version word is still reported. Where two findings overlap, the more specific one wins (each detector's
``priority``: card > IBAN > national id > e-mail > address > phone > IP).

Cost: linear in the text. Benign text is ~30 us per KB; each digit-run candidate costs a few microseconds,
and one that reaches ``phonenumbers`` ~20-40 us per region whose lengths and general number pattern admit it
(a national number is tried in each policy region in turn until one accepts it; repeated numbers are parsed
once, cached). Text made only of number-like tokens is the slowest case (tens of ms per KB with the 11
default regions when every token is a plausible but invalid number), which the pipeline's time budget turns
into the on-error response (``REQUIRE_APPROVAL``), never an unscanned ALLOW.

Every finding suggests ``REDACT`` and carries no part of the value in ``detail``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import ClassVar

import phonenumbers

from warded.scan.scanners._re2text import PatternBank, Prepared
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings
from warded.scan.scanners.pii.address import ADDRESS
from warded.scan.scanners.pii.card import CARD, card_brand, luhn_valid
from warded.scan.scanners.pii.email import EMAIL
from warded.scan.scanners.pii.es_id import ES_DNI, ES_NIE, dni_letter
from warded.scan.scanners.pii.iban import IBAN, IBAN_LENGTHS, iban_valid
from warded.scan.scanners.pii.ip import IP
from warded.scan.scanners.pii.nl_bsn import NL_BSN, bsn_valid
from warded.scan.scanners.pii.phone import DEFAULT_REGIONS, MAX_REGIONS, PHONE
from warded.scan.scanners.pii.uk_nino import UK_NINO
from warded.scan.scanners.pii.us_ssn import US_SSN, ssn_valid
from warded.scan.types import Category, Finding, Response, ScanInput

__all__ = [
    "DEFAULT_REGIONS",
    "DETECTORS",
    "IBAN_LENGTHS",
    "RULES",
    "Detector",
    "PiiScanner",
    "bsn_valid",
    "card_brand",
    "dni_letter",
    "iban_valid",
    "luhn_valid",
    "ssn_valid",
]

#: Every detector, in the order their patterns are tried.
DETECTORS: tuple[Detector, ...] = (EMAIL, PHONE, CARD, IBAN, US_SSN, UK_NINO, ES_DNI, ES_NIE, NL_BSN, IP, ADDRESS)

#: Every rule this scanner can report.
RULES: tuple[str, ...] = tuple(detector.id for detector in DETECTORS)

#: pattern name -> (its detector, the pattern)
_PATTERNS: dict[str, tuple[Detector, Pattern]] = {
    pattern.name: (detector, pattern) for detector in DETECTORS for pattern in detector.patterns
}
_BANK = PatternBank({name: pattern.regex for name, (_, pattern) in _PATTERNS.items()})
_PRIORITY: dict[str, int] = {detector.id: detector.priority for detector in DETECTORS}

_TOKEN_GAP = frozenset(b" \t-./)")  # a new token may start after one of these...
_NOT_TOKEN_START = frozenset(b" \t-./)")  # ...unless it starts with one of these


class PiiScanner:
    """Finds personal data in the raw text. Pure and thread-safe: all state is read-only after ``__init__``.

    ``regions``: ISO 3166 regions, tried in order, for phone numbers written without ``+`` (default
    :data:`DEFAULT_REGIONS`; at most :data:`MAX_REGIONS`). ``default_region``: the older single-region form,
    the same as ``regions: [that region]``. ``ignore_private_ips``: skip RFC 1918 / ULA / link-local and other
    non-global addresses. ``ignore_loopback_ips``: skip loopback, unspecified, multicast and reserved
    addresses (default on: they identify no one). ``rules``: the rule ids to report (default all of
    ``RULES``). Names and places are the optional ``pii_ner`` scanner's (:mod:`warded.scan.scanners.pii.ner`).
    """

    id: ClassVar[str] = "pii"
    category: ClassVar[Category] = Category.PII
    #: A failed PII scan cannot say what to redact: ask a human rather than pass the text on.
    on_error: ClassVar[Response] = Response.REQUIRE_APPROVAL
    budget_ms: ClassVar[float] = 250.0

    def __init__(
        self,
        *,
        regions: Iterable[str] | None = None,
        default_region: str | None = None,
        ignore_private_ips: bool = False,
        ignore_loopback_ips: bool = True,
        rules: Iterable[str] | None = None,
    ) -> None:
        if regions is not None and default_region is not None:
            raise ValueError("give regions or default_region, not both")
        if isinstance(regions, str):
            raise ValueError("regions must be a list of region codes, not one string")
        wanted = list(regions) if regions is not None else [default_region] if default_region else DEFAULT_REGIONS
        if not wanted:
            raise ValueError("regions must name at least one region")
        if len(wanted) > MAX_REGIONS:
            raise ValueError(f"at most {MAX_REGIONS} phone regions (each costs a parse per candidate number)")
        chosen: list[str] = []
        for given in wanted:
            region = str(given).upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"phone region {given!r} is not a region phonenumbers knows")
            if region not in chosen:
                chosen.append(region)
            # phonenumbers loads a region's metadata on first use (1-10 ms); do it now, not on the first message
            example = phonenumbers.example_number(region)
            if example is not None:
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
                phonenumbers.is_valid_number(example)
        self.regions = tuple(chosen)
        self.default_region = chosen[0]
        self.ignore_private_ips = ignore_private_ips
        self.ignore_loopback_ips = ignore_loopback_ips
        enabled = frozenset(RULES if rules is None else rules)
        unknown = enabled - set(RULES)
        if unknown:
            raise ValueError(f"unknown PII rule(s): {', '.join(sorted(unknown))}")
        self.rules = enabled
        self._settings = Settings(chosen[0], ignore_private_ips, ignore_loopback_ips, self.regions)

    @classmethod
    def check_options(cls, options: Mapping[str, object] | None) -> None:
        """Refuse options this scanner cannot honour (an unknown region or rule) when the policy loads:
        building it is cheap, so this builds one and drops it."""
        cls(**dict(options or {}))  # type: ignore[arg-type]

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
        settings = self._settings
        found: list[Finding] = []
        for name in _BANK.candidates(prepared):
            detector, pattern = _PATTERNS[name]
            if detector.id not in self.rules:
                continue
            if detector.rescan:
                found.extend(detector.finding(hit) for hit in _rescan(pattern, prepared, settings))
                continue
            validate = pattern.validate
            for match in _BANK.finditer(name, prepared):
                hit = validate(prepared, match, settings)
                if hit is not None:
                    found.append(detector.finding(hit))
        return _resolve(found)


def _rescan(pattern: Pattern, prepared: Prepared, settings: Settings) -> list[Hit]:
    """Greedy digit-run candidates can swallow the start of the next real one. After a rejected candidate,
    search again from the next token inside it rather than from its end. Still linear: a candidate is at
    most a few dozen bytes, so each byte is re-read a bounded number of times."""
    out: list[Hit] = []
    data = prepared.data
    pos = 0
    while pos <= len(data):
        match = _BANK.search(pattern.name, prepared, pos)
        if match is None:
            break
        start, end = match.span()
        hit = pattern.validate(prepared, match, settings)
        if hit is not None:
            out.append(hit)
            # these candidates are ASCII: characters past the match start are bytes past it
            pos = max(start + (hit.end - prepared.char(start)), start + 1)
            continue
        pos = end
        for i in range(start + 1, end):
            if data[i - 1] in _TOKEN_GAP and data[i] not in _NOT_TOKEN_START:
                pos = i
                break
    return out


def _resolve(found: list[Finding]) -> list[Finding]:
    """Drop findings that overlap a more specific (or, at equal priority, earlier and longer) one."""
    if len(found) < 2:
        return found

    def key(f: Finding) -> tuple[int, int, int]:
        s, e = f.span or (0, 0)
        return (_PRIORITY.get(f.rule_id, 9), s, -(e - s))

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
