"""The SDK gateway: decorator, breakers, kill switch, audit recording, and failing closed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warded import ops
from warded.audit.keys import public_key_path
from warded.core.types import Action, Verdict
from warded.errors import ApprovalRequired, AuditError, PolicyError, StoreError, ToolDenied
from warded.gateway.gateway import Gateway

POLICY = """
version: 1
agents:
  mailer:
    tools: [read_inbox, delete_email, send_email, pay, login]
tools:
  read_inbox:
    tier: read
  delete_email:
    tier: destructive
    args:
      id: {type: integer, required: true}
  send_email:
    tier: external
    args:
      to: {type: array, required: true, email: {allow: ["*@example.com"]}}
      body: {type: string}
  pay:
    tier: financial
    args:
      amount: {type: number, required: true, number: {min: 0, max: 1000}}
  login:
    tier: privileged
    args:
      password: {type: string, secret: true}
approval:
  tiers: [financial]
limits:
  - {id: delete-burst, tiers: [destructive], scope: session, max_calls: 20, window: 10m, on_exceed: pause}
audit:
  checkpoint_every: 50
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy_path(write_policy: Callable[[str], Path]) -> Path:
    return write_policy(POLICY)


@pytest.fixture
def gw(policy_path: Path, clock: FakeClock) -> Iterator[Gateway]:
    gateway = Gateway.from_file(policy_path, clock=clock)
    gateway.bind("mailer", "s1")
    yield gateway
    gateway.close()


def verify(policy_path: Path) -> int:
    db, keys = ops.resolve_log(str(policy_path), None, [])
    return ops.verify_log(db, keys).entries


def test_delete_loop_is_stopped_at_the_limit(gw: Gateway, policy_path: Path) -> None:
    mailbox = set(range(1, 101))

    @gw.tool(tier="destructive")
    def delete_email(id: int) -> None:
        mailbox.discard(id)

    deleted = 0
    with pytest.raises(ToolDenied) as info:
        for message_id in range(1, 101):
            delete_email(id=message_id)
            deleted += 1
    assert deleted == 20
    assert len(mailbox) == 80
    assert info.value.decision.rule_ids == ("limit.delete-burst",)
    # The session is paused: further writes are refused, reads still work.
    with pytest.raises(ToolDenied) as again:
        delete_email(id=99)
    assert again.value.decision.rule_ids[0] == "warded.session_paused"
    assert gw.check(Action("mailer", "s1", "read_inbox")).verdict is Verdict.ALLOW
    # Another session of the same agent is unaffected.
    assert gw.check(Action("mailer", "s2", "delete_email", {"id": 1})).verdict is Verdict.ALLOW
    gw.close()
    db, _ = ops.resolve_log(str(policy_path), None, [])
    kinds = [e.kind for e in ops.tail_log(db, 200)]
    assert kinds.count("session_paused") == 1
    assert kinds.count("alert") == 1
    assert verify(policy_path) == len(kinds)


def test_resume_from_another_process_view_lifts_the_pause(gw: Gateway, policy_path: Path, clock: FakeClock) -> None:
    for i in range(20):
        assert gw.check(Action("mailer", "s1", "delete_email", {"id": i})).allowed
    assert gw.check(Action("mailer", "s1", "delete_email", {"id": 21})).verdict is Verdict.DENY
    assert ops.resume_session(str(policy_path), "mailer", "s1") is True  # a separate connection, as the CLI does
    decision = gw.check(Action("mailer", "s1", "delete_email", {"id": 22}))
    assert decision.verdict is Verdict.ALLOW, decision.explain()


def test_manual_kill_switch_pauses_every_session_of_an_agent(gw: Gateway, policy_path: Path) -> None:
    ops.pause_session(str(policy_path), "mailer", None, "incident 42")
    for session in ("s1", "s9"):
        decision = gw.check(Action("mailer", session, "send_email", {"to": ["a@example.com"]}))
        assert decision.rule_ids == ("warded.session_paused",)
        assert "incident 42" in decision.reasons[0].message
    assert gw.check(Action("mailer", "s1", "read_inbox")).allowed
    ops.resume_session(str(policy_path), "mailer", None)
    assert gw.check(Action("mailer", "s1", "send_email", {"to": ["a@example.com"]})).allowed


