"""The ``pii`` scanner: one row per kind, exact spans in the original text, and a benign corpus that must
stay (almost) silent. Numbers that need a checksum are built here with it, not copied from anywhere."""

from __future__ import annotations

import itertools

import pytest

from warded.scan.pipeline import ScanPipeline
from warded.scan.registry import load_scanner
from warded.scan.scanners.pii import (
    DETECTORS,
    RULES,
    PiiScanner,
    bsn_valid,
    card_brand,
    iban_valid,
    luhn_valid,
    ssn_valid,
)
from warded.scan.scanners.secrets import SecretsScanner
from warded.scan.types import Category, Normalised, Response, ScanInput, Source, View

SCANNER = PiiScanner()


def item(text: str, source: Source = Source.TOOL_OUTPUT) -> ScanInput:
    return ScanInput(text, source, Normalised(text, (View("raw", text), View("normalised", text))))


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    for d in "0123456789":
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError("unreachable")


def iban(country: str, bban: str) -> str:
    """An IBAN with correct mod-97 check digits for ``bban``."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def spaced(value: str, size: int = 4) -> str:
    return " ".join(value[i : i + size] for i in range(0, len(value), size))


def dni(number: int) -> str:
    return f"{number:08d}" + "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23]


def bsn(prefix8: str) -> str:
    """Complete eight digits into a nine-digit number passing the 11-test (or skip if impossible)."""
    for d in "0123456789":
        if bsn_valid(prefix8 + d):
            return prefix8 + d
    raise ValueError("no check digit")


VISA = luhn_complete("400000" + "123456789")  # 16 digits
MASTERCARD = luhn_complete("5500" + "00000000004"[:11])
AMEX = luhn_complete("3782" + "8224631000")
DE_IBAN = iban("DE", "370400440532013000")
GB_IBAN = iban("GB", "NWBK60161331926819")
NO_IBAN = iban("NO", "86011117947")


def found(text: str, scanner: PiiScanner = SCANNER) -> list[tuple[str, str]]:
    return [(f.rule_id, text[f.span[0] : f.span[1]]) for f in scanner.find(text) if f.span is not None]


POSITIVES: list[tuple[str, str, str]] = [
    # (text, rule id, exact value the span must cover)
    ("write to jane.doe+billing@example.co.uk today", "pii.email", "jane.doe+billing@example.co.uk"),
    ("<a href='mailto:ops@sub.example.org'>", "pii.email", "ops@sub.example.org"),
    ("Unicode: zoë.müller@exämple.de.", "pii.email", "zoë.müller@exämple.de"),
    ("call (415) 555-2671 after 5", "pii.phone", "(415) 555-2671"),
    ("US: 415.555.2671", "pii.phone", "415.555.2671"),
    ("dial +44 20 7946 0958 now", "pii.phone", "+44 20 7946 0958"),
    ("Büro: +49 30 901820", "pii.phone", "+49 30 901820"),
    ("from abroad 0044 20 7946 0958", "pii.phone", "0044 20 7946 0958"),
    ("mobile: 4155552671", "pii.phone", "4155552671"),
    ("+14155552671", "pii.phone", "+14155552671"),
    ("Room 12 (415) 555-2671", "pii.phone", "(415) 555-2671"),
    ("2024-01-15 415-555-2671 called", "pii.phone", "415-555-2671"),
    (f"card {spaced(VISA)} exp 12/27", "pii.card", spaced(VISA)),
    (f"card {VISA}.", "pii.card", VISA),
    (
        f"mc {'-'.join(MASTERCARD[i : i + 4] for i in range(0, 16, 4))}",
        "pii.card",
        "-".join(MASTERCARD[i : i + 4] for i in range(0, 16, 4)),
    ),
    (f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", "pii.card", f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}"),
    (f"qty 2 {spaced(VISA)}", "pii.card", spaced(VISA)),
    (f"{spaced(VISA)} 2027", "pii.card", spaced(VISA)),
    (f"IBAN {spaced(DE_IBAN)} please", "pii.iban", spaced(DE_IBAN)),
    (f"IBAN: {GB_IBAN}", "pii.iban", GB_IBAN),
    (f"konto {NO_IBAN}", "pii.iban", NO_IBAN),
    (f"ref XY12 {DE_IBAN} ok", "pii.iban", DE_IBAN),
    ("SSN 536-22-1234 on file", "pii.national_id.us_ssn", "536-22-1234"),
    ("social security number: 536221234", "pii.national_id.us_ssn", "536221234"),
    ("NI number AB 12 34 56 C", "pii.national_id.uk_nino", "AB 12 34 56 C"),
    ("NINO: JG103759A", "pii.national_id.uk_nino", "JG103759A"),
    (f"DNI {dni(12345678)}", "pii.national_id.es_dni", dni(12345678)),
    ("NIE X1234567L", "pii.national_id.es_nie", "X1234567L"),
    (f"BSN: {bsn('11122233')}", "pii.national_id.nl_bsn", bsn("11122233")),
    ("client 8.8.4.4 connected", "pii.ip", "8.8.4.4"),
    ("resolver ip: 9.9.9.9", "pii.ip", "9.9.9.9"),
    ("peer=203.0.113.77:443", "pii.ip", "203.0.113.77"),
    ("internal 10.1.2.3", "pii.ip", "10.1.2.3"),
    ("v6 2606:4700:4700::1111 ok", "pii.ip", "2606:4700:4700::1111"),
    ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334.", "pii.ip", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("link fe80::1ff:fe23:4567:890a%eth0 up", "pii.ip", "fe80::1ff:fe23:4567:890a%eth0"),
    (
        "Ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500 by Monday",
        "pii.address",
        "1600 Pennsylvania Avenue NW, Washington, DC 20500",
    ),
    ("42 Elm St.\nSpringfield, IL 62704-1234", "pii.address", "42 Elm St.\nSpringfield, IL 62704-1234"),
    ("10 Downing Street, London SW1A 2AA.", "pii.address", "10 Downing Street, London SW1A 2AA"),
    ("postcode EC1A 1BB", "pii.address", "EC1A 1BB"),
]


@pytest.mark.parametrize(("text", "rule", "value"), POSITIVES, ids=[f"{r}:{v[:24]}" for _, r, v in POSITIVES])
def test_finds_each_kind_with_exact_span(text: str, rule: str, value: str) -> None:
    assert (rule, value) in found(text)


NEGATIVES = [
    "logo@2x.png and icon@3x.webp",  # asset names, not mailboxes
    "git@github.com:warded/warded.git",  # an SSH remote
    "npm install left-pad@1.3.0 and @types/node",
    "deploy finished 2024-01-15 10:30:00 UTC",  # date and time
    "Meeting ID: 843 2231 9987",  # grouped unlike a US number
    "order 4155552671 shipped",  # bare digits, no phone keyword
    "ISBN 978-3-16-148410-0",
    "version 1.2.3.4 released",
    "OID 1.3.6.1.4.1.311",
    'LOCALITY_NAME = ObjectIdentifier("2.5.4.7")',  # single-digit octets without an IP word nearby
    'ED25519 = ObjectIdentifier("1.3.101.112")',  # an OID
    "networks 192.0.2.0/24 and 2001:db8::/32",  # CIDR ranges name networks, not hosts
    "value 1.38435736E+12",  # not a DNI
    "loopback 127.0.0.1 and ::1 and 0.0.0.0",
    "std::vector<int> and Foo::Bar::baz()",
    "MAC 00:1A:2B:3C:4D:5E",
    "time 12:30:45",
    "SSN 000-12-3456 and 666-12-3456 and 912-12-3456 and 536-00-1234",  # never-issued ranges
    "bare 536221234 nine digits",  # SSN without a keyword
    "card 4000 1234 5678 9011",  # fails Luhn
    "card 9999 9999 9999 9995",  # Luhn-valid but no known IIN
    "IBAN DE00 3704 0044 0532 0130 00",  # bad check digits
    "id 12345678A",  # wrong DNI letter (12345678 -> Z)
    "NINO: BG123456A",  # excluded prefix
    "build 4.5 stars, 1,234 reviews, $19.99",
    "coordinates 51.5074, -0.1278",
    "unix time 1700000000 and 1700000000123",
    "sha 3f2a9b1c4d5e6f708192a3b4c5d6e7f809112233",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "the 7 Main Street cafe",  # a street without city, state and ZIP
    "as set forth in DFARS 252.227-7013 (c)(1)",  # a clause number, mixed separators
    '<span class="hljs-number">2013101809</span>',  # "number" is not a phone keyword
    '<path d="M12 2.83-2.12 3.51.98.32 2.03.5 3.1"/>',  # SVG path data
    "patched in 0.12.0.0",  # 0.0.0.0/8 is never a host
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_benign_lookalikes_do_not_fire(text: str) -> None:
    assert found(text) == []


def test_findings_carry_category_score_and_redact_suggestion() -> None:
    text = "mail a.b@example.com or call +1 415 555 2671"
    findings = SCANNER.scan(item(text))
    assert [f.rule_id for f in findings] == ["pii.email", "pii.phone"]
    for f in findings:
        assert f.category is Category.PII
        assert f.suggested is Response.REDACT
        assert f.layer == "raw"
        assert 0 < f.score <= 1
        assert f.span is not None
        value = text[f.span[0] : f.span[1]]
        assert all(value not in v for v in f.detail.values())
    assert findings[1].detail["region"] == "US"


def test_declares_every_rule_family() -> None:
    assert {f"pii.{k}" for k in ("email", "phone", "card", "iban", "ip", "address")} <= set(RULES)


def test_every_detector_is_declared_once_with_its_pattern_validator_and_priority() -> None:
    ids = [detector.id for detector in DETECTORS]
    assert len(ids) == len(set(ids))
    assert tuple(ids) == RULES and SCANNER.rules == frozenset(ids)
    names = [pattern.name for detector in DETECTORS for pattern in detector.patterns]
    assert len(names) == len(set(names))
    for detector in DETECTORS:
        assert detector.id.startswith("pii.") and detector.message and 0 < detector.score <= 1
        assert detector.priority >= 0 and detector.suggested is Response.REDACT
        assert detector.patterns and all(p.regex and callable(p.validate) for p in detector.patterns)
    assert {rule for _, rule, _ in POSITIVES} == set(RULES)  # a table row for every detector


def test_spans_index_the_original_text_after_non_ascii_and_astral_characters() -> None:
    prefix = "héllo 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — "
    text = prefix + "a@example.com, then +44 20 7946 0958 ✓ " + spaced(VISA)
    got = found(text)
    assert ("pii.email", "a@example.com") in got
    assert ("pii.phone", "+44 20 7946 0958") in got
    assert ("pii.card", spaced(VISA)) in got


def test_spans_are_exact_deep_into_long_non_ascii_text() -> None:
    # byte-to-character conversion uses checkpoints every 4 KB of UTF-8: cross several of them
    values = ["a@example.com", "+44 20 7946 0958", spaced(VISA), "b@example.org"]
    parts = []
    for i, value in enumerate(values):
        parts.append(("é😀 €" * (700 * (i + 1)))[: 1500 * (i + 1) + i] + " ")
        parts.append(value + " ")
    text = "".join(parts)
    assert len(text.encode()) > 4 * 4096
    assert [v for _, v in found(text)] == values


def test_lone_surrogates_do_not_break_spans() -> None:
    text = "x\ud800 a@example.com \udfff"
    assert found(text) == [("pii.email", "a@example.com")]


def test_default_region_decides_national_numbers() -> None:
    text = "ring 020 7946 0958"
    assert found(text, PiiScanner(default_region="US")) == []  # not a US number
    assert found(text, PiiScanner(default_region="GB")) == [("pii.phone", "020 7946 0958")]
    assert found(text) == [("pii.phone", "020 7946 0958")]  # GB is one of the default regions
    with pytest.raises(ValueError, match="region"):
        PiiScanner(default_region="XX")


def test_ip_ranges_can_be_ignored() -> None:
    text = "hosts 10.0.0.5, 93.184.216.34, 127.0.0.1, fd00::1"
    assert [v for _, v in found(text)] == ["10.0.0.5", "93.184.216.34", "fd00::1"]
    assert [v for _, v in found(text, PiiScanner(ignore_private_ips=True))] == ["93.184.216.34"]
    both = PiiScanner(ignore_loopback_ips=False)
    assert "127.0.0.1" in [v for _, v in found(text, both)]


def test_rules_can_be_selected() -> None:
    text = "a@example.com 93.184.216.34"
    assert found(text, PiiScanner(rules=["pii.ip"])) == [("pii.ip", "93.184.216.34")]
    with pytest.raises(ValueError, match="unknown PII rule"):
        PiiScanner(rules=["pii.shoe_size"])


def test_overlaps_keep_the_more_specific_finding() -> None:
    # a card number is also a digit run the phone rule could read; only the card is reported
    text = f"pay with {VISA} thanks"
    assert found(text) == [("pii.card", VISA)]
    # an SSN with spaces is also phone-shaped
    assert found("SSN 536 22 1234") == [("pii.national_id.us_ssn", "536 22 1234")]


def test_several_findings_are_sorted_and_disjoint() -> None:
    text = "x@example.com; 93.184.216.34; call (415) 555-2671; " + spaced(DE_IBAN)
    findings = SCANNER.find(text)
    spans = [f.span for f in findings if f.span is not None]
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert len(findings) == 4


@pytest.mark.parametrize(
    ("digits", "brand"),
    [
        (luhn_complete("411111111111111"), "visa"),
        (luhn_complete("222100000000000"), "mastercard"),
        (luhn_complete("34000000000000"), "amex"),
        (luhn_complete("601100000000000"), "discover"),
        (luhn_complete("353000000000000"), "jcb"),
        (luhn_complete("3000000000000"), "diners"),
        (luhn_complete("621000000000000"), "unionpay"),
        (luhn_complete("67590000000000"), "maestro"),
    ],
)
def test_card_brands(digits: str, brand: str) -> None:
    assert card_brand(digits) == brand
    assert luhn_valid(digits)
    assert found(f"card {digits}") == [("pii.card", digits)]


def test_checksum_helpers() -> None:
    assert iban_valid(DE_IBAN) and iban_valid(GB_IBAN)
    assert not iban_valid(DE_IBAN[:-1] + str((int(DE_IBAN[-1]) + 1) % 10))
    assert not iban_valid("DE" + DE_IBAN[2:] + "0")  # wrong length for DE
    assert ssn_valid("536", "22", "1234")
    assert not ssn_valid("078", "05", "1120")
    assert bsn_valid(bsn("12345678")) and not bsn_valid("123456789")


# --- false positives on a benign corpus -------------------------------------------------------------

BENIGN_CORPUS: list[str] = [
    # code
    """def handler(event, context):
    items = [x for x in event["records"] if x.get("status") == "ok"]
    token_count = sum(len(x["text"].split()) for x in items)
    return {"count": len(items), "version": "3.11.4", "tokens": token_count}""",
    """import os
