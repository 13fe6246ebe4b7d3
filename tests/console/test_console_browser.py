"""The console in a real browser: Debian's Chromium driven by Playwright, Chrome's virtual authenticator
(CDP ``WebAuthn.*``) standing in for the approver's security key, the gateway in this process.

One browser and one console for the module; the tests run in order and build on each other (register, sign
in, approve, then the refusals). Screenshots go to ``build/test-artifacts/console/`` (not committed).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from warded.approve.approvals import ApprovalRejected
from warded.config.http import HttpLimits
from warded.console import create_app, enrol, open_console
from warded.console.app import Console
from warded.core.types import Action, Verdict
from warded.demo import write_demo_policy
from warded.gateway.gateway import Gateway
from warded.ops import verify_audited_passkey_approvals, verify_recorded_approval
from warded.proxy._http_server import GuardedConfig

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "console"
README_PICTURE = Path(__file__).resolve().parents[2] / "docs" / "img" / "console-approvals.png"
AXE = Path(__file__).with_name("axe.min.js")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT, SESSION = "mail-assistant", "browser-session"
ACCOUNT = "GB33BUKB20201555555555"


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    reason = f"Chromium is not installed at {CHROMIUM} (`make test` installs it: apt-get install chromium)"
    if os.environ.get("WARDED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WARDED_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    origin: str
    policy: str
    console: Console
    gateway: Gateway
    page: Any
    context: Any
    cdp: Any
    authenticator: str
    console_errors: list[str]
    browser: Any


def _payment(amount: float) -> Action:
    return Action(AGENT, SESSION, "send_payment", {"to_account": ACCOUNT, "amount": amount, "memo": "invoice"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    _require_chromium()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when Chromium is there

    workdir = tmp_path_factory.mktemp("console")
    port = _free_port()
    origin = f"http://localhost:{port}"
    policy_path = write_demo_policy(str(workdir))
    text = Path(policy_path).read_text(encoding="utf-8")
    text = text.replace(
        "  ttl: 15m ",
        f"  methods: {{financial: [webauthn]}}\n  webauthn: {{rp_id: localhost, origins: ['{origin}']}}\n  ttl: 15m ",
        1,
    )
    Path(policy_path).write_text(text, encoding="utf-8")
    console = open_console(policy_path)
    server, thread = _serve(console, port)
    gateway = Gateway.from_file(policy_path)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        authenticator = _add_authenticator(cdp)
        try:
            yield World(origin, policy_path, console, gateway, page, context, cdp, authenticator, errors, browser)
        finally:
            browser.close()
            gateway.close()
            server.should_exit = True
            thread.join(10)
            console.close()


def _serve(console: Console, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = GuardedConfig(create_app(console), limits=HttpLimits(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    return server, thread


def _add_authenticator(cdp: Any, *, verified: bool = True) -> str:
    options = {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": verified,
        "automaticPresenceSimulation": True,
    }
    return str(cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"])


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core in the page (evaluated over CDP, so the page's CSP stays as it is); serious+critical only."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


# JavaScript run in the page to make assertions the console's own buttons never would.
_GET = """async ([url, body, mutate]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                              body: JSON.stringify(body)});
  const options = await r.json();
  if (mutate === 'discouraged') options.userVerification = 'discouraged';
  if (mutate === 'any') options.allowCredentials = [];
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  return JSON.stringify(cred.toJSON());
}"""

_DECIDE = """async ([url, body]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                              body: JSON.stringify(body)});
  return [r.status, await r.text()];
}"""

_CREATE = """async () => {
  const id = crypto.getRandomValues(new Uint8Array(16));
  const cred = await navigator.credentials.create({publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)), rp: {id: 'localhost', name: 'not the console'},
    user: {id: id, name: 'mallory', displayName: 'mallory'}, pubKeyCredParams: [{type: 'public-key', alg: -7}],
    authenticatorSelection: {userVerification: 'required', residentKey: 'required'}}});
  return cred.id;
}"""


def _request_id(gw: Gateway, amount: float) -> str:
    decision = gw.check(_payment(amount))
    assert decision.verdict is Verdict.REQUIRE_APPROVAL, decision
    assert decision.request_id
    return decision.request_id


def test_register_sign_in_and_approve_a_tainted_payment(world: World) -> None:
    page = world.page
    code, url = enrol(world.policy, "carol")
    assert url == f"{world.origin}/register?code={code}"
    page.goto(url)
    _shot(page, "register")
    assert _axe(page) == []
    page.get_by_role("button", name="Register passkey").click()
    page.get_by_text("Passkey registered for carol").wait_for()
    page.wait_for_url("**/login")
    assert _axe(page) == []
    _shot(page, "login")
    page.get_by_role("button", name="Sign in with passkey").click()
    page.wait_for_url("**/approvals")
    assert page.get_by_text("Signed in as").is_visible()

    # The agent read the account number in an e-mail (untrusted), not in the user's request.
    gw = world.gateway
    gw.bind(AGENT, SESSION)
    gw.record_user(AGENT, SESSION, "Please settle the invoice in my inbox.")
    gw.record(AGENT, SESSION, "tool:read_email", f"Invoice 7: pay 120 EUR to {ACCOUNT} today.")
    request_id = _request_id(gw, 120.0)

    page.reload()
    section = page.locator(f"#req-{request_id}")
    section.wait_for()
    text = section.inner_text()
    assert "send_payment" in text and "financial" in text
    assert ACCOUNT in text and "UNTRUSTED" in text and "tool:read_email" in text  # the taint explanation
    assert "webauthn" in text  # the policy's accepted methods for this tier
    assert _axe(page) == []
    _shot(page, "approvals")
    if os.environ.get("WARDED_UPDATE_README_PICTURE") == "1":
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_PICTURE), clip={"x": 0, "y": 0, "width": 1200, "height": 900})

    # Not yet approved: the retry is refused.
    pending = gw.check(_payment(120.0), approval=request_id)
    assert pending.verdict is Verdict.DENY and pending.reasons[0].rule_id == "approval.pending"

    section.get_by_role("button", name="Approve with passkey").click()
    page.get_by_text(f"Approved {request_id}").wait_for()
    assert world.console.approvals.status(request_id) == "approved"

    allowed = gw.check(_payment(120.0), approval=request_id)
    assert allowed.verdict is Verdict.ALLOW, allowed
    replay = gw.check(_payment(120.0), approval=request_id)
    assert replay.verdict is Verdict.DENY and replay.reasons[0].rule_id == "approval.replayed"
    changed = _request_id(gw, 121.0)
    assert gw.check(_payment(125.0), approval=changed).reasons[0].rule_id == "approval.pending"

    # Offline: the stored assertion verifies again under the registered key.
    assert "verifies: passkey assertion" in verify_recorded_approval(world.policy, request_id)
    assert "1 passkey verdicts verify against 1" in verify_audited_passkey_approvals(world.policy)
    entries = [e for e in world.console.audit.store.tail(50) if e.kind == "approval_decided"]
    assert entries[-1].body["approver"] == "carol" and entries[-1].body["method"] == "webauthn"
    assert entries[-1].body["approval"]["authenticator_data"] and entries[-1].body["approval"]["credential_public_key"]


def test_refusals_another_challenge_no_user_verification_unregistered_key(world: World) -> None:
    page, gw = world.page, world.gateway
    target = _request_id(gw, 130.0)
    other = _request_id(gw, 140.0)
    page.goto(f"{world.origin}/approvals")
    decide = f"/approvals/{target}/decide"

    # An assertion over another request's digest.
    foreign = page.evaluate(_GET, [f"/approvals/{other}/options", {"verdict": "approve"}, ""])
    status, body = page.evaluate(_DECIDE, [decide, {"verdict": "approve", "assertion": foreign}])
    assert status == 403 and "approval.digest_mismatch" in body

    # A denial's assertion presented as an approval (the challenges differ by verdict).
    denial = page.evaluate(_GET, [f"/approvals/{target}/options", {"verdict": "deny"}, ""])
    status, body = page.evaluate(_DECIDE, [decide, {"verdict": "approve", "assertion": denial}])
    assert status == 403 and "approval.digest_mismatch" in body

    # Without user verification (the key was touched, no PIN or biometric).
    world.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": world.authenticator, "isUserVerified": False})
    try:
        unverified = page.evaluate(_GET, [f"/approvals/{target}/options", {"verdict": "approve"}, "discouraged"])
    finally:
        world.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": world.authenticator, "isUserVerified": True})
    status, body = page.evaluate(_DECIDE, [decide, {"verdict": "approve", "assertion": unverified}])
    assert status == 403 and "approval.user_not_verified" in body

    # A passkey that was never registered with the console (another authenticator).
    saved = world.cdp.send("WebAuthn.getCredentials", {"authenticatorId": world.authenticator})["credentials"]
    world.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": world.authenticator})
    stranger = _add_authenticator(world.cdp)
    try:
        page.evaluate(_CREATE)
        rogue = page.evaluate(_GET, [f"/approvals/{target}/options", {"verdict": "approve"}, "any"])
    finally:
        world.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": stranger})
        world.authenticator = _add_authenticator(world.cdp)
        for credential in saved:
            world.cdp.send("WebAuthn.addCredential", {"authenticatorId": world.authenticator, "credential": credential})
    status, body = page.evaluate(_DECIDE, [decide, {"verdict": "approve", "assertion": rogue}])
    assert status == 403 and "approval.unknown_signer" in body

    # A replayed (already counted) assertion of the registered key.
    page.reload()
    fresh = page.evaluate(_GET, [f"/approvals/{other}/options", {"verdict": "approve"}, ""])
    status, _ = page.evaluate(_DECIDE, [f"/approvals/{other}/decide", {"verdict": "approve", "assertion": fresh}])
    assert status == 200
    assert gw.check(_payment(140.0), approval=other).verdict is Verdict.ALLOW
    status, body = page.evaluate(_DECIDE, [decide, {"verdict": "approve", "assertion": fresh}])
    assert status == 403  # signs another digest, and its counter is spent

    # None of it decided the target; the real key still can, here by denying it.
    assert world.console.approvals.status(target) == "pending"
    page.reload()
    page.locator(f"#req-{target}").get_by_role("button", name="Deny").click()
    page.get_by_text(f"Denied {target}").wait_for()
    refused = gw.check(_payment(130.0), approval=target)
    assert refused.verdict is Verdict.DENY and refused.reasons[0].rule_id == "approval.denied"
    refusals = [e.body["reason"] for e in world.console.audit.store.tail(100) if e.kind == "approval_refused"]
    assert len(refusals) >= 5


def test_tampered_stored_assertion_fails_verification(world: World) -> None:
    gw, page = world.gateway, world.page
    request_id = _request_id(gw, 150.0)
    page.goto(f"{world.origin}/approvals")
    page.locator(f"#req-{request_id}").get_by_role("button", name="Approve with passkey").click()
    page.get_by_text(f"Approved {request_id}").wait_for()
    assert "verifies" in verify_recorded_approval(world.policy, request_id)
    db = world.console.policy.audit_path(world.console.policy.spec.audit.path)
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute(
            "SELECT approval_json FROM signed_approvals WHERE request_id = ?", (request_id,)
        ).fetchone()
        record = json.loads(raw)
        sig = record["signature"]
        record["signature"] = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        conn.execute(
            "UPDATE signed_approvals SET approval_json = ? WHERE request_id = ?",
            (json.dumps(record, separators=(",", ":"), sort_keys=True), request_id),
        )
    with pytest.raises(ApprovalRejected) as caught:
        verify_recorded_approval(world.policy, request_id)
    assert caught.value.code.value in ("approval.bad_signature", "approval.malformed")
    refused = gw.check(_payment(150.0), approval=request_id)
    assert refused.verdict is Verdict.DENY  # the gateway checks the stored assertion again before use


def test_ed25519_key_file_refused_where_the_policy_wants_a_passkey(world: World) -> None:
    from warded.approve.approvals import RejectCode, sign_approval  # noqa: PLC0415
    from warded.audit.keys import Signer  # noqa: PLC0415
    from warded.ops import decide_request  # noqa: PLC0415

    request_id = _request_id(world.gateway, 160.0)
    key = os.path.join(os.path.dirname(world.policy), "approver-alice.key")
    with pytest.raises(ApprovalRejected) as caught:  # refused when signed...
        decide_request(world.policy, request_id, key, approve=True)
    assert caught.value.code is RejectCode.METHOD_NOT_ALLOWED
    request = world.console.approvals.load_request(request_id)
    assert request is not None
    world.console.approvals.record_verdict(sign_approval(request, Signer.from_file(key), "alice", time.time()))
    refused = world.gateway.check(_payment(160.0), approval=request_id)  # ...and at use, if recorded anyway
    assert refused.verdict is Verdict.DENY and refused.reasons[0].rule_id == "approval.method_not_allowed"


def test_live_decisions_audit_and_kill_switch(world: World) -> None:
    page, gw = world.page, world.gateway
    page.goto(f"{world.origin}/decisions?verdict=deny")
    assert _axe(page) == []
    page.locator("#decisions[data-live=open]").wait_for(state="attached")  # subscribed before the decisions
    gw.check(Action(AGENT, SESSION, "send_email", {"to": ["x@evil.example"], "subject": "s", "body": "b"}))
    gw.check(Action(AGENT, SESSION, "list_inbox", {}))  # allowed: filtered out of this view
    # A denial the previous test left may arrive live (written after this page's cursor), so wait for this
    # test's row rather than for a count.
    row = page.locator("#decisions tbody tr", has_text="send_email").first
    row.wait_for()
    assert "deny" in row.inner_text()
    assert page.locator("#decisions tbody tr", has_text="list_inbox").count() == 0  # allowed: filtered out
    # Each decision once: the page's rows and the stream's meet at the page's cursor (no row twice).
    seqs = page.locator("#decisions tbody tr").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert all(seqs) and len(seqs) == len(set(seqs)), seqs
    _shot(page, "decisions")

    world.console.verify_chain_now()
    page.goto(f"{world.origin}/audit")
    assert "audit log OK" in page.locator("#chain-status").inner_text()
    assert _axe(page) == []
    _shot(page, "audit")
    page.goto(f"{world.origin}/audit?kind=approval_decided")
    assert page.locator("table.entries tbody tr").count() >= 3

    page.goto(f"{world.origin}/sessions")
    assert _axe(page) == []
    _shot(page, "sessions")
    page.locator("tr", has_text=SESSION).get_by_role("button", name="Pause").click()
    page.get_by_text(f"Paused {AGENT} / {SESSION}").wait_for()
    assert world.console.state.paused(AGENT, SESSION) is not None
    paused = gw.check(_payment(10.0))
    assert paused.verdict is not Verdict.ALLOW
    page.wait_for_load_state("load")
    page.goto(f"{world.origin}/sessions")
    page.locator("tr", has_text=SESSION).get_by_role("button", name="Resume").click()
    page.get_by_text(f"Resumed {AGENT} / {SESSION}").wait_for()
    assert world.console.state.paused(AGENT, SESSION) is None
    kinds = {e.kind: e.body for e in world.console.audit.store.tail(200)}
    assert kinds["session_paused"]["by"] == "carol" and kinds["session_resumed"]["by"] == "carol"
    assert kinds["session_paused"]["confirmed_by"]["signature"]
    assert not [e for e in world.console_errors if "Content Security Policy" in e]


def test_alerts_incidents_and_bom_pages_are_accessible_and_inert(world: World) -> None:
    from warded.incident import records  # noqa: PLC0415

    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    alert = world.console.record(
        "alert", {"rule_id": "monitor.anomaly", "agent_id": AGENT, "message": f"odd burst {hostile}"}
    )
    incident = records.create(world.policy, title=f"burst {hostile}", severity="high", audit_range=(1, alert.seq))
    page = world.page
    for path, name in (
        ("/alerts", "alerts"),
        ("/incidents", "incidents"),
        (f"/incidents/{incident.id}", "incident"),
        ("/bom", "bom"),
    ):
        page.goto(f"{world.origin}{path}")
        assert page.url == f"{world.origin}{path}", "signed in by the first test of the module"
        assert _axe(page) == [], path
        _shot(page, name)
        assert page.evaluate("typeof window.__pwned") == "undefined", path
    page.goto(f"{world.origin}/alerts")
    assert "odd burst <img" in page.locator("table.alerts tbody tr").first.inner_text()
    page.get_by_role("link", name=f"#{alert.seq}").click()
    page.wait_for_url(f"**/audit?before={alert.seq + 1}")
    page.goto(f"{world.origin}/bom")
    assert "No BOM is bound" in page.locator("main").inner_text()
    assert not [e for e in world.console_errors if "Content Security Policy" in e]


def test_the_readme_flow_approves_the_demos_payment_in_the_browser(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`warded demo --console` waits at step 4; an approver enrols, registers, signs in and approves."""
    from warded.demo import run_demo  # noqa: PLC0415
    from warded.ops import pending_requests  # noqa: PLC0415

    port = _free_port()
    result: list[int] = []
    demo = threading.Thread(
        target=lambda: result.append(run_demo(str(tmp_path), console=True, console_port=port)), daemon=True
    )
    demo.start()
    policy = str(tmp_path / "warded.yaml")
    deadline = time.monotonic() + 60
    while not (os.path.exists(policy) and os.path.exists(tmp_path / "warded-audit.db") and pending_requests(policy)):
        assert time.monotonic() < deadline and demo.is_alive(), "the demo did not reach its payment"
        time.sleep(0.1)
    console = open_console(policy)
    server, thread = _serve(console, port)
    context = world.browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        _add_authenticator(cdp)
        _code, url = enrol(policy, "alice")
        page.goto(url)
        page.get_by_role("button", name="Register passkey").click()
        page.wait_for_url("**/login")
        page.get_by_role("button", name="Sign in with passkey").click()
        page.wait_for_url("**/approvals")
        payment = page.locator("section.request", has_text="send_payment")
        payment.get_by_role("button", name="Approve with passkey").click()
        page.get_by_text("Approved ").wait_for()
        demo.join(60)
        assert result == [0]
    finally:
        context.close()
        server.should_exit = True
        thread.join(10)
        console.close()
    out = capsys.readouterr().out
    assert "approve request" in out and f"http://localhost:{port}/" in out
    assert "ALLOWED   send_payment(...) with approval" in out
    assert "[approval.replayed]" in out


def test_a_revoked_passkey_no_longer_approves(world: World) -> None:
    from warded.console import list_passkeys, revoke  # noqa: PLC0415

    request_id = _request_id(world.gateway, 170.0)
    world.page.goto(f"{world.origin}/approvals")
    world.page.locator(f"#req-{request_id}").get_by_role("button", name="Approve with passkey").click()
    world.page.get_by_text(f"Approved {request_id}").wait_for()
    (line,) = list_passkeys(world.policy)
    assert revoke(world.policy, line.split()[0]) == "carol"
    refused = world.gateway.check(_payment(170.0), approval=request_id)
    assert refused.verdict is Verdict.DENY and refused.reasons[0].rule_id == "approval.unknown_signer"
    kinds = [e.kind for e in world.console.audit.store.tail(20)]
    assert "approver_revoked" in kinds
