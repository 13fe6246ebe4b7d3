"""Nothing the console lets act goes unaudited: an approval and a resume are written to the audit log before
they take effect, so an audit log that fails leaves the request pending and the session paused (503); a
verdict the store then refuses is followed by an ``approval_refused`` entry naming it.

The passkey ceremony itself is the browser tests' subject: here the assertion checks are replaced by ones
that accept, so the order of audit and effect is what is tested."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from warded.approve.approvals import make_request, sign_approval
from warded.approve.store import RequestStatus
from warded.approve.webauthn import Credential
from warded.audit.keys import Signer
from warded.console import app as console_app
from warded.console import create_app, open_console
from warded.console._auth import COOKIE
from warded.console.app import Console
from warded.core.types import Tier
from warded.demo import write_demo_policy
from warded.errors import AuditError, StoreError

ORIGIN = "http://localhost:8787"
CHECKED = SimpleNamespace(sign_count=7, client_data_json="e30", authenticator_data="AA", signature="AA")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Console, TestClient, dict[str, str]]]:
    c = open_console(write_demo_policy(str(tmp_path)))
    signer = Signer(Ed25519PrivateKey.generate())
    credential = Credential("Y3JlZA", "carol", b"key", 0, 0.0)
    monkeypatch.setattr(console_app.Pages, "_own_credential", lambda self, session, assertion: credential)
    monkeypatch.setattr(console_app, "check_assertion", lambda *a, **k: CHECKED)
    monkeypatch.setattr(console_app, "verify_webauthn_signature", lambda *a, **k: None)
    monkeypatch.setattr(
        console_app,
        "approval_record",
        lambda pending, verdict, *a, decided_at, **k: sign_approval(
            pending, signer, "carol", decided_at, verdict=verdict
        ),
    )
    monkeypatch.setattr(c.credentials, "advance", lambda *a: True)
    try:
        with TestClient(create_app(c), base_url="https://localhost:8787") as client:
            client.get("/login")
            session = c.sessions.get(client.cookies.get(COOKIE), c.clock())
            assert session is not None
            signed = c.sessions.sign_in(session, "carol", credential.credential_id, c.clock())
            client.cookies.clear()
            client.cookies.set(COOKIE, signed.sid)
            token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/approvals").text)
            assert token is not None
            yield c, client, {"origin": ORIGIN, "x-csrf-token": token.group(1)}
    finally:
        c.close()


def _request(c: Console) -> str:
    now = c.clock()
    request_id = "r" + secrets.token_hex(8)
    c.approvals.save_request(
        make_request(
            request_id=request_id,
            agent_id="mail-assistant",
            session_id="s1",
            tool="send_payment",
            arguments={"to_account": "GB33BUKB20201555555555", "amount": 10.0},
            created_at=now,
            expires_at=now + 600,
            nonce=secrets.token_hex(16),
            tier=Tier.FINANCIAL,
        )
    )
    return request_id


def _failing_audit(c: Console, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    real = c.audit.append

    def append(k: str, body: Any) -> Any:
        if k == kind:
            raise AuditError("the audit store is down (test)")
        return real(k, body)

    monkeypatch.setattr(c.audit, "append", append)


def test_an_approval_the_audit_log_cannot_hold_is_not_recorded(
    world: tuple[Console, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, client, headers = world
    request_id = _request(c)
    _failing_audit(c, monkeypatch, "approval_decided")
    reply = client.post(
        f"/approvals/{request_id}/decide", headers=headers, json={"verdict": "approve", "assertion": "{}"}
    )
    assert reply.status_code == 503 and "audit log unavailable" in reply.json()["error"]
    assert c.approvals.status(request_id) == RequestStatus.PENDING and c.approvals.load_verdict(request_id) is None


def test_an_approval_is_audited_then_recorded(world: tuple[Console, TestClient, dict[str, str]]) -> None:
    c, client, headers = world
    request_id = _request(c)
    reply = client.post(
        f"/approvals/{request_id}/decide", headers=headers, json={"verdict": "approve", "assertion": "{}"}
    )
    assert reply.status_code == 200, reply.text
    assert c.approvals.status(request_id) == RequestStatus.APPROVED
    decided = [e for e in c.audit.store.tail(10) if e.kind == "approval_decided"]
    assert len(decided) == 1 and decided[0].body["request_id"] == request_id and decided[0].body["key_id"]


def test_a_verdict_the_store_refuses_after_its_audit_is_said_so(
    world: tuple[Console, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, client, headers = world
    request_id = _request(c)

    def down(approval: Any) -> None:
        raise StoreError("the approval store is down (test)")

    monkeypatch.setattr(c.approvals, "record_verdict", down)
    reply = client.post(
        f"/approvals/{request_id}/decide", headers=headers, json={"verdict": "approve", "assertion": "{}"}
    )
    assert reply.status_code == 503 and "approve refused" in reply.json()["error"]
    monkeypatch.undo()
    assert c.approvals.status(request_id) == RequestStatus.PENDING
    tail = c.audit.store.tail(5)
    kinds = [e.kind for e in tail]
    assert kinds[-2:] == ["approval_decided", "approval_refused"]
    assert tail[-1].body["not_recorded_after"] == tail[-2].seq and "down" in tail[-1].body["reason"]


def test_a_resume_the_audit_log_cannot_hold_leaves_the_session_paused(
    world: tuple[Console, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, client, headers = world
    target = {"agent_id": "mail-assistant", "session_id": "s1"}
    for op in ("pause", "resume"):
        if op == "resume":
            _failing_audit(c, monkeypatch, "session_resumed")
        body = {"op": op, **target}
        assert client.post("/sessions/options", headers=headers, json=body).status_code == 200
        reply = client.post("/sessions/confirm", headers=headers, json={**body, "assertion": "{}"})
        if op == "pause":
            assert reply.status_code == 200 and reply.json()["changed"]
    assert reply.status_code == 503
    assert [(p.agent_id, p.session_id) for p in c.state.list_pauses()] == [("mail-assistant", "s1")]
