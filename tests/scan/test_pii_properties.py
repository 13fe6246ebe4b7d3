"""Invariants of the PII and secrets scanners and the vault, over generated text.

- the scanners never raise, on any text (lone surrogates, control characters, astral planes included),
  and every span lies inside the text;
- masking then restoring returns the original text exactly;
- masked text never contains a masked value.
"""

from __future__ import annotations

import random
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.scan.scanners.pii import PiiScanner
from warded.scan.scanners.secrets import SecretsScanner
from warded.scan.types import Category, Finding
from warded.scan.vault import MIN_REPEAT_CHARS, RedactionVault, redact

PII = PiiScanner()
SECRETS = SecretsScanner()

_rng = random.Random(5)
_TOKEN = "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(36))

# Pieces that make the scanners take their interesting paths, glued together with arbitrary text.
FRAGMENTS = [
    "bob@example.com",
    "zoë@exämple.de",
    "a.b+c@sub.example.co.uk",
    "(415) 555-2671",
    "+44 20 7946 0958",
    "0044 20 7946 0958",
    "4000 1234 5678 9010",
    "4000123456789010",
    "DE89 3704 0044 0532 0130 00",
    "536-22-1234",
    "AB 12 34 56 C",
    "X1234567L",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "fe80::1%eth0",
    "10 Downing Street, London SW1A 2AA",
    "42 Elm St, Springfield, IL 62704",
    "gh" + "p_" + _TOKEN,
    "api_key = '" + _TOKEN[:32] + "'",
    "postgres://u:" + _TOKEN[:12] + "@db/x",
    "Authorization: Bearer " + _TOKEN,
    "-----BEGIN RSA PRIVATE KEY-----\n" + _TOKEN + "\n-----END RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + _TOKEN[:20],
    "2024-01-15 10:30",
    "::",
    "@",
    "-",
    " ",
    "\n",
]

ANY_CHAR = st.characters(exclude_categories=())  # surrogates and unassigned code points included
MIXED = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=12)), max_size=12).map("".join)
TEXT = st.one_of(st.text(ANY_CHAR, max_size=300), MIXED)


def _check_spans(text: str, findings: list[Finding]) -> None:
    for f in findings:
        assert f.span is not None
        start, end = f.span
        assert 0 <= start < end <= len(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_scanners_never_raise_and_spans_are_in_range(text: str) -> None:
    _check_spans(text, PII.find(text))
    _check_spans(text, SECRETS.find(text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MIXED)
def test_mask_then_restore_is_the_identity_and_hides_every_value(text: str) -> None:
    findings = [*PII.find(text), *SECRETS.find(text)]
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    assert vault.restore(masked) == text
    redacted = redact(text, findings)
    for f in findings:
        assert f.span is not None
        value = text[f.span[0] : f.span[1]]
        assert value not in masked
        assert value not in redacted


@st.composite
def text_and_spans(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    text = draw(st.text(ANY_CHAR, max_size=200))
    spans = draw(
        st.lists(
            st.tuples(st.integers(-5, len(text) + 5), st.integers(0, 40)),
            max_size=8,
        )
    )
    findings = [Finding("pii.test", Category.PII, 0.5, "t", span=(s, s + n)) for s, n in spans]
    return text, findings


@settings(max_examples=300, deadline=None)
@given(text_and_spans())
def test_round_trip_holds_for_arbitrary_spans(case: tuple[str, list[Finding]]) -> None:
    text, findings = case
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    assert vault.restore(masked) == text
    # a second message through the same vault round-trips as well, reusing placeholders
    again = vault.mask(text, findings)
    assert again == masked
    assert vault.restore(again + masked) == text + text


_VALUE_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="[]_")


@st.composite
def text_with_values(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    """Text with long-enough values at known spans (values cannot contain the brackets of a placeholder)."""
    parts: list[str] = []
    findings: list[Finding] = []
    pos = 0
    for _ in range(draw(st.integers(0, 5))):
        gap = draw(st.text(_VALUE_CHARS, max_size=20))
        value = draw(st.text(_VALUE_CHARS, min_size=MIN_REPEAT_CHARS + 2, max_size=20))
        parts += [gap, value]
        pos += len(gap)
        findings.append(Finding("secret.test", Category.SECRET, 0.5, "t", span=(pos, pos + len(value))))
        pos += len(value)
    return "".join(parts), findings


@settings(max_examples=300, deadline=None)
@given(text_with_values())
def test_masked_text_never_contains_a_masked_value(case: tuple[str, list[Finding]]) -> None:
    text, findings = case
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    for f in findings:
        assert f.span is not None
        value = text[f.span[0] : f.span[1]]
        assert value not in masked, (value, masked)
    assert vault.restore(masked) == text
