"""One "remember the pending approval" helper for the MCP and chat proxies."""

from __future__ import annotations

from warded.approve.store import RequestStatus
from warded.core.types import Action, Decision, Verdict
from warded.errors import StoreError
from warded.proxy._pending import PendingApprovals

CALL = Action("agent", "s1", "send_email", {"to": "a@b.c", "body": "hi"})
SAME = Action("agent", "s1", "send_email", {"body": "hi", "to": "a@b.c"})  # key order does not matter
OTHER_ARGS = Action("agent", "s1", "send_email", {"to": "evil@x.y", "body": "hi"})
OTHER_SESSION = Action("agent", "s2", "send_email", {"to": "a@b.c", "body": "hi"})


class Store:
    def __init__(self, statuses: dict[str, RequestStatus]) -> None:
        self.statuses = statuses

    def status(self, request_id: str) -> RequestStatus | None:
        return self.statuses.get(request_id)


class Broken:
    def status(self, request_id: str) -> RequestStatus | None:
        raise StoreError("disk on fire")


def _decision(verdict: Verdict, request_id: str = "") -> Decision:
    return Decision(verdict=verdict, reasons=(), request_id=request_id)


def test_the_same_call_presents_its_request_once_approved() -> None:
    pending = PendingApprovals()
    pending.settle(CALL, _decision(Verdict.REQUIRE_APPROVAL, "r1"), None)
    assert pending.approved(Store({"r1": RequestStatus.PENDING}), SAME) is None
    assert pending.approved(Store({"r1": RequestStatus.APPROVED}), SAME) == "r1"
    for other in (OTHER_ARGS, OTHER_SESSION):
        assert pending.approved(Store({"r1": RequestStatus.APPROVED}), other) is None


def test_nothing_is_presented_without_a_store_or_when_it_fails() -> None:
    pending = PendingApprovals()
    pending.remember(CALL, "r1")
    assert pending.approved(None, CALL) is None
    assert pending.approved(Broken(), CALL) is None
    for status in (RequestStatus.DENIED, RequestStatus.USED, RequestStatus.VOID):
        assert pending.approved(Store({"r1": status}), CALL) is None


def test_an_allow_spends_the_request_a_deny_keeps_it() -> None:
    pending = PendingApprovals()
    pending.remember(CALL, "r1")
    pending.settle(CALL, _decision(Verdict.DENY), "r1")
    assert len(pending) == 1
    pending.settle(CALL, _decision(Verdict.ALLOW), "r1")
    assert len(pending) == 0


def test_bounded_oldest_forgotten_first() -> None:
    pending = PendingApprovals(max_items=2)
    calls = [Action("agent", "s", "t", {"n": n}) for n in range(3)]
    for n, call in enumerate(calls):
        pending.remember(call, f"r{n}")
    approved = Store({f"r{n}": RequestStatus.APPROVED for n in range(3)})
    assert [pending.approved(approved, call) for call in calls] == [None, "r1", "r2"]
    pending.remember(calls[0], "")  # a blank id is ignored
    assert len(pending) == 2