def test_window_slides(gw: Gateway, clock: FakeClock) -> None:
    for i in range(20):
        assert gw.check(Action("mailer", "s1", "delete_email", {"id": i})).allowed
        clock.now += 10
    clock.now += 600  # all twenty are now outside the 10-minute window
    assert gw.check(Action("mailer", "s1", "delete_email", {"id": 99})).allowed


def test_decorator_runs_body_only_on_allow(gw: Gateway) -> None:
    calls: list[object] = []

    @gw.tool(tier="external")
    def send_email(to: list[str], body: str = "") -> str:
        calls.append(to)
        return "sent"

    assert send_email(["bob@example.com"], body="hi") == "sent"
    with pytest.raises(ToolDenied) as info:
        send_email(["eve@evil.example"])
    assert "arg.send_email.to.email" in info.value.decision.rule_ids
    assert "eve@evil.example" in info.value.diagnostics()
    assert calls == [["bob@example.com"]]


def test_approval_required_carries_request_id_and_records_request(gw: Gateway) -> None:
    paid: list[float] = []

    @gw.tool(tier="financial")
    def pay(amount: float) -> None:
        paid.append(amount)

    with pytest.raises(ApprovalRequired) as info:
        pay(amount=12.5)
    assert paid == []
    assert gw.approvals is not None
    request = gw.approvals.load_request(info.value.request_id)
    assert request is not None
    assert gw.approvals.status(request.id) == "pending"
    assert request.arguments == {"amount": 12.5}
    assert request.tool == "pay"
    entry = gw.audit.store.get(int(info.value.decision.id[1:]))
    assert entry is not None
    assert entry.body["approval_request"] == info.value.request_id


def test_approval_request_store_failure_denies(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: object) -> None:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(gw.approvals, "save_request", broken)
    decision = gw.check(Action("mailer", "s1", "pay", {"amount": 5}))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("store.unavailable",)
    monkeypatch.undo()


def test_unrecorded_approval_request_is_voided(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str, body: object) -> object:
        raise AuditError("disk full")

    monkeypatch.setattr(gw.audit, "append", broken)
    decision = gw.check(Action("mailer", "s1", "pay", {"amount": 5}))
    monkeypatch.undo()
    assert decision.rule_ids == ("audit.write_failed",)
    assert gw.approvals is not None
    assert gw.approvals.pending() == []


def test_async_tools_are_gated(gw: Gateway) -> None:
    ran: list[int] = []

    @gw.tool(name="delete_email", tier="destructive")
    async def delete(id: int) -> int:
        await asyncio.sleep(0)
        ran.append(id)
        return id

    async def main() -> list[object]:
        return await asyncio.gather(*(delete(id=i) for i in range(25)), return_exceptions=True)

    results = asyncio.run(main())
    assert sorted(ran) == list(range(20))
    assert sum(isinstance(r, ToolDenied) for r in results) == 5


def test_concurrent_threads_keep_limits_and_chain_exact(gw: Gateway, policy_path: Path) -> None:
    allowed: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            d = gw.check(Action("mailer", "s1", "delete_email", {"id": n * 100 + i}))
            if d.allowed:
                with lock:
                    allowed.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 20  # never more than the limit, whatever the interleaving
    gw.close()
    assert verify(policy_path) >= 80


def test_secret_arguments_never_reach_the_audit_db_in_plaintext(gw: Gateway, policy_path: Path) -> None:
    assert gw.check(Action("mailer", "s1", "login", {"password": "correct horse battery staple"})).allowed
    gw.close()
    db = Path(ops.resolve_log(str(policy_path), None, [])[0])
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"correct horse battery staple" not in raw
    entry = ops.tail_log(str(db), 3)
    decision = next(e for e in entry if e.kind == "decision")
    assert decision.body["action"]["arguments"]["password"]["$secret"] == "sha256-salted"


