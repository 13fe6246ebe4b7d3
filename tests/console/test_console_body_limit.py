"""Request bodies are bounded before they are read: a Content-Length over 64 KiB is refused (413) without
reading a byte, a bad one is a 400, a lying one is caught as the bytes arrive, and a chunked body is cut at
the cap. The app is driven over raw ASGI with an endless body, so reading on past the cap fails the test
(never hangs it), and how much was read is counted."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from warded.console import create_app, open_console
from warded.console._auth import COOKIE
from warded.console.app import MAX_BODY, Console
from warded.demo import write_demo_policy

ORIGIN = "http://localhost:8787"
CHUNK = 1024
NEVER_PAST = 4 * MAX_BODY


class ReadPastTheCap(Exception):
    """The app kept reading a body far past the cap (the defect)."""


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = open_console(write_demo_policy(str(tmp_path)))
    try:
        yield c
    finally:
        c.close()


def _call(
    c: Console, headers: dict[str, str], body: bytes | None, *, path: str = "/register/options", method: str = "POST"
) -> tuple[int, dict[str, Any], int]:
    """(status, JSON reply, bytes the app received) for one request; ``body`` None is an endless body."""
    session = c.sessions.new(c.clock())
    all_headers = {
        "host": "localhost:8787",
        "origin": ORIGIN,
        "cookie": f"{COOKIE}={session.sid}",
        "x-csrf-token": session.csrf,
        "content-type": "application/json",
        **headers,
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
    }
    sent = 0
    replies: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if body is not None:
            if sent:
                return {"type": "http.disconnect"}
            sent = len(body)
            return {"type": "http.request", "body": body, "more_body": False}
        if sent >= NEVER_PAST:
            raise ReadPastTheCap(f"read {sent} bytes")
        sent += CHUNK
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        replies.append(message)

    asyncio.run(create_app(c)(scope, receive, send))
    start = next(m for m in replies if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in replies if m["type"] == "http.response.body")
    return start["status"], json.loads(text), sent


def test_a_declared_length_over_the_cap_is_refused_unread(console: Console) -> None:
    status, reply, read = _call(console, {"content-length": str(MAX_BODY + 1)}, None)
    assert (status, read) == (413, 0) and "over" in reply["error"]
    # On any route, signed in or not, GET included: the headers alone decide.
    status, _, read = _call(console, {"content-length": str(10**12)}, None, path="/login", method="GET")
    assert (status, read) == (413, 0)


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "12 ", "9" * 40, ""])
def test_a_bad_content_length_is_refused_unread(console: Console, value: str) -> None:
    status, reply, read = _call(console, {"content-length": value}, None)
    assert (status, read) == (400, 0) and "Content-Length" in reply["error"]


def test_a_lying_content_length_is_caught_as_the_bytes_arrive(console: Console) -> None:
    # Declares 100 bytes, sends without end: refused at the first chunk past 100, not at 64 KiB or later.
    status, reply, read = _call(console, {"content-length": "100"}, None)
    assert status == 400 and "longer than its Content-Length" in reply["error"] and read <= 100 + CHUNK
    # Declares 50, sends 10 and ends: refused as well.
    status, reply, _ = _call(console, {"content-length": "50"}, b'{"code":1}')
    assert status == 400 and "shorter" in reply["error"]


def test_a_chunked_body_is_cut_at_the_cap(console: Console) -> None:
    status, reply, read = _call(console, {"transfer-encoding": "chunked"}, None)
    assert status == 413 and MAX_BODY < read <= MAX_BODY + CHUNK and "over" in reply["error"]


def test_bodies_within_the_cap_are_read_as_before(console: Console) -> None:
    body = json.dumps({"code": "not-a-code"}).encode()
    # A well-formed request reaches the handler (which refuses the made-up code), chunked or with a length.
    for headers in ({"content-length": str(len(body))}, {"transfer-encoding": "chunked"}):
        status, reply, read = _call(console, headers, body)
        assert (status, read) == (403, len(body)) and "enrolment code" in reply["error"]
    padded = b'{"code":"x"}' + b" " * (MAX_BODY - 12)  # exactly the cap
    assert _call(console, {"content-length": str(MAX_BODY)}, padded)[0] == 403


def test_through_a_client_the_refusals_carry_the_security_headers(console: Console) -> None:
    with TestClient(create_app(console), base_url="https://localhost:8787") as client:
        refused = client.post("/register/options", content=b" " * (MAX_BODY + 1))
        assert refused.status_code == 413 and "default-src 'none'" in refused.headers["content-security-policy"]

        def chunks() -> Iterator[bytes]:
            for _ in range(100):
                yield b" " * CHUNK

        # Without Origin and CSRF token the body is never read (403); with them, it is cut at the cap.
        assert client.post("/register/options", content=chunks()).status_code == 403
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
        assert token is not None
        headers = {"origin": ORIGIN, "x-csrf-token": token.group(1)}
        assert client.post("/register/options", content=chunks(), headers=headers).status_code == 413
