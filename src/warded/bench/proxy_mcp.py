"""Benchmark: MCP ``tools/call`` round trips direct to a FastMCP server and through the warded proxy.

Both paths run in one process against two copies of the same server, with the calls interleaved (one
direct, one proxied, ...) so that machine noise hits both alike. The proxied path includes everything
warded does on a call: the policy decision, argument and result scanning, the audit append, and one
more stdio hop each way. ``python -m warded.bench.proxy_mcp`` prints the figures; ``--json`` one object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

__all__ = ["run_mcp_bench"]

_POLICY = """\
version: 1
agents:
  bench:
    tools: [echo]
tools:
  echo:
    tier: read
    args:
      text: {type: string, required: true, max_length: 10000}
audit: {path: bench-audit.db, key: bench-audit.key}
"""
# A small, realistic tool payload: scanned on the way in (argument) and on the way out (result).
_TEXT = (
    "Meeting notes, 14 March: the team agreed to ship the quarterly report on Friday. Alice owns the charts, "
    "Bob reviews the numbers, and the draft goes to the finance group for sign-off before noon."
)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(policy: str, n: int, warmup: int) -> tuple[list[float], list[float]]:
    server = [sys.executable, "-m", "warded.bench._mcp_server"]
    proxy = [sys.executable, "-m", "warded.cli", "mcp", "--policy", policy, "--agent", "bench", "--", *server]
    with open(os.devnull, "w", encoding="utf-8") as quiet:
        async with AsyncExitStack() as stack:
            sessions = []
            for command in (server, proxy):
                params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
                read, write = await stack.enter_async_context(stdio_client(params, errlog=quiet))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                await session.list_tools()
                sessions.append(session)
            times: tuple[list[float], list[float]] = ([], [])
            for i in range(warmup + n):
                for which, session in enumerate(sessions):
                    started = time.perf_counter()
                    result = await session.call_tool("echo", {"text": _TEXT})
                    elapsed = (time.perf_counter() - started) * 1000
                    if result.isError:
                        raise RuntimeError(f"benchmark call failed: {result.content}")
                    if i >= warmup:
                        times[which].append(elapsed)
            return times


def run_mcp_bench(n: int = 200, *, warmup: int = 30) -> dict[str, Any]:
    """Time ``n`` echo calls direct and through warded (stdio); returns medians, p99 and the ratio."""
    if n < 1:
        raise ValueError("n must be positive")
    with tempfile.TemporaryDirectory(prefix="warded-bench-mcp-") as tmp:
        policy = os.path.join(tmp, "warded.yaml")
        with open(policy, "w", encoding="utf-8") as fh:
            fh.write(_POLICY)
        direct, proxied = anyio.run(_measure, policy, n, warmup)
    diffs = [p - d for d, p in zip(direct, proxied, strict=True)]
    direct_p50 = statistics.median(direct)
    proxied_p50 = statistics.median(proxied)
    return {
        "calls": n,
        "payload_chars": len(_TEXT),
        "mcp_direct_ms_p50": round(direct_p50, 3),
        "mcp_direct_ms_p99": round(_quantile(direct, 0.99), 3),
        "mcp_proxied_ms_p50": round(proxied_p50, 3),
        "mcp_proxied_ms_p99": round(_quantile(proxied, 0.99), 3),
        "mcp_added_ms_p50": round(proxied_p50 - direct_p50, 3),
        "mcp_added_ms_p50_paired": round(statistics.median(diffs), 3),
        "mcp_ratio_p50": round(proxied_p50 / direct_p50, 3) if direct_p50 > 0 else None,
    }


def _print(figures: dict[str, Any]) -> None:
    print(
        textwrap.dedent(
            f"""\
            MCP tools/call, {figures["calls"]} calls, {figures["payload_chars"]}-character payload (stdio)
              direct   p50 {figures["mcp_direct_ms_p50"]:8.3f} ms   p99 {figures["mcp_direct_ms_p99"]:8.3f} ms
              warded   p50 {figures["mcp_proxied_ms_p50"]:8.3f} ms   p99 {figures["mcp_proxied_ms_p99"]:8.3f} ms
              added    p50 {figures["mcp_added_ms_p50"]:8.3f} ms   (paired {figures["mcp_added_ms_p50_paired"]:.3f} ms)
              ratio    p50 {figures["mcp_ratio_p50"]}x"""
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warded.bench.proxy_mcp")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run_mcp_bench(args.n)
    if args.json:
        print(json.dumps(figures))
    else:
        _print(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
