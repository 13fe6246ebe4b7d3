"""The ``domain`` family: URL or bare host, userinfo/backslash/whitespace tricks, IDNA, IP spellings."""

from __future__ import annotations

from typing import Any

import pytest

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg

SPEC = {
    "domain": {
        "allow": ["example.com", "*.example.org", "10.0.0.1", "[2001:db8::1]", "bücher.de"],
        "deny": ["blocked.example.org"],
    }
}


def checker(spec: dict[str, Any], tool: str = "fetch", arg: str = "url") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


CASES = [
    ("https URL", "https://example.com/path?q=1#frag", True),
    ("http URL", "http://example.com", True),
    ("scheme and host case", "HTTPS://EXAMPLE.COM/", True),
    ("trailing dot", "https://example.com./", True),
    ("port", "https://example.com:8443/x", True),
    ("bare hostname", "example.com", True),
    ("bare hostname, trailing dot", "example.com.", True),
    ("strict subdomain", "https://a.example.org", True),
    ("deeper subdomain", "https://a.b.example.org/", True),
    ("listed IPv4", "http://10.0.0.1:8080/", True),
    ("listed IPv6", "http://[2001:db8::1]/", True),
    ("listed IPv6, other spelling", "http://[2001:0db8:0:0::1]/", True),
    ("IDNA host in unicode", "https://BÜCHER.de/", True),
    ("IDNA host in punycode", "https://xn--bcher-kva.de/", True),
    ("fragment that looks like userinfo", "https://example.com#@evil.com", True),
    ("wildcard parent is not included", "https://example.org/", False),
    ("look-alike suffix", "https://badexample.org/", False),
    ("allowed name as a subdomain of evil", "https://example.com.evil.net/", False),
    ("denied subdomain", "https://blocked.example.org/", False),
    ("denied subdomain, trailing dot and case", "https://BLOCKED.example.org./", False),
    ("userinfo", "https://example.com@evil.com/", False),
    ("userinfo with password", "https://user:pw@example.com/", False),
    ("percent-encoded slash before userinfo", "https://example.com%2F@evil.com/", False),
    ("percent-encoded host", "https://ex%61mple.com/", False),
    ("backslash", "https://evil.com\\@example.com/", False),
    ("backslash as slash", "https:\\\\example.com", False),
    ("tab removed by urlsplit", "https://exa\tmple.com/", False),
    ("newline", "https://example.com\n.evil.com/", False),
    ("leading space", " https://example.com/", False),
    ("NUL", "https://example.com\x00.evil.com/", False),
    ("unicode line separator", "https://example.com\u2028/", False),
    ("scheme not allowed", "ftp://example.com/", False),
    ("javascript scheme", "javascript://example.com/%0aalert(1)", False),
    ("file URL", "file:///etc/passwd", False),
    ("scheme without slashes", "https:example.com", False),
    ("scheme-relative", "//example.com/", False),
    ("empty host", "https:///example.com", False),
    ("Cyrillic homoglyph", "https://exаmple.com/", False),
    ("ambiguous IDNA (sharp s)", "https://faß.de/", False),
    ("zero-width joiner", "https://exam\u200dple.com/", False),
    ("full-width dot", "https://example\uff0ecom/", False),
    ("unlisted IP", "http://10.0.0.2/", False),
    ("decimal IP", "http://167772161/", False),
    ("hex IP", "http://0xa000001/", False),
    ("octal IP", "http://012.0.0.1/", False),
    ("short IP", "http://10.1/", False),
    ("IPv4-mapped IPv6 of an unlisted IP", "http://[::ffff:10.0.0.2]/", False),
    ("IPv6 with zone", "http://[fe80::1%25eth0]/", False),
    ("bad port", "https://example.com:99999/", False),
    ("empty port", "https://example.com:/", False),
    ("non-numeric port", "https://example.com:http/", False),
    ("bare host with port", "example.com:443", False),
    ("bare host with path", "example.com/x", False),
    ("empty string", "", False),
    ("empty label", "https://example..com/", False),
    ("label too long", "https://" + "a" * 64 + ".example.org/", False),
    ("underscore-free invalid char", "https://exa!mple.com/", False),
]


@pytest.mark.parametrize(("case", "value", "ok"), CASES, ids=[c[0] for c in CASES])
def test_domain_cases(case: str, value: str, ok: bool) -> None:
    violations = checker(SPEC).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.fetch.url.domain"], case


def test_ipv4_mapped_listed_ip_matches() -> None:
    assert checker(SPEC).check("http://[::ffff:10.0.0.1]/") == []


def test_deny_list_catches_ip_spellings() -> None:
    check = checker({"domain": {"deny": ["127.0.0.1", "localhost"]}}).check
    assert check("https://example.net/") == []
    for value in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://LOCALHOST./",
    ]:
        assert check(value) != [], value


def test_schemes_setting() -> None:
    check = checker({"domain": {"allow": ["example.com"], "schemes": ["https"]}}).check
    assert check("https://example.com/") == []
    assert check("http://example.com/") != []
    assert check("example.com") == []  # a bare hostname has no scheme


def test_lists_check_every_element() -> None:
    check = checker(SPEC).check
    assert check(["https://example.com/", "a.example.org"]) == []
    assert check([]) == []
    assert check(["https://example.com/", "https://evil.com/"]) != []


@pytest.mark.parametrize("value", [5, None, b"https://example.com/", ["https://example.com/", None]])
def test_non_strings(value: object) -> None:
    assert [v.rule_id for v in checker(SPEC).check(value)] == ["arg.fetch.url.domain"]


def test_secret_urls_are_not_echoed() -> None:
    for value in ["https://evil.com/?token=hunter2", "hunter2://x", "https://hunter2@example.com"]:
        [violation] = checker(SPEC | {"secret": True}).check(value)
        assert "hunter2" not in violation.message


BAD = [
    ({"allow": []}, "empty list"),
    ({}, "constrains nothing"),
    ({"allow": ["*"]}, "catch-all"),
    ({"allow": ["*.*.com"]}, "whole first label"),
    ({"allow": ["ex*.com"]}, "whole first label"),
    ({"allow": ["*."]}, "empty"),
    ({"allow": ["exa mple.com"]}, "invalid label"),
    ({"allow": ["faß.de"]}, "IDNA"),
    ({"allow": ["127.1"]}, "non-canonical"),
    ({"allow": ["example.com"], "schemes": []}, "schemes is empty"),
    ({"allow": ["example.com"], "schemes": ["HTTPS"]}, "lowercase URL scheme"),
]


@pytest.mark.parametrize(("domain", "needle"), BAD)
def test_unusable_specs(domain: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match="tool 'fetch', argument 'url'") as info:
        checker({"domain": domain})
    assert needle in str(info.value)
