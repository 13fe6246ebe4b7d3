"""``warded bench console``: the console's page server time and its live stream under load.

Set-up (in a temporary directory, on the demo policy): ``entries`` audit entries shaped like the gateway's
decision entries and ``pending`` open approval requests with taint explanations. The console is served by
uvicorn on loopback, as ``warded console`` serves it, with one signed-in session (made directly in the
session table: the passkey ceremony is the browser tests' business, not a cost per page).

* **Pages**: each page (approvals, audit: the newest page, an old one and two searches, one that finds
  nothing; live decisions, sessions, alerts, incidents) is
  fetched ``rounds`` times over one keep-alive connection; the figure is the server's own time per response,
  read from the ``Server-Timing`` header the console sets (rendering included, network and client excluded).
  The first fetch of each page is a warm-up and not counted. The audit page shows the chain's last
  verification, re-run in the background when the head moves; one whole verification of the filled log is
  ``chain_verify_ms``.
* **Stream**: a browser-like client holds ``/decisions/stream`` open while a second writer (a separate audit
  log on the same file, as a gateway process is) appends decisions at ``rate`` per second for ``seconds``.
  ``stream_events_per_s`` is what the client received over the writing time; ``stream_dropped`` is what was
  written and never received (after a drain), plus whatever the feed reported as missed.

Figures are of this machine (shared cores included); no test asserts them.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from warded.approve.approvals import make_request
from warded.audit.log import open_sqlite_log
from warded.config.http import HttpLimits
from warded.console._auth import COOKIE
from warded.console.app import Console, create_app
from warded.core.types import Reason, Tier
from warded.demo import write_demo_policy
from warded.policy.compile import load_policy
from warded.proxy._http_server import GuardedConfig

__all__ = ["run_console_bench"]

PAGES = (
    "/approvals",
    "/audit",
    "/audit?before=101",  # the oldest pages: as cheap as the newest when paging is indexed
    "/audit?q=GB33&kind=decision",
    "/audit?q=no-such-text",  # a search that finds nothing: reads its whole bounded window
    "/decisions",
    "/sessions",
    "/alerts",
    "/incidents",
)


def _decision_body(i: int) -> dict[str, Any]:
    verdict = ("allow", "deny", "require_approval")[i % 3]
    return {
        "action": {
            "agent_id": "mail-assistant",
            "session_id": f"s{i % 40}",
            "tool": ("read_email", "send_email", "send_payment")[i % 3],
            "tier": "read",
            "labels": [],
            "arguments": {"id": i, "to_account": "GB33BUKB20201555555555", "memo": f"invoice {i}"},
        },
        "decision": {
            "verdict": verdict,
            "reasons": [{"rule_id": f"bench.rule_{i % 7}", "message": "benchmark decision"}],
            "tier": "read",
        },
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_ms(response: httpx.Response) -> float:
    timing = response.headers.get("server-timing", "")
    for part in timing.split(";"):
        if part.startswith("dur="):
            return float(part[4:])
    raise RuntimeError(f"no Server-Timing in the response to {response.request.url}")


def run_console_bench(
    *, entries: int = 10_000, pending: int = 100, rate: int = 500, seconds: float = 4.0, rounds: int = 30
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and return its figures."""
    with tempfile.TemporaryDirectory(prefix="warded-bench-console-") as workdir:
        port = _free_port()
        origin = f"http://localhost:{port}"
        policy_path = write_demo_policy(workdir)
        text = Path(policy_path).read_text(encoding="utf-8")
        text = text.replace("  ttl: 15m ", f"  webauthn: {{origins: ['{origin}']}}\n  ttl: 15m ", 1)
        Path(policy_path).write_text(text, encoding="utf-8")
        policy = load_policy(policy_path)
        console = Console(policy)
        try:
            return _run(console, policy_path, origin, port, entries, pending, rate, seconds, rounds)
        finally:
            console.close()


