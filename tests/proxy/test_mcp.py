"""The MCP proxy, end to end: the official ``mcp`` client talks through ``python -m warded.proxy.mcp.proxy`` to
real servers (one written with the SDK's FastMCP, and the npm reference filesystem server), on stdio and
on Streamable HTTP. Every server runs on loopback, started and stopped here."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from warded import ops
from warded.audit.keys import generate_keypair
from warded.config.mcp import McpConfigError, McpSpec
from warded.gateway.gateway import Gateway
from warded.proxy.mcp._wire import check_message
from warded.proxy.mcp.proxy import approve_tool, list_tool_pins

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).parent / "servers" / "fastmcp_server.py"
FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"
FS_CACHE = ROOT / "build" / "mcp-npm"

POLICY = """\
version: 1
agents:
  tester:
    tools: [echo, read_note, weather, add, transfer, hang, die, garbage, read_text_file, list_directory]
tools:
  echo: {tier: read, args: {text: {type: string, max_length: 10000}}}
  read_note: {tier: read, args: {name: {type: string, required: true}}}
  delete_note: {tier: destructive, args: {name: {type: string}}}
  weather: {tier: read, args: {city: {type: string}}}
  add: {tier: read, args: {a: {type: integer}, b: {type: integer}, note: {type: string}}}
  transfer: {tier: financial, args: {amount: {type: number}}}
  hang: {tier: read, args: {seconds: {type: number}}}
  die: {tier: read}
  garbage: {tier: read}
  read_text_file:
    tier: read
    args:
      path: {type: string, required: true, path: {roots: ["./files/public"]}}
      head: {type: number}
      tail: {type: number}
  list_directory:
    tier: read
    args:
      path: {type: string, required: true, path: {roots: ["./files/public"]}}
  write_file:
    tier: write
    args:
      path: {type: string, required: true, path: {roots: ["./files/public"]}}
      content: {type: string}
approval:
  tiers: [financial]
  approvers: {alice: alice.key.pub}