API_KEY = os.environ["OPENAI_API_KEY"]
password = getpass.getpass("Password: ")
client = OpenAI(api_key=API_KEY, timeout=30.0, max_retries=3)
resp = client.chat.completions.create(model="gpt-4o-mini", max_tokens=4096, temperature=0.2)""",
    """const token = req.headers["authorization"]?.split(" ")[1];
if (!token) { return res.status(401).json({ error: "missing token" }); }
const secretName = process.env.SECRET_NAME ?? "app/prod/db";""",
    """SELECT o.id, o.created_at, SUM(li.qty * li.unit_price) AS total
FROM orders o JOIN line_items li ON li.order_id = o.id
WHERE o.created_at >= '2024-01-01' AND o.status IN ('paid', 'shipped')
GROUP BY o.id ORDER BY total DESC LIMIT 50;""",
    """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web@sha256:9b2f6c1d8e7a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c
          resources: {limits: {cpu: "500m", memory: 256Mi}}
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}""",
    """"node_modules/left-pad": {
  "version": "1.3.0",
  "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
  "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQHMoS2OyAwNlEaSt1UF7csV2R/4Ak2OH8sGNahuWYoTRAV7Q==" }""",
    """[[package]]
name = "requests"
version = "2.32.3"
files = [
    {file = "requests-2.32.3-py3-none-any.whl", hash = "sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6"},
]""",
    """commit 9fceb02d0ae598e95dc970b74767f19372d61af8