def _fill(console: Console, entries: int, pending: int) -> None:
    started = time.time()
    for i in range(entries):
        console.audit.append("decision", _decision_body(i))
    for i in range(pending):
        console.approvals.save_request(
            make_request(
                request_id=f"rbench{i:04d}",
                agent_id="mail-assistant",
                session_id=f"s{i % 40}",
                tool="send_payment",
                arguments={"to_account": "GB33BUKB20201555555555", "amount": 10.0 + i, "memo": f"invoice {i}"},
                created_at=started,
                expires_at=started + 3600,
                nonce=secrets.token_hex(16),
                tier=Tier.FINANCIAL,
                reasons=[Reason("flow.untrusted.iban", "the account appears only in untrusted data")],
                taint=[
                    {
                        "rule_id": "flow.untrusted.iban",
                        "argument": "to_account",
                        "kind": "iban",
                        "value": "GB33BUKB20201555555555",
                        "sources": [{"label": "tool:read_email", "trusted": False, "where": "body"}],
                    }
                ],
            )
        )


def _run(  # noqa: PLR0917 - internal, one call site
    console: Console,
    policy_path: str,
    origin: str,
    port: int,
    entries: int,
    pending: int,
    rate: int,
    seconds: float,
    rounds: int,
) -> dict[str, Any]:
    _fill(console, entries, pending)
    session = console.sessions.new(time.time())
    session.approver = "bench"
    server = uvicorn.Server(
        GuardedConfig(create_app(console), limits=HttpLimits(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.02)
    try:
        cookies = {COOKIE: session.sid}
        headers = {"host": f"localhost:{port}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, headers=headers) as client:
            started = time.perf_counter()
            console.verify_chain_now()
            chain_ms = (time.perf_counter() - started) * 1000.0
            per_page: dict[str, list[float]] = {}
            for page in PAGES:
                first = client.get(page)
                if first.status_code != 200:
                    raise RuntimeError(f"{page} answered {first.status_code}")
                per_page[page] = [_server_ms(client.get(page)) for _ in range(rounds)]
        stream = _stream(console, port, cookies=cookies, headers=headers, rate=rate, seconds=seconds)
    finally:
        server.should_exit = True
        thread.join(10)
    times = [t for values in per_page.values() for t in values]
    return {
        "entries": entries,
        "pending": pending,
        "rounds": rounds,
        "page_ms_p50": round(statistics.median(times), 3),
        "page_ms_p99": round(_percentile(times, 0.99), 3),
        "page_ms_p50_by_page": {p: round(statistics.median(v), 3) for p, v in per_page.items()},
        "chain_verify_ms": round(chain_ms, 1),
        **stream,
        "cpu_count": os.cpu_count(),
    }


def _stream(
    console: Console,
    port: int,
    *,
    cookies: dict[str, str],
    headers: dict[str, str],
    rate: int,
    seconds: float,
) -> dict[str, Any]:
    received: list[int] = []
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, headers=headers, timeout=60) as client,
            client.stream("GET", "/decisions/stream") as response,
        ):
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                elif line.startswith("id: "):
                    received.append(int(line[4:]))
                if stop.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    if not ready.wait(10):
        raise RuntimeError("the stream did not open")
    policy = console.policy
    writer = open_sqlite_log(policy.audit_path(policy.spec.audit.path), policy.audit_path(policy.spec.audit.key))
    written: list[int] = []
    try:
        total = int(rate * seconds)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            written.append(writer.append("decision", _decision_body(i)).seq)
        writing_s = time.perf_counter() - start
    finally:
        writer.close()
    drain = time.monotonic() + 10
    want = set(written)
    while time.monotonic() < drain and not want <= set(received):
        time.sleep(0.05)
    stop.set()
    got = want & set(received)
    missing = len(want - got)  # whatever the feed missed (a `gap`) was never received either
    return {
        "stream_written": len(written),
        "stream_received": len(got),
        "stream_events_per_s": round(len(got) / writing_s, 1),
        "stream_write_rate_per_s": round(len(written) / writing_s, 1),
        "stream_dropped": missing,
    }
