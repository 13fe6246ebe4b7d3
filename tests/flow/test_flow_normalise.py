"""Value extraction by properties: any IBAN of any country's length, in any text and grouping; any domain
under a public suffix; e-mail addresses and links in obfuscated forms; normal forms that round-trip."""

from __future__ import annotations

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.flow.normalise import canonical_text, compact_account, deobfuscate, iban_length, registrable
from warded.flow.values import Kind, Value, argument_values, extract

COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries if iban_length(c.alpha_2) is not None)
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
WORDS = st.sampled_from(["for", "the", "to", "and", "rent", "pay", "a", "IBAN:", "now.", "x", "due", "(ref", "ok,"])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_registry_has_every_length_that_broke_the_old_extractor() -> None:
    lengths = {iban_length(c) for c in COUNTRIES}
    assert {16, 20, 24, 28} <= lengths  # bodies a multiple of 4: BE, AT/LT/LU, ES/SE/CZ/SK, PL/HU
    assert len(COUNTRIES) > 80
    assert iban_length("US") is None


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(COUNTRIES))
    length = iban_length(country)
    assert length is not None
    digits = draw(st.text(alphabet="0123456789", min_size=2, max_size=2))
    body = draw(st.text(alphabet=ALNUM, min_size=length - 4, max_size=length - 4))
    return country + digits + body


def _group(iban: str, how: str) -> str:
    if how == "none":
        return iban
    sep = {"spaces": " ", "dashes": "-", "dots": "."}[how]
    return sep.join(iban[i : i + 4] for i in range(0, len(iban), 4))


@SETTINGS
@given(
    iban=ibans(),
    how=st.sampled_from(["none", "spaces", "dashes", "dots"]),
    before=st.lists(WORDS, max_size=3),
    after=st.lists(WORDS, max_size=3),
    lower=st.booleans(),
)
def test_any_iban_in_any_text_and_grouping_is_found_exactly(
    iban: str, how: str, before: list[str], after: list[str], lower: bool
) -> None:
    shown = _group(iban, how)
    if lower:
        shown = shown.lower()
    text = " ".join([*before, shown, *after])
    wanted = Value(Kind.IBAN, iban, "")
    keys = {(v.kind, v.key) for v in extract(text)}
    assert (wanted.kind, wanted.key) in keys, text
    # As an argument, the IBAN is read as the bank reads it: exactly, whatever its grouping.
    arg = {(v.kind, v.key) for v in argument_values(shown)}
    assert arg == {(Kind.IBAN, iban)}


def test_the_old_extractor_bug_is_gone() -> None:
    # A 16-character Belgian IBAN followed by a short word was indexed as "...7034FOR".
    found = {v.key for v in extract("Please send it to BE68539007547034 for the rent") if v.kind is Kind.IBAN}
    assert "BE68539007547034" in found
    assert {v.key for v in argument_values("BE68539007547034")} == {"BE68539007547034"}


def test_a_non_iban_country_keeps_its_whole_number_before_a_word() -> None:
    found = {v.key for v in extract("to US133000000121212121212 for the gift") if v.kind is Kind.IBAN}
    assert "US133000000121212121212" in found


LABEL = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
SUFFIXES = ["com", "top", "xyz", "co.uk", "io", "dev", "bank", "zip", "info", "de", "com.au", "online", "app"]


@SETTINGS
@given(
    name=LABEL, sub=st.one_of(st.none(), LABEL), suffix=st.sampled_from(SUFFIXES), before=st.lists(WORDS, max_size=2)
)
def test_any_domain_under_a_public_suffix_is_a_value(
    name: str, sub: str | None, suffix: str, before: list[str]
) -> None:
    domain = f"{sub}.{name}.{suffix}" if sub else f"{name}.{suffix}"
    text = " ".join([*before, f"visit {domain} today"])
    assert domain in {v.key for v in extract(text) if v.kind is Kind.DOMAIN}
    assert registrable(domain) is not None