def test_huge_argument_is_denied_and_audited_compactly(gw: Gateway, policy_path: Path) -> None:
    decision = gw.check(Action("mailer", "s1", "send_email", {"to": ["a@example.com"], "body": "x" * 10_000_000}))
    assert decision.rule_ids == ("input.too_large",)
    gw.close()
    db = ops.resolve_log(str(policy_path), None, [])[0]
    entry = ops.show_entry(db, int(decision.id[1:]))
    assert entry is not None
    assert entry.body["action"]["arguments"]["body"]["length"] == 10_000_000
    assert Path(db).stat().st_size < 1_000_000


def test_audit_write_failure_denies(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str, body: object) -> object:
        raise AuditError("disk full")

    monkeypatch.setattr(gw.audit, "append", broken)
    decision = gw.check(Action("mailer", "s1", "read_inbox"))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("audit.write_failed",)
    monkeypatch.undo()


def test_state_store_failure_denies(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(agent: str, session: str) -> object:
        raise StoreError("database is locked")

    monkeypatch.setattr(gw.state, "paused", broken)
    decision = gw.check(Action("mailer", "s1", "read_inbox"))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("store.unavailable",)
    monkeypatch.undo()


def test_slow_decision_is_denied(policy_path: Path, clock: FakeClock) -> None:
    ticks = iter([0.0, 10.0])
    gateway = Gateway.from_file(policy_path, clock=clock)
    gateway._timer = lambda: next(ticks)
    try:
        decision = gateway.check(Action("mailer", "s1", "read_inbox"))
        assert decision.rule_ids == ("warded.timeout",)
    finally:
        gateway.close()


def test_unexpected_gateway_error_denies_and_is_recorded(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gw._sessions, "read", lambda action, now: 1 / 0)
    decision = gw.check(Action("mailer", "s1", "read_inbox"))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("warded.internal_error",)
    assert decision.id


def test_bad_call_signature_is_denied_not_crashed(gw: Gateway) -> None:
    @gw.tool(tier="read")
    def read_inbox() -> str:
        return "ok"

    with pytest.raises(ToolDenied) as info:
        read_inbox("unexpected")  # type: ignore[call-arg]
    assert info.value.decision.rule_ids == ("input.bad_call",)


def test_missing_agent_binding_is_denied(policy_path: Path) -> None:
    gateway = Gateway.from_file(policy_path)
    try:

        @gateway.tool(tier="read")
        def read_inbox() -> str:
            return "ok"

        with pytest.raises(ToolDenied):
            read_inbox()
    finally:
        gateway.close()


def test_gateway_refuses_to_start_on_bad_policy(write_policy: Callable[[str], Path], tmp_path: Path) -> None:
    path = write_policy(POLICY + "oops: true\n")
    with pytest.raises(PolicyError):
        Gateway.from_file(path)
    assert not (tmp_path / "warded-audit.db").exists()


def test_closed_gateway_denies(policy_path: Path) -> None:
    gateway = Gateway.from_file(policy_path)
    gateway.close()
    assert gateway.check(Action("mailer", "s1", "read_inbox")).rule_ids == ("warded.gateway_closed",)


def test_clean_shutdown_signs_final_checkpoint(gw: Gateway, policy_path: Path) -> None:
    for _ in range(3):
        gw.check(Action("mailer", "s1", "read_inbox"))
    gw.close()
    db = ops.resolve_log(str(policy_path), None, [])[0]
    conn = sqlite3.connect(db)
    head = conn.execute("SELECT MAX(seq) FROM audit_entries").fetchone()[0]
    last_cp = conn.execute("SELECT MAX(seq) FROM audit_checkpoints").fetchone()[0]
    conn.close()
    assert head == last_cp
    assert public_key_path(Path(db).parent / "warded-audit.key").exists()
