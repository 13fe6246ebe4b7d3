"""Bypass class: a relative path escapes the path roots (issue 8, item 1).

A relative path means what the tool's own working directory makes of it. The npm reference filesystem
server resolves ``private.txt`` against *its* allowed directories, which may be wider than the policy's
roots; the path constraint used to join it to the policy's first root instead, and allowed it. Now a
relative path is refused unless the policy declares the ``base`` it is resolved against.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from warded.policy._constraints.path import RELATIVE_NO_BASE
from warded.policy.compile import load_policy
from warded.policy.constraints import ArgSpec, compile_arg

ROOT = Path(__file__).resolve().parents[2]
FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"
FS_CACHE = ROOT / "build" / "mcp-npm"
RULE = "arg.read_file.path.path"
SECRET = "PRIVATE-CONTENT-42\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """tmp/files (what a tool may see) holding public/ (the policy root) and private files beside it."""
    files = tmp_path / "files"
    (files / "public" / "sub").mkdir(parents=True)
    (files / "public" / "hello.txt").write_text("hello\n", encoding="utf-8")
    (files / "private.txt").write_text(SECRET, encoding="utf-8")
    return files


def _check(files: Path, value: object, base: str | None) -> list[str]:
    path: dict[str, Any] = {"roots": [str(files / "public")]}
    if base is not None:
        path["base"] = base.format(f=files)
    checker = compile_arg("read_file", "path", ArgSpec.model_validate({"path": path}))
    violations = checker.check(value)
    assert all(v.rule_id == RULE for v in violations)
    return [v.message for v in violations]


# (value, base or None; {f} is the files directory, the policy root is {f}/public)
REFUSED_WITHOUT_BASE = [
    pytest.param("private.txt", id="bare-file-name"),
    pytest.param("hello.txt", id="name-that-exists-under-the-root"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dot-dot"),
    pytest.param("./x", id="dot-slash"),
    pytest.param("sub/../../x", id="dot-dot-inside-relative"),
    pytest.param("public/hello.txt", id="relative-naming-the-root"),
    pytest.param("public/../private.txt", id="relative-through-the-root"),
    pytest.param(" /etc/passwd", id="leading-space-makes-it-relative"),
]


@pytest.mark.parametrize("value", REFUSED_WITHOUT_BASE)
def test_relative_path_without_base_is_refused(files: Path, value: str) -> None:
    [message] = _check(files, value, None)
    assert RELATIVE_NO_BASE in message


@pytest.mark.parametrize(
    ("value", "why"),
    [
        pytest.param("", "empty", id="empty-string"),
        pytest.param("~x", "'~'", id="tilde-user"),
        pytest.param("~/x", "'~'", id="tilde-home"),
    ],
)
def test_other_relative_forms_are_refused_even_with_a_base(files: Path, value: str, why: str) -> None:
    for base in (None, "{f}/public"):
        [message] = _check(files, value, base)
        assert why in message


# (value, base, allowed?)
WITH_BASE = [
    pytest.param("hello.txt", "{f}/public", True, id="base-is-the-root"),
    pytest.param("./hello.txt", "{f}/public", True, id="dot-slash-under-base"),
    pytest.param(".", "{f}/public", True, id="dot-is-the-base-inside-root"),
    pytest.param("sub/../hello.txt", "{f}/public", True, id="dot-dot-staying-inside"),
    pytest.param("public/hello.txt", "{f}", True, id="wider-base-into-the-root"),
    pytest.param("private.txt", "{f}", False, id="wider-base-outside-the-root"),
    pytest.param(".", "{f}", False, id="dot-is-a-base-outside-the-root"),
    pytest.param("sub/../../x", "{f}/public", False, id="dot-dot-escaping-base"),
    pytest.param("../private.txt", "{f}/public", False, id="parent-of-base"),
    pytest.param("public/../private.txt", "{f}", False, id="through-the-root-and-out"),
    pytest.param("x", "/", False, id="base-root-directory"),
]


@pytest.mark.parametrize(("value", "base", "ok"), WITH_BASE)
def test_relative_path_with_base_is_joined_to_base(files: Path, value: str, base: str, ok: bool) -> None:
    messages = _check(files, value, base)
    assert (messages == []) is ok, messages
    assert all(RELATIVE_NO_BASE not in m for m in messages)


LISTS = [
    pytest.param(["{f}/public/hello.txt", "private.txt"], id="relative-second-element"),
    pytest.param(["private.txt", "{f}/public/hello.txt"], id="relative-first-element"),
    pytest.param(["{f}/public/hello.txt", "{f}/private.txt"], id="absolute-outside-element"),
    pytest.param(["{f}/public/hello.txt", ["private.txt"]], id="nested-list-element"),
    pytest.param(["{f}/public/hello.txt", {"path": "private.txt"}], id="object-element"),
    pytest.param({"path": "private.txt"}, id="object-instead-of-list"),
]


@pytest.mark.parametrize("value", LISTS)
def test_every_element_of_a_path_list_is_judged(files: Path, value: object) -> None:
    def fill(item: object) -> object:
        if isinstance(item, str):
            return item.format(f=files)
        if isinstance(item, list):
            return [fill(i) for i in item]
        return item

    checker = compile_arg(
        "read_file", "path", ArgSpec.model_validate({"type": "any", "path": {"roots": [str(files / "public")]}})
    )
    assert [v.rule_id for v in checker.check(fill(value))] == [RULE]
    assert checker.check([str(files / "public" / "hello.txt")]) == []


def test_relative_base_in_a_policy_file_is_relative_to_that_file(tmp_path: Path, files: Path) -> None:
    policy = tmp_path / "warded.yaml"
    policy.write_text(
        "version: 1\nagents: {a: {tools: [read_file]}}\ntools:\n  read_file:\n    tier: read\n"
        "    args: {path: {type: string, path: {roots: ['./files/public'], base: './files'}}}\n",
        encoding="utf-8",
    )
    checker = load_policy(policy).tools["read_file"].checkers["path"]
    assert checker.check("public/hello.txt") == []
    assert [v.rule_id for v in checker.check("private.txt")] == [RULE]


# -- end to end: the npm reference filesystem server, started with a wider directory than the root ---

MCP_POLICY = """\
version: 1
agents:
  tester:
    tools: [read_text_file, read_file, list_directory, read_multiple_files, get_file_info]
