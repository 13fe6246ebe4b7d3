"""Issue 8 item 9: no client, credentials or not, can exhaust an HTTP server warded runs.

Half a request line used to hold a socket forever; thousands of them turned every request into a 503. Every
listener (decision API, chat proxy, MCP Streamable HTTP) now closes a connection whose request head or body
does not arrive in time, answers 431 to an oversized head, and at its connection cap closes the connection
that has waited longest for its request instead of refusing the newcomer.

The listener is tested in-process (both of uvicorn's parsers), then each server as its command starts it.
Waits are generous deadlines for an event, never measured durations.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from warded.config.http import HttpLimits
from warded.config.serve import hash_api_key
from warded.proxy._http_server import GuardedConfig, HttpLimitsError

Parser = Literal["auto", "h11"]
PARSERS = [pytest.param("auto", id="httptools"), pytest.param("h11", id="h11")]
SHORT = 0.5  # header/body timeout of the servers under test
CLOSE_WAIT = 15.0  # a generous deadline for the server to close a connection it should close
ROOT = Path(__file__).resolve().parents[2]
MCP_SERVER = ROOT / "tests" / "proxy" / "servers" / "fastmcp_server.py"


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200 ``ok``."""
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _listening(app: Any, limits: HttpLimits, parser: Parser = "auto") -> Iterator[int]:
    """``app`` behind the guarded listener on 127.0.0.1 in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = GuardedConfig(
        app, limits=limits, parser=parser, log_level="critical", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _connect(port: int, data: bytes = b"", source: str | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if source is not None:
            sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        if data:
            sock.sendall(data)
    except BaseException:
        sock.close()
        raise
    return sock


def _closed_by_server(sock: socket.socket, wait: float = CLOSE_WAIT) -> bytes | None:
    """What the server sent before closing ``sock``, or ``None`` if it was still open after ``wait``."""
    received = b""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _left_open(socks: list[socket.socket], wait: float = CLOSE_WAIT) -> int:
    """How many of ``socks`` the server has not closed within ``wait`` (one deadline for all of them)."""
    pending = set(socks)
    deadline = time.monotonic() + wait
    while pending and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(list(pending), [], [], left)
        for sock in readable:
            try:
                closed = sock.recv(65536, socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                closed = False
            except ConnectionResetError:
                closed = True
            if closed:
                pending.discard(sock)
    return len(pending)


def _still_open(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except TimeoutError:
        return True
    except ConnectionResetError:
        return False


def _get(port: int, path: str = "/", **headers: str) -> httpx.Response:
    with httpx.Client(timeout=10, trust_env=False) as client:
        return client.get(f"http://127.0.0.1:{port}{path}", headers=headers)


# -- the listener: each way of holding a connection without finishing a request -----------------------

HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"


def _dribble(sock: socket.socket, chunks: Iterator[bytes]) -> bytes | None:
    """Keep sending one chunk at a time until the server closes (its reply) or ~CLOSE_WAIT passes (None)."""
    deadline = time.monotonic() + CLOSE_WAIT
    while time.monotonic() < deadline:
        try:
            sock.sendall(next(chunks))
        except (BrokenPipeError, ConnectionResetError):
            return b""
        received = _closed_by_server(sock, wait=0.1)
        if received is not None:
            return received
    return None


def _forever(unit: bytes) -> Iterator[bytes]:
    while True:
        yield unit


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
STALLS = [
    pytest.param(b"", b"", b"", id="connect-and-send-nothing"),
    pytest.param(b"", b"GET /v1/deci", b"HTTP/1.1 408", id="half-a-request-line"),
    pytest.param(b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 408", id="request-line-without-headers"),
    pytest.param(b"", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", b"HTTP/1.1 408", id="headers-never-ended"),
    pytest.param(b"", HEAD, b"", id="head-then-no-body"),
    pytest.param(b"", HEAD + b'{"session_id": ', b"", id="head-then-part-of-the-body"),
    pytest.param(GET, b"GET / HT", b"HTTP/1.1 408", id="keep-alive-then-half-a-request"),
    pytest.param(GET, HEAD, b"", id="keep-alive-then-a-head-without-body"),
    pytest.param(GET + b"GET / HT", b"", b"", id="pipelined-half-request"),
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(("first", "stall", "reply_starts"), STALLS)
def test_a_stalled_request_is_closed(parser: Parser, first: bytes, stall: bytes, reply_starts: bytes) -> None:
    # keep_alive_s is long: only the header and body timeouts can close these.
    limits = HttpLimits(header_timeout_s=SHORT, body_timeout_s=SHORT, keep_alive_s=60)
    with _listening(_hello, limits, parser) as port:
        sock = _connect(port, first)
        try:
            if first:  # a complete request first: its answer arrives, then the stall
                sock.settimeout(10)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            sock.sendall(stall)
            received = _closed_by_server(sock)
            assert received is not None, "the server kept the stalled connection open"
            assert received.startswith(reply_starts)
        finally:
            sock.close()


DRIBBLES = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n", b"X", id="one-header-byte-at-a-time"),
    pytest.param(b"GET /", b"a", id="one-request-line-byte-at-a-time"),
    pytest.param(HEAD.replace(b"100", b"100000"), b"{", id="one-body-byte-at-a-time"),
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(("start", "unit"), DRIBBLES)
def test_dribbling_bytes_does_not_extend_the_deadline(parser: Parser, start: bytes, unit: bytes) -> None:
    limits = HttpLimits(header_timeout_s=SHORT, body_timeout_s=SHORT)
    with _listening(_hello, limits, parser) as port:
        sock = _connect(port, start)
        try:
            assert _dribble(sock, _forever(unit)) is not None, "a dribbling client held the connection open"
        finally:
            sock.close()


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096, id="one-huge-header"),
        pytest.param(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 700, id="many-headers"),
        pytest.param(b"GET /" + b"a" * 4096, id="huge-request-line"),
    ],
)
def test_an_oversized_head_is_refused(parser: Parser, head: bytes) -> None:
    limits = HttpLimits(header_timeout_s=60, max_header_bytes=1024)
    with _listening(_hello, limits, parser) as port:
        sock = _connect(port)
        try:
            for start in range(0, len(head), 512):  # in pieces, as a slow client would send it
                try:
                    sock.sendall(head[start : start + 512])
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.01)
            received = _closed_by_server(sock)
            assert received is not None and received[:10] == b"HTTP/1.1 4"  # 431 (httptools) or h11's own 400
        finally:
            sock.close()


# -- the listener: connection caps ---------------------------------------------------------------------


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "stall",
    [
        pytest.param(b"", id="idle-sockets"),
        pytest.param(b"GET / HT", id="half-request-lines"),
        pytest.param(HEAD, id="bodies-never-sent"),
    ],
)
def test_at_the_cap_the_oldest_waiting_connection_makes_room(parser: Parser, stall: bytes) -> None:
    # Timeouts far away: only the cap can protect the legitimate request here.
    limits = HttpLimits(header_timeout_s=120, body_timeout_s=120, max_connections=8)
    with _listening(_hello, limits, parser) as port:
        held = [_connect(port, stall) for _ in range(30)]
        try:
            for _ in range(3):
                assert _get(port).text == "ok"
            # The oldest half-open sockets were closed to make room for the later ones and the requests.
            assert _left_open(held[:20]) == 0
        finally:
            for sock in held:
                sock.close()


def test_a_client_at_its_own_cap_evicts_only_its_own_connections() -> None:
    limits = HttpLimits(header_timeout_s=120, max_connections=16, max_connections_per_client=4)
    with _listening(_hello, limits) as port:
        patient = _connect(port, b"GET / HTTP/1.1\r\nHost: x\r\n", source="127.0.0.3")
        flood = [_connect(port, b"GET / HT", source="127.0.0.2") for _ in range(30)]
        try:
            assert _get(port).text == "ok"
            assert sum(_still_open(sock) for sock in flood) <= 4
            # The other client's slow request survived the flood and completes.
            patient.sendall(b"\r\n")
            patient.settimeout(10)
            assert patient.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            patient.close()
            for sock in flood:
                sock.close()


def test_when_every_connection_is_busy_a_new_one_gets_503() -> None:
    release = threading.Event()
    started: list[str] = []

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            started.append(scope["path"])
            while not release.is_set():
                await asyncio.sleep(0.02)
        await _hello(scope, receive, send)

    limits = HttpLimits(max_connections=2)
    with _listening(slow, limits) as port:
        busy = [_connect(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(2)]
        try:
            deadline = time.monotonic() + CLOSE_WAIT
            while len(started) < 2 and time.monotonic() < deadline:  # both requests reach the app
                time.sleep(0.01)
            assert len(started) == 2
            refused = _connect(port)
            try:
                assert (_closed_by_server(refused) or b"").startswith(b"HTTP/1.1 503")
            finally:
                refused.close()
            release.set()
            for sock in busy:
                sock.settimeout(10)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            release.set()
            for sock in busy:
                sock.close()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"header_timeout_s": 0}, id="zero-header-timeout"),
        pytest.param({"body_timeout_s": -1}, id="negative-body-timeout"),
        pytest.param({"max_connections": 0}, id="no-connections"),
        pytest.param({"max_connections": 4, "max_connections_per_client": 5}, id="per-client-above-total"),
        pytest.param({"max_header_bytes": 10}, id="tiny-head"),
        pytest.param({"header_timeout_s": "10"}, id="timeout-as-text"),
        pytest.param({"header_timeout": 10}, id="misspelt-key"),
    ],
)
def test_bad_limits_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        HttpLimits.model_validate(settings)


def test_more_connections_than_descriptors_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource  # noqa: PLC0415

    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 1024))
    with pytest.raises(HttpLimitsError, match="file descriptors"):
        GuardedConfig(_hello, limits=HttpLimits(max_connections=4096))


# -- each server warded runs, started as its command starts it -------------------------------------------

FLOOD = 40
CAP = 16
LIMITS = {"header_timeout_s": SHORT, "body_timeout_s": SHORT, "max_connections": CAP}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(command: list[str], cwd: Path, port: int) -> Iterator[None]:
    log = open(cwd / "server.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=log, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(cwd / 'server.log').read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _flood_then_serve(port: int, legit: Callable[[], None]) -> None:
    """FLOOD half-open connections (more than the cap): the legitimate request is still answered, and every
    half-open connection is closed by the server."""
    held = [_connect(port, b"POST /v1/decide HT" if i % 2 else b"") for i in range(FLOOD)]
    try:
        legit()
        left = _left_open(held)
        assert left == 0, f"{left} stalled connections left open"
        legit()
    finally:
        for sock in held:
            sock.close()


DECIDE_POLICY = """\
version: 1
agents:
  mailer:
    tools: [read_inbox]
