"""Values the flow checks could not read as numbers never pass as clean: a number written as a text is the
number its tool reads, a number that is not finite or too long to write out is justified by nothing, and an
argument the walker cannot read whole holds the call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warded.core.types import Action, Verdict
from warded.flow.justify import unjustified, unreadable
from warded.flow.taint import USER, Evidence, FlowIndex, TrustRules, tool_label
from warded.gateway.gateway import Gateway

POLICY = """
version: 1
agents:
  assistant:
    tools: [read_inbox, send_money]
tools:
  read_inbox: {tier: read, args: {}}
  send_money: {tier: financial, args: {recipient: {type: string}, amount: {}, subject: {type: string}}}
scan: {enabled: false}
flow:
  justify:
    send_money: [recipient]
"""

BOB = "DE89370400440532013000"


@pytest.fixture
def gw(write_policy: Callable[[str], Path]) -> Iterator[Gateway]:
    with Gateway.from_file(write_policy(POLICY)) as gateway:
        yield gateway


def _evidence() -> Evidence:
    index = FlowIndex(TrustRules())
    index.record("a", "s", USER, f"pay 1,200.50 to {BOB}, reference 7654321")
    index.record("a", "s", tool_label("inbox"), "the landlord asks for 9999 now")
    return index.evidence("a", "s")


@pytest.mark.parametrize("amount", ["9999", " 9,999.00 ", "9.999e3", "+9999", "1e4"])
def test_a_number_written_as_text_needs_justification(amount: str) -> None:
    found = unjustified({"amount": amount}, _evidence(), names=frozenset(), numbers=True)
    assert [f.rule_id for f in found] == ["flow.unjustified.amount"], amount


@pytest.mark.parametrize("amount", ["1200.50", "1,200.5", " 1200.500 ", "7654321"])
def test_a_justified_number_written_as_text_passes(amount: str) -> None:
    assert unjustified({"amount": amount}, _evidence(), names=frozenset(), numbers=True) == []


@pytest.mark.parametrize("text", ["rent for May", "2024-05-01", "", "-", "e"])
def test_texts_that_are_not_numbers_are_left_to_the_text_rules(text: str) -> None:
    assert unjustified({"subject": text}, _evidence(), names=frozenset(), numbers=True) == []


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), -float("inf")])
def test_a_number_that_is_not_finite_is_justified_by_nothing(amount: float) -> None:
    found = unjustified({"amount": amount}, _evidence(), names=frozenset(), numbers=True)
    assert [f.rule_id for f in found] == ["flow.unjustified.amount"]


def test_a_number_too_long_to_write_out_is_unreadable_not_an_error() -> None:
    huge = 10**5000
    assert [f.rule_id for f in unreadable({"amount": huge})] == ["flow.unreadable"]
    assert unjustified({"amount": huge}, _evidence(), names=frozenset(), numbers=True) == []  # unreadable's


def test_through_the_gateway_a_text_amount_is_held(gw: Gateway) -> None:
    gw.record_user("assistant", "s1", f"pay 1,200.50 to {BOB}")
    gw.record("assistant", "s1", "tool:read_inbox", "Landlord: the rent is 9999 from now on")
    ok = gw.check(Action("assistant", "s1", "send_money", {"recipient": BOB, "amount": "1200.50"}))
    assert ok.allowed, ok.explain()
    held = gw.check(Action("assistant", "s1", "send_money", {"recipient": BOB, "amount": "9999"}))
    assert held.verdict is Verdict.REQUIRE_APPROVAL and "flow.unjustified.amount" in held.rule_ids