audit: {path: audit.db, key: audit.key}
"""

CallResult = tuple[bool, str]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "warded.yaml").write_text(POLICY, encoding="utf-8")
    generate_keypair(tmp_path / "alice.key")
    return tmp_path


def _config(workdir: Path, file: str = "mcp.yaml", **settings: Any) -> Path:
    settings.setdefault("env", {})
    settings["env"].setdefault("CALL_LOG", str(workdir / "calls.log"))
    path = workdir / file
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def _proxy(workdir: Path, config: Path, upstream: list[str]) -> StdioServerParameters:
    args = ["-m", "warded.cli", "mcp", "--policy", str(workdir / "warded.yaml"), "--agent", "tester"]
    args += ["--mcp-config", str(config), "--", *upstream]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ), cwd=str(workdir))


@contextlib.asynccontextmanager
async def _session(params: StdioServerParameters, workdir: Path) -> AsyncIterator[ClientSession]:
    with open(workdir / "stderr.log", "a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            with anyio.fail_after(30):
                await session.initialize()
            yield session


async def _call(session: ClientSession, name: str, arguments: dict[str, Any] | None = None) -> CallResult:
    with anyio.fail_after(30):
        result = await session.call_tool(name, arguments or {})
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    return bool(result.isError), text


async def _tools(session: ClientSession) -> set[str]:
    with anyio.fail_after(30):
        return {tool.name for tool in (await session.list_tools()).tools}


def _run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


def _calls(workdir: Path) -> list[str]:
    path = workdir / "calls.log"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def _audit(workdir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(workdir / "audit.db")) as db:
        rows = db.execute("SELECT kind, body FROM audit_entries ORDER BY seq").fetchall()
    return [{"kind": k, **json.loads(b)} for k, b in rows if kind is None or k == kind]


# -- a server written with the SDK (FastMCP), over stdio -------------------------------------------


def test_fastmcp_tools_are_vetted_and_calls_decided_before_forwarding(workdir: Path) -> None:
    params = _proxy(workdir, _config(workdir), [sys.executable, str(SERVER)])

    async def main() -> None:
        async with _session(params, workdir) as session:
            # Poisoned (add) and ungranted (delete_note) tools are hidden.
            assert await _tools(session) == {"echo", "read_note", "transfer", "weather", "hang", "die", "garbage"}
            assert await _call(session, "echo", {"text": "hello"}) == (False, "hello")

            error, text = await _call(session, "delete_note", {"name": "x"})
            assert error and "warded.default_deny" in text
            error, text = await _call(session, "add", {"a": 1, "b": 2})
            assert error and "mcp.tool_poisoned" in text and "before it reached the server" in text
            error, text = await _call(session, "nonexistent")
            assert error and "mcp.unknown_tool" in text

            # A secret in a result is redacted, in text and structured content alike.
            error, text = await _call(session, "read_note", {"name": "secret"})
            assert not error and "ghp_" not in text and "REDACTED" in text

            # A policy approval comes back as a tool error naming the approval request; once a human has
            # signed it, the same call goes through, once.
            error, text = await _call(session, "transfer", {"amount": 5})
            assert error and "approval.tier" in text
            found = re.search(r"approval request (r[0-9a-f]+)", text)
            assert found is not None
            ops.decide_request(str(workdir / "warded.yaml"), found.group(1), str(workdir / "alice.key"), approve=True)
            assert await _call(session, "transfer", {"amount": 5}) == (False, "transferred 5.0")
            error, text = await _call(session, "transfer", {"amount": 5})
            assert error and "approval request r" in text and found.group(1) not in text

            # Injected instructions in a result: withheld pending approval, and the session is quarantined.
            error, text = await _call(session, "read_note", {"name": "evil"})
            assert error and "human approval" in text and "injection" in text
            assert "Ignore all previous" not in text

    _run(main)
    assert _calls(workdir) == ["echo", "read_note", "transfer", "read_note"]  # nothing refused reached the server
    alerts = _audit(workdir, "alert")
    assert any(a["rule_id"] == "mcp.tool_poisoned" and a["tool"] == "add" for a in alerts)
    decisions = [e for e in _audit(workdir, "decision") if e["action"]["tool"] == "transfer"]
    assert decisions and decisions[0]["decision"]["verdict"] == "require_approval"
    assert _audit(workdir, "result_scanned")
    refused = {e["tool"] for e in _audit(workdir, "mcp_call_refused")}
    assert refused == {"add", "nonexistent"}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("2", id="description-changed"),
        pytest.param("3", id="readOnlyHint-flipped-to-true"),
        pytest.param("4", id="meta-gains-a-note"),
    ],
)
def test_rug_pull_hides_the_changed_tool_until_an_operator_approves_it(workdir: Path, variant: str) -> None:
    upstream = [sys.executable, str(SERVER)]
    seen: list[dict[str, Any]] = []

    async def run(variant: str, expect_visible: bool) -> CallResult:
        config = _config(workdir, f"mcp-{variant}.yaml", name="fastmcp-test", env={"TOOL_VARIANT": variant})
        async with _session(_proxy(workdir, config, upstream), workdir) as session:
            with anyio.fail_after(30):
                listed = {t.name: t for t in (await session.list_tools()).tools}
            assert ("weather" in listed) is expect_visible
            if "weather" in listed:
                seen.append(listed["weather"].model_dump(mode="json", by_alias=True, exclude_none=True))
            return await _call(session, "weather", {"city": "Oslo"})

    async def main() -> None:
        assert await run("1", True) == (False, "sunny in Oslo")  # first sight pins
        error, text = await run(variant, False)  # the definition changed: rug pull
        assert error and "mcp.tool_changed" in text
        assert _calls(workdir) == ["weather"]
        with Gateway.from_file(workdir / "warded.yaml") as gw:
            waiting = [p for p in list_tool_pins(gw, "fastmcp-test") if p.tool == "weather"]
            assert waiting[0].candidate is not None
            approve_tool(gw, "fastmcp-test", "weather", by="alice")
        assert await run(variant, True) == (False, "sunny in Oslo")  # approved: pinned anew

    _run(main)
    # The client is shown exactly the definitions that were pinned, annotations and _meta included.
    assert seen[0]["annotations"] == {"readOnlyHint": False, "destructiveHint": False}
    assert seen[1] != seen[0]
    with contextlib.closing(sqlite3.connect(workdir / "audit.db")) as db:
        (pinned,) = db.execute("SELECT definition FROM mcp_tool_pins WHERE tool = 'weather'").fetchone()
    assert json.loads(pinned) == seen[1]
    alerts = [a for a in _audit(workdir, "alert") if a["rule_id"] == "mcp.tool_changed"]
    assert len(alerts) == 1 and alerts[0]["tool"] == "weather"
    assert _audit(workdir, "mcp_tool_approved")[0]["by"] == "alice"


def test_upstream_that_hangs_talks_garbage_or_dies_fails_closed(workdir: Path) -> None:
    params = _proxy(workdir, _config(workdir, call_timeout="1s"), [sys.executable, str(SERVER)])

    async def main() -> None:
        async with _session(params, workdir) as session:
            error, text = await _call(session, "hang", {"seconds": 10})
            assert error and "did not answer in time" in text
            assert await _call(session, "echo", {"text": "still up"}) == (False, "still up")
            assert await _call(session, "garbage") == (False, "still here")
            error, text = await _call(session, "die")
            assert error
            # The proxy stayed up and starts the server afresh for the next call.
            assert await _call(session, "echo", {"text": "back"}) == (False, "back")

    _run(main)
    errors = _audit(workdir, "mcp_upstream_error")
    assert any("in time" in e["error"] for e in errors)
    assert any("not JSON-RPC" in e["error"] for e in errors)
    assert len(_audit(workdir, "mcp_upstream_connected")) == 2


def test_malformed_oversized_and_unknown_messages_get_protocol_errors(workdir: Path) -> None:
    config = _config(workdir, max_message_bytes=2048)
    command = [sys.executable, *_proxy(workdir, config, [sys.executable, str(SERVER)]).args]
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }
    lines = [
        json.dumps(init),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        "{this is not json",
        json.dumps({"jsonrpc": "2.0", "id": 5, "method": "resources/list"}),
        json.dumps({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "echo", "x": "a" * 5000}}),
        "[1, 2]",
        json.dumps({"id": 9, "hello": "world"}),
        json.dumps({"jsonrpc": "2.0", "id": 10, "method": "ping"}),
    ]

    async def main() -> None:
        async with await anyio.open_process(command, cwd=workdir, stderr=subprocess.DEVNULL) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdin.send(("\n".join(lines) + "\n").encode())
            buffer = b""
            replies: list[dict[str, Any]] = []
            with anyio.fail_after(30):
                while len(replies) < 7:
                    buffer += await proc.stdout.receive()
                    *complete, buffer = buffer.split(b"\n")
                    replies.extend(json.loads(line) for line in complete if line.strip())
            await proc.stdin.aclose()
            with anyio.fail_after(15):
                assert await proc.wait() == 0
        # Replies the proxy makes itself may overtake the SDK's; compare them as a set.
        by_id = sorted((str(r.get("id")), r.get("error", {}).get("code", 0)) for r in replies)
        expected = [(1, 0), (None, -32700), (5, -32601), (6, -32600), (None, -32600), (9, -32600), (10, 0)]
        assert by_id == sorted((str(i), code) for i, code in expected)
        assert next(r for r in replies if r.get("id") == 10)["result"] == {}

    _run(main)
    bad = _audit(workdir, "mcp_bad_input")
    assert sorted(b["code"] for b in bad) == [-32700, -32601, -32600, -32600, -32600]
    assert _calls(workdir) == []


# -- the npm reference filesystem server ------------------------------------------------------------


def _filesystem_server() -> Path:
    binary = FS_CACHE / "node_modules" / ".bin" / "mcp-server-filesystem"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the reference MCP filesystem server")
    FS_CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(FS_CACHE), "--no-audit", "--no-fund", "--loglevel=error", FS_PACKAGE],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return binary


def test_reference_filesystem_server_reads_inside_the_policy_only(workdir: Path) -> None:
    server = _filesystem_server()
    files = workdir / "files"
    (files / "public").mkdir(parents=True)
    (files / "private").mkdir()
    (files / "public" / "hello.txt").write_text("hello from the public folder\n", encoding="utf-8")
    (files / "private" / "secret.txt").write_text("the private folder\n", encoding="utf-8")
    # The server itself may touch all of files/; the policy narrows the agent to files/public.
    params = _proxy(workdir, _config(workdir), [str(server), str(files)])

    async def main() -> None:
        async with _session(params, workdir) as session:
            tools = await _tools(session)
            assert tools == {"read_text_file", "list_directory"}
            assert await _call(session, "read_text_file", {"path": str(files / "public" / "hello.txt")}) == (
                False,
                "hello from the public folder\n",
            )
            error, text = await _call(session, "list_directory", {"path": str(files / "public")})
            assert not error and "hello.txt" in text
            error, text = await _call(session, "read_text_file", {"path": str(files / "private" / "secret.txt")})
            assert error and "arg.read_text_file.path" in text and "private folder" not in text
            error, text = await _call(
                session, "read_text_file", {"path": str(files / "public" / ".." / "private" / "secret.txt")}
            )
            assert error and "private folder" not in text
            error, text = await _call(
                session, "write_file", {"path": str(files / "public" / "new.txt"), "content": "x"}
            )
            assert error and "warded" in text

    _run(main)
    assert not (files / "public" / "new.txt").exists()
    denied = [e for e in _audit(workdir, "decision") if e["decision"]["verdict"] == "deny"]
    assert {e["action"]["tool"] for e in denied} == {"read_text_file", "write_file"}


# -- Streamable HTTP -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(30):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
            else:
                await stream.aclose()
                return


def test_streamable_http_proxy_in_front_of_a_streamable_http_server(workdir: Path) -> None:
    up_port, proxy_port = _free_port(), _free_port()
    config = _config(workdir)
    log = open(workdir / "stderr.log", "ab")  # noqa: SIM115 - closed below, after both servers
    env = {**os.environ, "CALL_LOG": str(workdir / "calls.log")}
    upstream = subprocess.Popen([sys.executable, str(SERVER), "--http", str(up_port)], stderr=log, env=env)
    args = ["--policy", str(workdir / "warded.yaml"), "--agent", "tester", "--mcp-config", str(config)]
    args += ["--upstream", f"http://127.0.0.1:{up_port}/mcp", "--port", str(proxy_port)]
    proxy = subprocess.Popen([sys.executable, "-m", "warded.cli", "mcp", *args], stderr=log, cwd=workdir)
    url = f"http://127.0.0.1:{proxy_port}/mcp"

    async def main() -> None:
        await _wait_listening(up_port, upstream)
        await _wait_listening(proxy_port, proxy)
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            with anyio.fail_after(30):
                await session.initialize()
            tools = await _tools(session)
            assert "echo" in tools and "add" not in tools and "delete_note" not in tools
            assert await _call(session, "echo", {"text": "over http"}) == (False, "over http")
            error, text = await _call(session, "delete_note", {"name": "x"})
            assert error and "warded.default_deny" in text
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.post(url, content=b"{nope", headers=headers)
            assert reply.status_code == 400 and reply.json()["error"]["code"] == -32700
            reply = await client.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "prompts/list"}, headers=headers)
            assert reply.json() == {
                "jsonrpc": "2.0",
                "id": 3,
                "error": {"code": -32601, "message": "method not found: prompts/list"},
            }
            reply = await client.post(url, content=b"x" * (5 * 1024 * 1024), headers=headers)
            assert reply.status_code == 413

    try:
        _run(main)
    finally:
        for proc in (proxy, upstream):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    assert _calls(workdir) == ["echo"]
    assert len(_audit(workdir, "mcp_bad_input")) == 3


def test_mcp_config_resolves_credentials_from_wardeds_environment() -> None:
    spec = McpSpec.model_validate(
        {"env": {"API_TOKEN": "${UPSTREAM_TOKEN}"}, "headers": {"Authorization": "Bearer ${UPSTREAM_TOKEN}"}}
    )
    assert "s3cret" not in repr(spec)
    assert spec.upstream_env({"UPSTREAM_TOKEN": "s3cret"}) == {"API_TOKEN": "s3cret"}
    assert spec.upstream_headers({"UPSTREAM_TOKEN": "s3cret"}) == {"Authorization": "Bearer s3cret"}
    with pytest.raises(McpConfigError):
        spec.upstream_env({})
    assert spec.server_key(command=["npx", "server", "/tmp/a b"]) == "stdio:npx server '/tmp/a b'"


@pytest.mark.parametrize(
    ("raw", "code", "request_id"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', None, None),
        (b'{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{}}', -32601, "a"),
        (b'{"jsonrpc":"2.0","id":2,"method":"sampling/createMessage"}', -32601, 2),
        (b"\xff\xfe not utf-8", -32700, None),
        (b'{"jsonrpc":"2.0","id":3,"method":', -32700, None),
        (b'[{"jsonrpc":"2.0","id":4,"method":"ping"}]', -32600, None),
        (b'{"jsonrpc":"1.0","id":5,"method":"ping"}', -32600, 5),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', -32600, None),
        (b"[" * 100_000, -32700, None),
    ],
)
def test_check_message_answers_what_is_not_mcp(raw: bytes, code: int | None, request_id: object) -> None:
    message, bad = check_message(raw)
    if code is None:
        assert message is not None and bad is None
        return
    assert message is None and bad is not None and bad.reply is not None
    assert (bad.code, bad.request_id) == (code, request_id)
    assert json.loads(bad.reply) == {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": code, "message": bad.message},
    }


def test_unknown_notifications_are_dropped_without_reply() -> None:
    message, bad = check_message(b'{"jsonrpc":"2.0","method":"notifications/made_up"}')
    assert message is None and bad is not None and bad.reply is None


def test_a_plan_in_call_meta_locks_the_session(workdir: Path) -> None:
    params = _proxy(workdir, _config(workdir), [sys.executable, str(SERVER)])
    plan = {"warded.dev/plan": ["echo", "read_note"]}

    async def main() -> None:
        async with _session(params, workdir) as session:
            with anyio.fail_after(30):
                first = await session.call_tool("echo", {"text": "hi"}, meta=plan)
            assert not first.isError
            assert not (await _call(session, "read_note", {"name": "plain"}))[0]  # untrusted data enters
            # A sensitive tool outside the plan now needs a human, and says why.
            error, text = await _call(session, "transfer", {"amount": 5})
            assert error and "flow.plan" in text and "outside the session's plan" in text
            # The plan cannot be widened once untrusted data is in the session.
            with anyio.fail_after(30):
                late = await session.call_tool("echo", {"text": "x"}, meta={"warded.dev/plan": ["transfer"]})
            text = "\n".join(getattr(b, "text", "") for b in late.content)
            assert late.isError and "flow.plan_locked" in text

    _run(main)
    assert "transfer" not in _calls(workdir)
    assert [e["tools"] for e in _audit(workdir, "plan_declared")] == [["echo", "read_note"]]


def test_plan_sources_in_call_meta_are_declared_and_checked(workdir: Path) -> None:
    params = _proxy(workdir, _config(workdir), [sys.executable, str(SERVER)])
    plan = {"warded.dev/plan": ["echo", "read_note", "transfer"], "warded.dev/plan_sources": {"transfer.amount": []}}

    async def main() -> None:
        async with _session(params, workdir) as session:
            with anyio.fail_after(30):
                bad = await session.call_tool("echo", {"text": "hi"}, meta=plan)  # an empty source list
            text = "\n".join(getattr(b, "text", "") for b in bad.content)
            assert bad.isError and "flow.bad_plan" in text
            good = {**plan, "warded.dev/plan_sources": {"transfer.amount": ["read_note"]}}
            with anyio.fail_after(30):
                first = await session.call_tool("echo", {"text": "hi"}, meta=good)
            assert not first.isError

    _run(main)
    assert "echo" in _calls(workdir) and _calls(workdir).count("echo") == 1
    declared = _audit(workdir, "plan_declared")
    assert [(e["tools"], e.get("sources")) for e in declared] == [
        (["echo", "read_note", "transfer"], {"transfer.amount": ["read_note"]})
    ]
