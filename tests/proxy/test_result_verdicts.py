"""The three edges that pass content back (gateway results, MCP tool definitions, chat model text) share one
verdict, ``decide_result``: a redaction that cannot be located is never delivered uncut."""

from __future__ import annotations

import pytest

from warded.core.types import Verdict
from warded.core.walk import Text
from warded.decide.result import decide_result
from warded.proxy.chat._guard import OutputGuard
from warded.proxy.mcp.proxy import _poisons
from warded.scan.pipeline import Applied, ScanResult
from warded.scan.types import Category, Finding, Response, Source

TEXT = "call Ada on 020 7946 0958 today"
PHONE = (12, 25)


def _applied(response: Response, span: tuple[int, int] | None, category: Category = Category.PII) -> Applied:
    return Applied(Finding("pii.phone", category, 0.9, "a phone number", span=span), response)


def _chat(applied: Applied) -> tuple[str, tuple[Applied, ...]]:
    guard = OutputGuard(lambda text: ScanResult(Source.MODEL_OUTPUT, (applied,)), lambda text: text)
    return guard.complete(TEXT), guard.blocked


@pytest.mark.parametrize(
    ("response", "span", "released", "blocked"),
    [
        pytest.param(Response.LABEL, PHONE, TEXT, False, id="label-passes"),
        pytest.param(Response.REDACT, PHONE, "call Ada on [REDACTED:pii.phone] today", False, id="redact-cuts"),
        pytest.param(Response.REDACT, None, "", True, id="redact-without-span-blocks"),
        pytest.param(
            Response.REQUIRE_APPROVAL, PHONE, "call Ada on [REDACTED:pii.phone] today", False, id="approval-cuts"
        ),
        pytest.param(Response.REQUIRE_APPROVAL, None, "", True, id="approval-without-span-blocks"),
        pytest.param(Response.DENY, PHONE, "", True, id="deny-blocks"),
    ],
)
def test_chat_guard_releases_what_the_verdict_allows(
    response: Response, span: tuple[int, int] | None, released: str, blocked: bool
) -> None:
    text, blocking = _chat(_applied(response, span))
    assert text == released
    assert bool(blocking) is blocked


@pytest.mark.parametrize(
    ("applied", "poisoned"),
    [
        pytest.param(_applied(Response.LABEL, PHONE), False, id="label"),
        pytest.param(_applied(Response.REDACT, PHONE), False, id="redact-with-span"),
        pytest.param(_applied(Response.REDACT, None), True, id="redact-without-span"),
        pytest.param(_applied(Response.DENY, PHONE), True, id="deny"),
        pytest.param(_applied(Response.LABEL, None, Category.PROMPT_INJECTION), True, id="injection-category"),
    ],
)
def test_mcp_definition_is_poisoned_by_what_the_verdict_withholds(applied: Applied, poisoned: bool) -> None:
    judged = decide_result([(Text(TEXT), applied)])
    assert _poisons(applied, judged) is poisoned


def test_a_redaction_without_span_is_withheld_on_every_edge() -> None:
    applied = _applied(Response.REDACT, None)
    assert decide_result([(Text(TEXT), applied)]).verdict is Verdict.REQUIRE_APPROVAL  # gateway: ask a human
    assert _chat(applied)[1] == (applied,)  # chat: nobody to ask, blocked
    assert _poisons(applied, decide_result([(Text(TEXT), applied)]))  # MCP: hidden until an operator approves


def test_regression_chat_finding_begun_in_released_text_is_cut_without_hanging() -> None:
    """A finding that starts in already released context and runs into held text once sent the release loop
    round forever (moving back to its start, which is the released offset, again and again)."""

    def scan(window: str) -> ScanResult:
        if "Z" not in window:
            return ScanResult(Source.MODEL_OUTPUT, ())
        return ScanResult(Source.MODEL_OUTPUT, (_applied(Response.REDACT, (0, len(window))),))

    guard = OutputGuard(scan, lambda text: text, context_chars=8, max_hold=20)
    guard.append("hello ")
    assert guard.poll() == "hello "
    guard.append("Z more wor")
    assert guard.poll() == "[REDACTED:pii.phone]"
    guard.append("ds")
    assert guard.finish() == "[REDACTED:pii.phone]"
    assert not guard.blocked
