"""audit.format: bounded JSON-safe copies, and the obligations (hash secret arguments, hide texts) honoured."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from warded.audit.format import (
    MASKED_ARGUMENT,
    MAX_AUDIT_STRING,
    audit_action,
    audit_value,
    decision_record,
    hide_spans,
    result_record,
)
from warded.audit.secrets import is_secret_record
from warded.core.types import Action, Decision, Reason, Tier, Verdict
from warded.core.walk import Text

LONG = "é" * (MAX_AUDIT_STRING + 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("short", "short", id="ascii"),
        pytest.param(None, None, id="none"),
        pytest.param(True, True, id="bool"),
        pytest.param(7, 7, id="int"),
        pytest.param(1.5, 1.5, id="float"),
        pytest.param(float("nan"), "nan", id="nan-as-text"),
        pytest.param("\ud800x", "\\ud800x", id="lone-surrogate-escaped"),
        pytest.param(b"ab", {"$bytes": 2, "sha256": hashlib.sha256(b"ab").hexdigest()}, id="bytes-hashed"),
        pytest.param(("a", 1), ["a", 1], id="tuple"),
        pytest.param({1: "x"}, {"1": "x"}, id="keys-as-text"),
        pytest.param(object(), {"$type": "object"}, id="unknown-type"),
    ],
)
def test_audit_value(value: object, expected: object) -> None:
    assert audit_value(value) == expected


def test_audit_value_bounds() -> None:
    long = audit_value(LONG)
    assert isinstance(long, dict) and long["$truncated"] and long["length"] == len(LONG)
    assert long["head"] == LONG[:256]
    assert audit_value(list(range(300)))[-1] == {"$omitted_items": 44}  # type: ignore[index]
    many = audit_value({str(i): i for i in range(300)})
    assert isinstance(many, dict) and many["$omitted_keys"] == 44
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    assert "too deep" in repr(audit_value(deep))


def test_hide_spans_takes_the_span_or_the_whole_text_and_skips_places_that_are_not_texts() -> None:
    out: dict[str, str] = {}
    hide_spans(
        [
            (Text("card 4111 now", index=0), (5, 9), "pii.card"),
            (Text("all of it", index=1), None, "secret.key"),
            (Text("", index=2), None, "empty"),
            (Text("stopped here", index=-1), None, "scan.too_deep"),
            (Text("abc", index=3), (2, 99), "clipped"),
            (Text("abc", index=4), (2, 2), "empty-span"),
        ],
        out,
    )
    assert out == {"4111": "pii.card", "all of it": "secret.key", "c": "clipped"}


def test_audit_action_hashes_secret_arguments_and_hides_texts() -> None:
    action = Action("a1", "s1", "pay", {"token": "sk_live_123456", "note": "card 4111 here"}, Tier.FINANCIAL)
    audited = audit_action(action, frozenset({"token"}), {"4111": "pii.card"})
    assert is_secret_record(audited["arguments"]["token"])
    assert audited["arguments"]["note"] == "card [REDACTED:pii.card] here"
    assert audited["tier"] == "financial" and audited["tool"] == "pay"
    assert audit_action("not an action", frozenset()) == {"$invalid": "str"}


def test_decision_record_scrubs_everything_and_masks_quoted_secret_arguments() -> None:
    action = Action("a1", "s1", "pay", {"token": "sk_live_123456"})
    decision = Decision(Verdict.DENY, (Reason("flow.untrusted", "token sk_live_123456 came from a tool"),))
    extra = {"taint": [{"argument": "token", "value": "sk_live_123456"}, {"argument": "other", "value": "v"}]}
    body = decision_record(action, decision, frozenset({"token"}), {"sk_live_123456": "arg.pay.token.secret"}, extra)
    assert "sk_live_123456" not in repr(body)
    assert body["taint"][0]["value"] == MASKED_ARGUMENT
    assert body["taint"][1]["value"] == "v"
    assert body["decision"]["reasons"][0]["message"] == "token [REDACTED:arg.pay.token.secret] came from a tool"


def test_result_record() -> None:
    action = Action("a1", "s1", "read", {})
    findings = [{"path": "result", "rule_id": "pii.card", "message": "4111 found"}]
    body = result_record(action, "redact", findings, frozenset(), {"4111": "pii.card"})
    assert body["findings"][0]["message"] == "[REDACTED:pii.card] found" and body["response"] == "redact"
    assert "refused" not in body
    refused = result_record(action, "deny", [], frozenset(), {}, refused={"rule_id": "x", "message": "y"})
    assert refused["refused"] == {"rule_id": "x", "message": "y"}