Author: Dev Person <dev>
Date:   Tue Mar 12 14:03:11 2024 +0100

    Fix off-by-one in pagination (closes #4821)""",
    """2024-05-14T09:30:12.123Z INFO  request_id=7f9c2ba4-e88f-11ee-9a4b-0242ac120002 method=GET path=/v1/items status=200 dur_ms=18.4
2024-05-14T09:30:12.456Z WARN  retrying upstream attempt=2 backoff_ms=250 pool=12/64
2024-05-14T09:30:13.001Z INFO  build=1.42.0+g3f2a9b1 go=go1.22.3 pid=41235""",
    """diff --git a/src/app.py b/src/app.py
index 3b18e51..a9c2f3d 100644
--- a/src/app.py
+++ b/src/app.py
@@ -10,7 +10,7 @@ class Config:
-    timeout: float = 10.0
+    timeout: float = 30.0""",
    """<img alt="pixel" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">""",
    """#include <vector>
int main() { std::vector<int> v{1, 2, 3}; for (auto& x : v) std::cout << x << "\\n"; return 0; }""",
    """FROM python:3.11-slim
RUN pip install --no-cache-dir uvicorn==0.30.1 fastapi==0.111.0
EXPOSE 8080
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080"]""",
    # e-mail bodies
    """Hi Sam,

Thanks for the quick turnaround on the Q3 numbers. Revenue came in at $1.24M, up 8.5% on Q2, and churn
held at 2.1%. Can we go over the forecast on Thursday? I've attached the deck (v3, 14 slides).

Best,
Priya""",
    """Subject: Password reset instructions

To reset your password, open Settings > Security and choose "Reset password". The link expires after
30 minutes. If you did not request this, you can ignore this message.""",
    """Dear customer, your order #100-4829-1123 has shipped and should arrive in 3-5 business days.
Tracking will be available within 24 hours. Total charged: EUR 249.90 (incl. VAT 19%).""",
    # calendar entries
    """Weekly sync — Tue 10:00–10:30 (CET), Room B-204, 3rd floor
Agenda: 1) incidents 2) roadmap 3) hiring. Zoom Meeting ID: 843 2231 9987, Passcode: standup""",
    """All-hands: 2024-06-03 16:00 UTC, 45 min. Dial-in details in the invite. RSVP by May 30.""",
    """Dentist 14/06/2024 08:15; pick up dry cleaning (ticket 4471); flight LH 2024 at 18:40, seat 23C""",
    # reviews
    """★★★★☆ Great little café on 5th. Flat white was €3.20, croissant €2.50. Wi-Fi password is on the
receipt. Would come back — 4.5/5, visited 12 Mar 2024.""",
    """The X200 headphones (model WH-1000XM4, firmware 2.1.0) last about 30 hours. Paid $279.99 on sale;
noise cancelling is excellent, call quality so-so. 9/10.""",
    """Hotel was fine: room 1207, checked in at 3 pm, breakfast 7–10:30. Parking $35/night. Staff
remembered our names by day two.""",
    # documentation
    """## Configuration

Set `api_key` in `warded.yaml` or the `WARDED_API_KEY` environment variable. Tokens expire after
3600 seconds; use `max_tokens` to bound output. See RFC 7519 and RFC 3339 for formats.""",
    """Coordinates: 51.5074° N, 0.1278° W. Elevation 11 m. Population 8,982,000 (2019). ISBN 978-0-14-044913-6.""",
]


def test_benign_corpus_has_no_pii_or_secret_findings() -> None:
    pii = PiiScanner()
    secrets = SecretsScanner()
    hits = []
    for doc in BENIGN_CORPUS:
        for finding in [*pii.find(doc), *secrets.find(doc)]:
            assert finding.span is not None
            hits.append((finding.rule_id, doc[finding.span[0] : finding.span[1]]))
    assert hits == []


def test_registered_entry_point_builds_with_options() -> None:
    scanner = load_scanner("pii", {"default_region": "GB", "ignore_private_ips": True})
    assert isinstance(scanner, PiiScanner) and scanner.default_region == "GB"
    result = ScanPipeline([scanner], normaliser=lambda t: item(t).normalised).scan(
        "ring 020 7946 0958", Source.MODEL_OUTPUT
    )
    assert [a.finding.rule_id for a in result.applied] == ["pii.phone"]
