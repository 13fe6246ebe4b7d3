"""Phones in the policy's regions, US military addresses, the address suffixes and sentence-final SSNs the
earlier measurement missed: one row each, with the exact span, and look-alikes that must stay silent."""

from __future__ import annotations

import pytest

from warded.scan.registry import load_scanner
from warded.scan.scanners.pii import DEFAULT_REGIONS, PiiScanner

SCANNER = PiiScanner()


def found(text: str, scanner: PiiScanner = SCANNER) -> list[tuple[str, str]]:
    return [(f.rule_id, text[f.span[0] : f.span[1]]) for f in scanner.find(text) if f.span is not None]


ROWS: list[tuple[str, str, str]] = [
    ("Office 07700 063 966 - Fax", "pii.phone", "07700 063 966"),
    ("ring me on 07700 900123 tonight", "pii.phone", "07700 900123"),
    ("landline (020) 7946 0958", "pii.phone", "(020) 7946 0958"),
    ("mobile 0412 345 678", "pii.phone", "0412 345 678"),
    ("Tel: 030 1234567", "pii.phone", "030 1234567"),
    ("tél 06 12 34 56 78", "pii.phone", "06 12 34 56 78"),
    ("móvil 612 345 678", "pii.phone", "612 345 678"),
    ("call (613) 555-0199 in Ottawa", "pii.phone", "(613) 555-0199"),
    ("My SSN is 536-22-8741.", "pii.national_id.us_ssn", "536-22-8741"),
    ("ssn: 536 22 8741. Thanks", "pii.national_id.us_ssn", "536 22 8741"),
    ("ship to 55 Oak Ave, Springfield, IL 62704", "pii.address", "55 Oak Ave, Springfield, IL 62704"),
    ("at 9 Elm Blvd., Austin, TX 78701-1234.", "pii.address", "9 Elm Blvd., Austin, TX 78701-1234"),
    ("12 Pine Rd\nSalem, OR 97301", "pii.address", "12 Pine Rd\nSalem, OR 97301"),
    ("4 Birch Lane, Dover, DE 19901", "pii.address", "4 Birch Lane, Dover, DE 19901"),
    ("70 Maple Dr Apt 5, Boise, ID 83702", "pii.address", "70 Maple Dr Apt 5, Boise, ID 83702"),
    ("3 Cedar Ct, Reno, NV 89501", "pii.address", "3 Cedar Ct, Reno, NV 89501"),
    ("800 Harbor Way, Seattle, WA 98101", "pii.address", "800 Harbor Way, Seattle, WA 98101"),
    ("PSC 1234, Box 5678, APO AE 09204", "pii.address", "PSC 1234, Box 5678, APO AE 09204"),
    ("Unit 2050 Box 4190\nDPO AP 96278", "pii.address", "Unit 2050 Box 4190\nDPO AP 96278"),
    ("USS Nimitz\nFPO AP 96620-1234", "pii.address", "USS Nimitz\nFPO AP 96620-1234"),
    ("send it to APO AA 34001 please", "pii.address", "APO AA 34001"),
    ("416 60 039 office", "pii.phone", "416 60 039"),
    ("Phone: 0490 75 40 81", "pii.phone", "0490 75 40 81"),
    ("+1 984 182 0190 mobile", "pii.phone", "+1 984 182 0190"),
]

#: Card numbers, built with their Luhn digit here: a JCB 15-digit 2131/1800 number always counts; a 13-digit
#: Visa and a 12-digit Maestro only after a card word.
CARDS = ["21310000000001", "18000000000002", "400000000001", "63040000001"]


def luhn(prefix: str) -> str:
    for d in "0123456789":
        digits = prefix + d
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@pytest.mark.parametrize("prefix", CARDS)
def test_short_and_legacy_card_forms(prefix: str) -> None:
    number = luhn(prefix)
    assert ("pii.card", number) in found(f"my card {number} is lost")
    bare = found(f"order {number} shipped")
    assert (("pii.card", number) in bare) is (len(number) == 15)


@pytest.mark.parametrize(("text", "rule", "value"), ROWS, ids=[f"{r}:{v}" for _, r, v in ROWS])
def test_finds_with_exact_span(text: str, rule: str, value: str) -> None:
    assert (rule, value) in found(text)


NEGATIVES = [
    "Meeting ID: 843 2231 9987",
    "IBAN DE00 3704 0044 0532 0130 00",
    "SSN 666-12-3456 is not issued",
    "order 2024-01-15 10:30, build 20240115 1030",
    "part 2231 9987 (a German number needs its trunk 0)",
    "see page 12 34 56 of volume 7",
    "apollo APO 12345 and DPO XX 12345",
    "the USS Enterprise flew on",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_stay_silent(text: str) -> None:
    assert found(text) == []


def test_regions_come_from_the_options() -> None:
    assert SCANNER.regions == DEFAULT_REGIONS and len(DEFAULT_REGIONS) > 1
    uk = "Office 07700 063 966"
    assert found(uk, PiiScanner(regions=["US"])) == []
    assert found(uk, PiiScanner(regions=["us", "gb"])) == [("pii.phone", "07700 063 966")]
    [finding] = PiiScanner(regions=["GB"]).find(uk)
    assert finding.detail == {"region": "GB"}
    built = load_scanner("pii", {"regions": ["GB", "IE"]})
    assert isinstance(built, PiiScanner) and built.regions == ("GB", "IE")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"regions": ["XX"]}, "not a region"),
        ({"regions": []}, "at least one"),
        ({"regions": "GB"}, "list of region codes"),
        ({"regions": ["GB"], "default_region": "US"}, "not both"),
        ({"regions": ["US"] * 30}, "at most"),
    ],
)
def test_bad_regions_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PiiScanner(**options)  # type: ignore[arg-type]
