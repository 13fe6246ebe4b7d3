"""The ``email`` family: one address, strict syntax, IDNA domains, wildcard patterns, deny beats allow."""

from __future__ import annotations

from typing import Any

import pytest

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg

SPEC = {
    "email": {
        "allow": ["*@example.com", "bob@partner.org", "*@*.corp.org", "*@bücher.de"],
        "deny": ["ceo@example.com"],
    }
}


def checker(spec: dict[str, Any], tool: str = "send_email", arg: str = "to") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


CASES = [
    ("domain wildcard", "alice@example.com", True),
    ("domain is case-insensitive", "alice@EXAMPLE.COM", True),
    ("trailing dot on the domain", "alice@example.com.", True),
    ("exact address", "bob@partner.org", True),
    ("exact address, other case", "Bob@Partner.ORG", True),
    ("display name form", "Bob Smith <bob@partner.org>", True),
    ("display name, no space", "Bob<bob@partner.org>", True),
    ("angle brackets only", "<alice@example.com>", True),
    ("unicode display name", "José Núñez <alice@example.com>", True),
    ("subdomain wildcard", "x@eu.corp.org", True),
    ("subdomain wildcard, deeper", "x@a.b.corp.org", True),
    ("IDNA domain in unicode", "x@BÜCHER.de", True),
    ("IDNA domain in punycode", "x@xn--bcher-kva.de", True),
    ("other user at the exact-address domain", "eve@partner.org", False),
    ("subdomain wildcard does not match the parent", "x@corp.org", False),
    ("suffix without a dot", "x@evilcorp.org", False),
    ("allowed domain as a subdomain of evil", "x@example.com.evil.net", False),
    ("denied address", "ceo@example.com", False),
    ("denied address, other case", "CEO@Example.Com", False),
    ("denied address, sub-addressed", "ceo+board@example.com", False),
    ("denied address in a display name form", "The CEO <ceo@example.com>", False),
    ("Cyrillic homoglyph domain", "alice@exаmple.com", False),
    ("ambiguous IDNA (sharp s)", "x@büßcher.de", False),
    ("zero-width space in the domain", "x@exam\u200bple.com", False),
    ("full-width at sign", "alice\uff20example.com", False),
    ("two addresses, comma", "a@example.com, b@example.com", False),
    ("two addresses, semicolon", "a@example.com;eve@evil.com", False),
    ("allowed then evil in angle brackets", "a@example.com <eve@evil.com>", False),
    ("evil in the display name", "eve@evil.com <alice@example.com>", False),
    ("full-width brackets in the display name", "x\uff1ceve\uff20evil.com\uff1e <a@example.com>", False),
    ("quoted local part", '"alice@example.com"@evil.com', False),
    ("quoted display name", '"Smith, J" <alice@example.com>', False),
    ("comment", "alice@example.com(comment)", False),
    ("comment smuggling an address", "alice(@example.com)@evil.com", False),
    ("CRLF header injection", "alice@example.com\r\nBcc: eve@evil.com", False),
    ("LF inside", "alice@exa\nmple.com", False),
    ("space inside the address", "alice @example.com", False),
    ("tab inside", "alice@example.com\t", False),
    ("leading space", " alice@example.com", False),
    ("missing @", "alice.example.com", False),
    ("two @", "alice@evil.com@example.com", False),
    ("empty local part", "@example.com", False),
    ("dot at the end of the local part", "alice.@example.com", False),
    ("IP literal domain", "alice@[127.0.0.1]", False),
    ("bare IP domain", "alice@127.0.0.1", False),
    ("domain without a dot", "alice@localhost", False),
    ("non-ASCII local part", "алиса@example.com", False),
    ("source route", "@evil.com:alice@example.com", False),
    ("encoded-word in the local part", "=?utf-8?q?eve=40evil.com?=@example.com", False),
    ("percent-hack relay", "eve%evil.com@example.com", False),
    ("bang path relay", "evil.com!eve@example.com", False),
    ("empty string", "", False),
    ("very long local part", "a" * 65 + "@example.com", False),
]


@pytest.mark.parametrize(("case", "value", "ok"), CASES, ids=[c[0] for c in CASES])
def test_email_cases(case: str, value: str, ok: bool) -> None:
    violations = checker(SPEC).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.send_email.to.email"], case


def test_recipient_lists_check_every_element() -> None:
    check = checker(SPEC).check
    assert check(["alice@example.com", "bob@partner.org"]) == []
    assert check([]) == []
    [violation] = check(["alice@example.com", "eve@evil.com"])
    assert "eve@evil.com" in violation.message and "(element 1)" in violation.message


@pytest.mark.parametrize("value", [5, None, True, ["a@example.com", 5], {"to": "a@example.com"}])
def test_non_strings(value: object) -> None:
    assert [v.rule_id for v in checker(SPEC).check(value)] == ["arg.send_email.to.email"]


def test_deny_only_list() -> None:
    check = checker({"email": {"deny": ["*@evil.com", "*@*.evil.com"]}}).check
    assert check("anyone@anywhere.org") == []
    assert check("x@evil.com") != []
    assert check("x@mail.evil.com") != []
    assert check("not an address") != []


def test_deny_beats_allow() -> None:
    check = checker({"email": {"allow": ["*@example.com"], "deny": ["*@example.com"]}}).check
    assert check("a@example.com") != []


def test_secret_addresses_are_not_echoed() -> None:
    [violation] = checker(SPEC | {"secret": True}).check("eve@evil.com")
    assert "eve" not in violation.message
    [violation] = checker(SPEC | {"secret": True}).check("eve@evil.com\r\n")
    assert "eve" not in violation.message


BAD = [
    ({"allow": []}, "empty list"),
    ({}, "constrains nothing"),
    ({"allow": ["*@*"]}, "'*@*'"),
    ({"allow": ["*"]}, "'*'"),
    ({"allow": ["a*@example.com"]}, "a*@example.com"),
    ({"allow": ["*@*.*.com"]}, "*@*.*.com"),
    ({"allow": ["not-an-address"]}, "not-an-address"),
    ({"allow": ["Bob <bob@x.com>"]}, "Bob <bob@x.com>"),
    ({"deny": ["*@exa mple.com"]}, "exa mple.com"),
    ({"allow": ["*@faß.de"]}, "IDNA"),
]


@pytest.mark.parametrize(("email", "needle"), BAD)
def test_unusable_specs(email: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match="tool 'send_email', argument 'to'") as info:
        checker({"email": email})
    assert needle in str(info.value)
