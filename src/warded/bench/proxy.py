"""``warded bench proxy``: the same workloads direct and through warded, in one run.

MCP ``tools/call`` round trips (stdio), chat completions non-streaming and time to first token, and
decide-API requests per second with several workers. Each part is its own module; this one runs them
and gathers the headline figures.
"""

from __future__ import annotations

from typing import Any

from warded.bench.proxy_api import run_api_bench
from warded.bench.proxy_chat import run_chat_bench
from warded.bench.proxy_mcp import run_mcp_bench


def run_proxy_bench(*, n: int = 200, workers: int = 2, seconds: float = 5.0) -> dict[str, Any]:
    mcp = run_mcp_bench(n)
    chat = run_chat_bench(n, verbose=False)
    api = run_api_bench(workers=workers, seconds=seconds)
    return {
        "benchmark": "proxy",
        "mcp_added_ms_p50": mcp.get("mcp_added_ms_p50"),
        "chat_added_ms_p50": chat.get("chat_added_ms_p50"),
        "ttft_added_ms_p50": chat.get("ttft_added_ms_p50"),
        "decide_api_rps": api.get("decide_api_rps"),
        "mcp": mcp,
        "chat": chat,
        "decide_api": api,
    }
