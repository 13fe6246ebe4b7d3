"""The console's HTTP security without a browser: headers, cookies, CSRF, Origin, Host, rate limits, sign-in
required, bounded bodies, and every refusal audited."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from warded.console import _live, create_app, enrol, open_console
from warded.console._auth import COOKIE
from warded.console.app import Console
from warded.demo import write_demo_policy

ORIGIN = "http://localhost:8787"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Console, str]]:
    policy = write_demo_policy(str(tmp_path))
    c = open_console(policy)
    try:
        yield c, policy
    finally:
        c.close()


@pytest.fixture
def client(console: tuple[Console, str]) -> Iterator[TestClient]:
    # https in the client only so that its cookie jar sends the Secure cookie (a browser sends it to
    # http://localhost too: a potentially trustworthy origin).
    with TestClient(create_app(console[0]), base_url="https://localhost:8787") as cl:
        yield cl


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_pages_carry_a_strict_csp_and_no_inline_script(client: TestClient) -> None:
    for path in ("/login", "/register"):
        page = client.get(path)
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, flags=re.S)
        assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
        assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers either


def test_session_cookie_is_secure_httponly_samesite_strict(client: TestClient) -> None:
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie


def test_every_page_but_sign_in_needs_a_session(client: TestClient) -> None:
    for path in ("/", "/approvals", "/decisions", "/audit", "/sessions"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert client.get("/decisions/stream").status_code == 401


def test_state_changing_requests_need_origin_and_csrf(client: TestClient) -> None:
    token = _csrf(client)
    assert client.post("/login/options", headers={"x-csrf-token": token}).status_code == 403  # no Origin
    assert (
        client.post("/login/options", headers={"origin": "http://evil.example", "x-csrf-token": token}).status_code
        == 403
    )
    assert client.post("/login/options", headers={"origin": ORIGIN}).status_code == 403  # no token
    assert client.post("/login/options", headers={"origin": ORIGIN, "x-csrf-token": "x" + token}).status_code == 403
    ok = client.post("/login/options", headers={"origin": ORIGIN, "x-csrf-token": token})
    assert ok.status_code == 200 and ok.json()["userVerification"] == "required"
    for path in ("/approvals/r1/decide", "/sessions/confirm", "/logout"):  # signed-in only
        assert client.post(path, headers={"origin": ORIGIN, "x-csrf-token": token}, json={}).status_code == 401


def test_host_header_must_be_the_relying_party(console: tuple[Console, str]) -> None:
    with TestClient(create_app(console[0]), base_url="http://attacker.example") as cl:
        assert cl.get("/login").status_code == 400


def test_bad_bodies_are_refused(client: TestClient) -> None:
    token = _csrf(client)
    headers = {"origin": ORIGIN, "x-csrf-token": token, "content-type": "application/json"}
    assert client.post("/register/options", headers=headers, content=b"[1]").status_code == 400
    assert client.post("/register/options", headers=headers, content=b'{"a":1,"a":2}').status_code == 400
    assert client.post("/register/options", headers=headers, content=b" " * (70 * 1024)).status_code == 413


def test_sign_in_is_rate_limited_and_refusals_audited(console: tuple[Console, str], client: TestClient) -> None:
    token = _csrf(client)
    headers = {"origin": ORIGIN, "x-csrf-token": token}
    refused = client.post("/login/verify", headers=headers, json={"assertion": "{}"})
    assert refused.status_code == 403
    statuses = [client.post("/login/options", headers=headers).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    kinds = [e.kind for e in console[0].audit.store.tail(20)]
    assert kinds.count("console_login_refused") >= 3


def test_registration_needs_a_valid_one_time_code(console: tuple[Console, str], client: TestClient) -> None:
    token = _csrf(client, "/register")
    headers = {"origin": ORIGIN, "x-csrf-token": token}
    assert client.post("/register/options", headers=headers, json={"code": "not-a-code-at-all"}).status_code == 403
    code, url = enrol(console[1], "carol")
    assert url.endswith(f"/register?code={code}")
    options = client.post("/register/options", headers=headers, json={"code": code})
    assert options.status_code == 200
    body = options.json()
    assert body["user"]["name"] == "carol" and body["authenticatorSelection"]["userVerification"] == "required"
    assert body["rp"]["id"] == "localhost"
    # A made-up registration response is refused, audited, and the code is not spent by the failure.
    bad = client.post("/register/verify", headers=headers, json={"credential": "{}"})
    assert bad.status_code == 403
    assert console[0].credentials.peek_enrolment(code, console[0].clock()) == "carol"
    kinds = [e.kind for e in console[0].audit.store.tail(20)]
    assert "approver_registration_refused" in kinds and "approver_enrolment_created" in kinds


def test_the_audit_page_status_reports_a_tampered_chain(console: tuple[Console, str]) -> None:
    c = console[0]
    c.record("console_test", {"n": 1})
    assert c.verify_chain_now().ok
    db = c.policy.audit_path(c.policy.spec.audit.path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_entries SET body = replace(body, '\"n\":1', '\"n\":2') WHERE kind = 'console_test'")
    status = c.verify_chain_now()
    assert not status.ok and "VERIFICATION FAILED" in status.text


def test_a_stream_that_falls_behind_says_how_much_it_missed(
    console: tuple[Console, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_live, "QUEUE_BOUND", 3)
    c = console[0]
    feed = _live.DecisionFeed(c.audit.store, poll_s=0.01)
    decision = {"action": {"agent_id": "a", "session_id": "s", "tool": "t"}, "decision": {"verdict": "deny"}}

    async def scenario() -> list[bytes]:
        feed.start()
        stream = feed.stream(feed.subscribe(_live.Filter(verdict="deny")), disconnected=_never)
        chunks = [await anext(stream)]  # subscribed
        for _ in range(8):
            c.record("decision", decision)
        c.record("decision", {**decision, "decision": {"verdict": "allow"}})  # filtered out
        while feed.seen < 9:
            await asyncio.sleep(0.01)
        chunks += [await anext(stream) for _ in range(4)]  # 3 queued decisions and the gap
        await stream.aclose()
        await feed.stop()
        return chunks

    chunks = asyncio.run(scenario())
    # The gap is announced with the first event after it happened: 8 matching, 3 delivered, 5 missed.
    assert [c.split(b"\n")[0] for c in chunks[1:]] == [b"event: decision", b"event: gap"] + [b"event: decision"] * 2
    assert chunks[2] == b"event: gap\ndata: 5\n\n"


async def _never() -> bool:
    return False


def test_cli_enrols_verifies_and_stays_on_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from warded.cli import main  # noqa: PLC0415

    policy = write_demo_policy(str(tmp_path))
    assert main(["console", "--enrol", "alice", "--policy", policy]) == 0
    out = capsys.readouterr().out
    assert "one-time enrolment code for alice" in out and "http://localhost:8787/register?code=" in out
    assert main(["console", "--policy", policy, "--host", "0.0.0.0"]) == 2
    assert main(["approvals", "verify", "--policy", policy]) == 0
    assert "0 passkey verdicts verify against 0" in capsys.readouterr().out
    assert main(["approvals", "verify", "rnothere", "--policy", policy]) == 2
    assert main(["console", "--passkeys", "--policy", policy]) == 0
    assert "no passkeys registered" in capsys.readouterr().out
    assert main(["console", "--revoke", "bm90LWEta2V5", "--policy", policy]) == 2


# -- alerts, incidents and the BOM, rendered from the monitor, incident and bom packages -----------------

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _signed_in(c: Console, client: TestClient, approver: str = "carol") -> None:
    """Sign the client in as ``approver`` (the passkey ceremony itself is the browser tests' subject)."""
    client.get("/login")
    session = c.sessions.get(client.cookies.get(COOKIE), c.clock())
    assert session is not None
    signed = c.sessions.sign_in(session, approver, "test-credential", c.clock())
    client.cookies.clear()
    client.cookies.set(COOKIE, signed.sid)
    assert "Signed in as" in client.get("/approvals").text


def _no_hostile_markup(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"<[^>]*\son[a-z]+=", html)  # no event handler attribute in any tag


@pytest.fixture(scope="module")
def bom_deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo deployment with a signed BOM (generated once: it hashes the installed packages)."""
    from warded.audit.keys import generate_keypair  # noqa: PLC0415
    from warded.bom.commands import bom_generate  # noqa: PLC0415

    d = tmp_path_factory.mktemp("console-bom")
    policy = write_demo_policy(str(d))
    generate_keypair(d / "bom.key")
    made = bom_generate(policy, str(d / "bom.json"), key=str(d / "bom.key"))
    assert made.signature is not None
    return d, policy


def test_alerts_incidents_and_bom_pages_render_real_records(
    bom_deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from warded.bom.binding import ENV_BOM, ENV_BOM_KEY  # noqa: PLC0415
    from warded.core.types import Action, Verdict  # noqa: PLC0415
    from warded.gateway.gateway import Gateway  # noqa: PLC0415
    from warded.incident import records  # noqa: PLC0415

    d, policy = bom_deployment
    monkeypatch.setenv(ENV_BOM, str(d / "bom.json"))
    monkeypatch.setenv(ENV_BOM_KEY, str(d / "bom.key.pub"))
    # A gateway bound to the BOM denies a tool it does not list, with an alert; the tool's name is hostile.
    with Gateway.from_file(policy) as gw:
        decision = gw.check(Action("mail-assistant", "s1", HOSTILE, {}))
        assert decision.verdict is Verdict.DENY and decision.rule_ids == ("bom.out_of_manifest",)
    c = open_console(policy)
    try:
        alert = [e for e in c.audit.store.tail(50) if e.kind == "alert"][-1]
        incident = records.create(policy, title=f"payment fraud {HOSTILE}", severity="high", alert_seq=alert.seq)
        with TestClient(create_app(c), base_url="https://localhost:8787") as client:
            for path in ("/alerts", "/incidents", f"/incidents/{incident.id}", "/bom"):
                assert client.get(path, follow_redirects=False).headers["location"] == "/login", path
            _signed_in(c, client)
            nav = client.get("/approvals").text
            assert all(f'href="{p}"' in nav for p in ("/alerts", "/incidents", "/bom"))

            page = client.get("/alerts")
            assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
            assert "bom.out_of_manifest" in page.text and "mail-assistant" in page.text
            assert f'href="/audit?before={alert.seq + 1}">#{alert.seq}<' in page.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
            _no_hostile_markup(page.text)
            assert "No alerts match" in client.get("/alerts", params={"agent_id": "reporting-bot"}).text
            assert "bom.out_of_manifest" in client.get("/alerts", params={"rule": "bom."}).text
            assert "No alerts match" in client.get("/alerts", params={"rule": "monitor."}).text
            assert f"#{alert.seq}<" in client.get("/alerts", params={"before": alert.seq + 1}).text
            older = client.get("/alerts", params={"before": alert.seq}).text  # the window ends before it
            assert f"#{alert.seq}<" not in older and f"to #{alert.seq - 1} are searched" in older

            listing = client.get("/incidents").text
            assert incident.id in listing and "high" in listing and "payment fraud &lt;script&gt;" in listing
            _no_hostile_markup(listing)
            detail = client.get(f"/incidents/{incident.id}")
            assert detail.status_code == 200 and "script-src 'self'" in detail.headers["content-security-policy"]
            evidence = incident.evidence
            assert evidence is not None and evidence.audit_from == alert.seq
            assert evidence.chain_head in detail.text and f"#{alert.seq} to #{alert.seq}" in detail.text
            assert "mail-assistant" in detail.text and ">open<" in detail.text
            _no_hostile_markup(detail.text)
            assert client.get("/incidents/OSV-WARDED-2026-00000000").status_code == 404

            bom = client.get("/bom")
            assert bom.status_code == 200 and "verified (Ed25519" in bom.text and "matches the BOM" in bom.text
            assert c.policy.digest in bom.text and "send_payment" in bom.text and "financial" in bom.text
            assert "None: the deployment is what the BOM lists." in bom.text
    finally:
        c.close()


def test_bom_page_shows_differences_a_forged_bom_and_no_bom(
    bom_deployment: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warded.bom.binding import ENV_BOM, ENV_BOM_KEY  # noqa: PLC0415

    d, _ = bom_deployment
    # Another deployment: the demo policy with one more tool than the BOM lists.
    policy = write_demo_policy(str(tmp_path))
    text = Path(policy).read_text(encoding="utf-8")
    text = text.replace("tools: [run_sql]", "tools: [run_sql, export_csv]", 1)
    text = text.replace("\ntools:\n", "\ntools:\n  export_csv: {tier: external}\n", 1)
    Path(policy).write_text(text, encoding="utf-8")
    forged = tmp_path / "forged.json"
    forged.write_bytes((d / "bom.json").read_bytes().replace(b'"send_payment"', b'"send_paymenX"'))
    (tmp_path / "forged.json.sig").write_bytes((d / "bom.json.sig").read_bytes())
    c = open_console(policy)
    try:
        with TestClient(create_app(c), base_url="https://localhost:8787") as client:
            _signed_in(c, client)
            assert "No BOM is bound to this deployment" in client.get("/bom").text
            monkeypatch.setenv(ENV_BOM, str(d / "bom.json"))
            monkeypatch.setenv(ENV_BOM_KEY, str(d / "bom.key.pub"))
            page = client.get("/bom").text
            assert "verified (Ed25519" in page and "matches the BOM" not in page
            assert re.search(r"refuses start</td><td>tool</td><td><code>export_csv</code></td><td>added", page)
            assert re.search(r"refuses start</td><td>policy</td><td><code>sha256</code></td><td>changed", page)
            monkeypatch.setenv(ENV_BOM, str(forged))
            page = client.get("/bom").text
            assert "does NOT verify" in page and "send_paymenX" not in page
    finally:
        c.close()