tools:
  read_text_file:
    tier: read
    args: {path: {type: string, required: true, path: {roots: ["./files/public"]BASE}}}
  read_file:
    tier: read
    args: {path: {type: string, required: true, path: {roots: ["./files/public"]BASE}}}
  list_directory:
    tier: read
    args: {path: {type: string, required: true, path: {roots: ["./files/public"]BASE}}}
  get_file_info:
    tier: read
    args: {path: {type: string, required: true, path: {roots: ["./files/public"]BASE}}}
  read_multiple_files:
    tier: read
    args: {paths: {type: array, required: true, path: {roots: ["./files/public"]BASE}}}
# The classifier is left out so that its cold start (issue 8, item 11) cannot hide a tool here.
scan: {scanners: [hidden_text, injection_rules, secrets]}
audit: {path: audit.db, key: audit.key}
"""


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


@contextlib.asynccontextmanager
async def _session(workdir: Path, files: Path) -> AsyncIterator[ClientSession]:
    config = workdir / "mcp.json"
    config.write_text(json.dumps({}), encoding="utf-8")
    args = ["-m", "warded.cli", "mcp", "--policy", str(workdir / "warded.yaml"), "--agent", "tester"]
    args += ["--mcp-config", str(config), "--", str(_filesystem_server()), str(files)]
    params = StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ), cwd=str(workdir))
    with open(workdir / "stderr.log", "a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            with anyio.fail_after(30):
                await session.initialize()
            yield session


async def _call(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    with anyio.fail_after(30):
        result = await session.call_tool(name, arguments)
    return bool(result.isError), "\n".join(getattr(block, "text", "") for block in result.content)


#: Every call here reaches outside files/public if the server resolves it against files/.
MCP_REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("read_text_file", {"path": "private.txt"}),
    ("read_file", {"path": "private.txt"}),
    ("list_directory", {"path": "."}),
    ("get_file_info", {"path": "private.txt"}),
    ("read_multiple_files", {"paths": ["public/hello.txt", "private.txt"]}),
]


@pytest.mark.parametrize("with_base", [False, True], ids=["no-base", "base-is-the-server-directory"])
def test_reference_server_with_a_wider_directory_cannot_be_reached_by_relative_paths(
    tmp_path: Path, files: Path, with_base: bool
) -> None:
    base = ', base: "./files"' if with_base else ""
    (tmp_path / "warded.yaml").write_text(MCP_POLICY.replace("BASE", base), encoding="utf-8")

    async def main() -> None:
        async with _session(tmp_path, files) as session:
            for tool, arguments in MCP_REFUSED:
                error, text = await _call(session, tool, arguments)
                assert error, (tool, arguments, text)
                assert SECRET.strip() not in text and "[FILE]" not in text and "size:" not in text, text
                assert f"arg.{tool}." in text
                if not with_base:
                    assert RELATIVE_NO_BASE in text
            # With the base declared, a relative path that the server resolves inside the root works.
            error, text = await _call(session, "read_text_file", {"path": "public/hello.txt"})
            assert (error, text) == ((False, "hello\n") if with_base else (True, text))

    anyio.run(main)