tools:
  read_inbox: {tier: read}
"""


def test_decision_api_closes_stalled_connections(tmp_path: Path) -> None:
    (tmp_path / "warded.yaml").write_text(DECIDE_POLICY, encoding="utf-8")
    port = _free_port()
    spec = {"api_keys": {"mailer": hash_api_key("wdk_test-mailer-key")}, "http_limits": LIMITS}
    command = [sys.executable, "-m", "warded.proxy.api.serve", "warded.yaml", "--port", str(port)]
    command += ["--spec-json", json.dumps(spec)]

    def legit() -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            reply = client.post(
                f"http://127.0.0.1:{port}/v1/decide",
                json={"session_id": "s", "tool": "read_inbox"},
                headers={"Authorization": "Bearer wdk_test-mailer-key"},
            )
        assert reply.status_code == 200 and reply.json()["verdict"] == "allow"

    with _process(command, tmp_path, port):
        _flood_then_serve(port, legit)


async def _models(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A stand-in chat upstream: ``GET /v1/models`` lists one model."""
    body = json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_chat_proxy_closes_stalled_connections(tmp_path: Path) -> None:
    (tmp_path / "warded.yaml").write_text(
        "version: 1\nagents:\n  agent-a:\n    tools: [get_weather]\ntools:\n  get_weather: {tier: read}\n",
        encoding="utf-8",
    )
    with _listening(_models, HttpLimits()) as upstream_port:
        config = {
            "upstream_url": f"http://127.0.0.1:{upstream_port}/v1",
            "clients": [{"key": "client-key-0123456789abcdef", "agent": "agent-a"}],
            "models": ["test-model"],
            "http_limits": LIMITS,
        }
        (tmp_path / "chat.json").write_text(json.dumps(config), encoding="utf-8")  # YAML is a superset of JSON
        port = _free_port()
        code = "import sys; from warded.cli import main; sys.exit(main(sys.argv[1:]))"
        command = [sys.executable, "-c", code, "chat", "--policy", "warded.yaml", "--config", "chat.json"]
        command += ["--port", str(port)]

        def legit() -> None:
            reply = _get(port, "/v1/models", Authorization="Bearer client-key-0123456789abcdef")
            assert reply.status_code == 200 and [m["id"] for m in reply.json()["data"]] == ["test-model"]

        with _process(command, tmp_path, port):
            _flood_then_serve(port, legit)


def test_mcp_http_proxy_closes_stalled_connections(tmp_path: Path) -> None:
    (tmp_path / "warded.yaml").write_text(
        "version: 1\nagents:\n  tester:\n    tools: [echo]\ntools:\n  echo: {tier: read, args: {text: {type: string}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "mcp.json").write_text(
        json.dumps({"env": {"CALL_LOG": str(tmp_path / "calls.log")}, "http_limits": LIMITS}), encoding="utf-8"
    )
    up_port, port = _free_port(), _free_port()
    upstream = [sys.executable, str(MCP_SERVER), "--http", str(up_port)]
    proxy = [sys.executable, "-m", "warded.cli", "mcp", "--policy", "warded.yaml", "--agent", "tester"]
    proxy += ["--mcp-config", "mcp.json", "--upstream", f"http://127.0.0.1:{up_port}/mcp", "--port", str(port)]
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }

    def legit() -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            reply = client.post(
                f"http://127.0.0.1:{port}/mcp",
                json=initialize,
                headers={"accept": "application/json, text/event-stream"},
            )
        assert reply.status_code == 200 and b'"serverInfo"' in reply.content

    with _process(upstream, tmp_path, up_port), _process(proxy, tmp_path, port):
        _flood_then_serve(port, legit)