@pytest.mark.parametrize("text", ["notes.txt", "co.uk", "x.invalidtld", "a", "3.14"])
def test_what_is_not_under_a_public_suffix_is_not_a_domain(text: str) -> None:
    assert registrable(text) is None
    assert not {v for v in extract(f"see {text}") if v.kind is Kind.DOMAIN}


LOCAL = st.from_regex(r"[a-z][a-z0-9._]{0,8}[a-z0-9]", fullmatch=True)
AT_FORMS = [" at ", " AT ", "[at]", " [at] ", "(at)", " (at) ", "{at}", "<at>", " @ ", "[@]"]
DOT_FORMS = [" dot ", " DOT ", "[dot]", " (dot) ", "(.)", "[.]", " . "]


@SETTINGS
@given(
    local=LOCAL,
    name=LABEL,
    suffix=st.sampled_from(["com", "top", "net", "co.uk", "io"]),
    at=st.sampled_from(AT_FORMS),
    dot=st.sampled_from(DOT_FORMS),
    before=st.lists(WORDS, max_size=2),
    after=st.lists(WORDS, max_size=2),
)
def test_obfuscated_email_addresses_are_put_back_together(
    local: str, name: str, suffix: str, at: str, dot: str, before: list[str], after: list[str]
) -> None:
    address = f"{local}@{name}.{suffix}"
    spelled = local + at + name + dot + suffix.replace(".", dot)
    text = " ".join([*before, "write to", spelled, *after])
    assert address in {v.key for v in extract(text) if v.kind is Kind.EMAIL}, text
    # The same spelling in an argument is the same recipient.
    assert address in {v.key for v in argument_values(spelled) if v.kind is Kind.EMAIL}


@pytest.mark.parametrize("spelled", ["a@b . com", "a@b. com", "a@b .com", "a @b.com", "a@ b.com"])
def test_spaces_around_the_parts_of_an_address_are_closed(spelled: str) -> None:
    assert "a@b.com" in {v.key for v in extract(f"reply to {spelled} today") if v.kind is Kind.EMAIL}


def test_defanged_links_are_links() -> None:
    assert "https://evil.top/pay" in {v.key for v in extract("open hxxps://evil[.]top/pay now") if v.kind is Kind.URL}
    assert "evil.top" in {v.key for v in extract("go to evil dot top") if v.kind is Kind.DOMAIN}


def test_ordinary_prose_is_not_rewritten_into_addresses() -> None:
    assert deobfuscate("meet me at noon in the lobby") == "meet me at noon in the lobby"
    assert not {v for v in extract("look at the dot on the map") if v.kind in (Kind.EMAIL, Kind.DOMAIN)}
    # A known over-reading: "the dot in" spells a name under India's ".in". An extra value only adds a sighting
    # (or asks for a justification); it never makes anything allowed.
    assert "the.in" in {v.key for v in extract("look at the dot in the corner")}


@SETTINGS
@given(iban=ibans(), how=st.sampled_from(["none", "spaces", "dashes", "dots"]), lower=st.booleans())
def test_account_normal_form_round_trips(iban: str, how: str, lower: bool) -> None:
    shown = _group(iban, how)
    assert compact_account(shown.lower() if lower else shown) == iban
    assert compact_account(compact_account(shown)) == compact_account(shown)


@SETTINGS
@given(st.text(max_size=200))
def test_canonical_text_is_idempotent(text: str) -> None:
    once = canonical_text(text)
    assert canonical_text(once) == once


def test_canonical_text_folds_look_alikes_case_and_space() -> None:
    assert canonical_text("Pay  the\tRENT") == canonical_text("pay the rent")
    assert canonical_text("pаy the rent") == "pay the rent"  # Cyrillic "а"


@pytest.mark.parametrize(
    ("shown", "digits"),
    [("+1 (555) 123-4567", "15551234567"), ("555-123-4567", "5551234567"), ("+44 20 7946 0958", "442079460958")],
)
def test_phone_numbers_compare_by_their_digits(shown: str, digits: str) -> None:
    assert digits in {v.key.lstrip("+") for v in argument_values(shown) if v.kind in (Kind.NUMBER, Kind.IBAN)}
