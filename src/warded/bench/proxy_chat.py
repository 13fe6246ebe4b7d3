"""Benchmark: the same chat workload direct to an upstream and through warded's chat proxy, in one run.

``python -m warded.bench.proxy_chat [n]`` prints medians, p99 and ratios, then one JSON object. The
upstream (a minimal OpenAI-compatible app answering instantly) and the proxy each run in their own
process under uvicorn on 127.0.0.1; the client alternates direct and proxied requests so both see the
same machine state. Every proxied request carries a new user message, so input scanning is never served
from the per-conversation cache, and the full content guard of the policy below runs on input and output.

* ``chat``: a non-streaming completion round trip (small payloads, scanning included).
* ``ttft``: streaming time to first token, i.e. to the first chunk carrying non-empty ``content``. The
  upstream sends its chunks back to back: what is measured is warded's own cost. With a real model the
  hold-back window also waits for the first word to end (usually the next token) before releasing it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

MODEL = "bench-model"
CLIENT_KEY = "bench-client-key-0123456789"
REPLY = "Sure! Why did the cat sit on the computer? To keep an eye on the mouse. Anything else I can help with?"
POLICY = """
version: 1
agents:
  bench-agent:
    tools: [get_weather]
tools:
  get_weather:
    tier: read
    args:
      city: {type: string, required: true}
scan:
  scanners: [hidden_text, injection_rules, injection_classifier, pii, secrets, exfiltration]
  options:
    exfiltration: {allowed_domains: ["example.com"]}
audit:
  path: bench-audit.db
  key: bench-audit.key
"""


def _upstream_app() -> Any:
    from starlette.applications import Starlette  # noqa: PLC0415 - imported in the server process
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    base = {"id": "chatcmpl-b", "created": 1_700_000_000, "model": MODEL}
    whole = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 25, "total_tokens": 45},
    }
    words = [w if i == 0 else " " + w for i, w in enumerate(REPLY.split(" "))]

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    async def events() -> AsyncIterator[bytes]:
        yield event({"role": "assistant", "content": ""})
        for word in words:
            yield event({"content": word})
        yield event({}, "stop")
        yield b"data: [DONE]\n\n"

    async def completions(request: Request) -> Response:
        body = await request.json()
        if body.get("stream"):
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse(whole)

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def _serve(make_app: Callable[[], Any], ports: Any) -> None:
    import uvicorn  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ports.put(sock.getsockname()[1])
    config = uvicorn.Config(make_app(), log_level="warning", access_log=False, lifespan="on", ws="none")
    uvicorn.Server(config).run(sockets=[sock])


def _serve_upstream(ports: Any) -> None:
    _serve(_upstream_app, ports)


def _serve_proxy(policy: str, spec: str, ports: Any) -> None:
    from warded.config.chat import ChatProxySpec  # noqa: PLC0415
    from warded.proxy.chat.app import create_chat_app  # noqa: PLC0415

    _serve(lambda: create_chat_app(policy, ChatProxySpec.model_validate_json(spec)), ports)


def _start(ctx: Any, target: Callable[..., None], *args: Any) -> tuple[Any, str]:
    ports = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, ports), daemon=True)
    proc.start()
    port = ports.get(timeout=60)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("a benchmark server did not start") from None
            time.sleep(0.05)


def _body(i: int, stream: bool) -> dict[str, Any]:
    return {
        "model": MODEL,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": f"Tell me a short joke about cats, please (request {i})."},
        ],
    }


def _completion(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    resp = client.post(url, json=body)
    data = resp.json()
    elapsed = time.perf_counter() - started
    if resp.status_code != 200 or not data["choices"][0]["message"]["content"]:
        raise RuntimeError(f"benchmark request failed: {resp.status_code} {resp.text[:200]}")
    return elapsed * 1000


def _ttft(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    first: float | None = None
    text = ""
    with client.stream("POST", url, json=body) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(f"benchmark stream failed: {chunk['error']}")
            for choice in chunk.get("choices", ()):
                content = choice.get("delta", {}).get("content")
                if content:
                    first = first if first is not None else time.perf_counter()
                    text += content
    if first is None or text != REPLY:
        raise RuntimeError("benchmark stream did not deliver the reply")
    return (first - started) * 1000


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_chat_bench(n: int = 200, *, verbose: bool = True) -> dict[str, float]:
    """Run the workload ``n`` times each way and return the figures (see the module documentation)."""
    from warded.config.chat import ChatProxySpec  # noqa: PLC0415

    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="warded-bench-chat-") as tmp:
        policy = Path(tmp) / "warded.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        try:
            up_proc, upstream = _start(ctx, _serve_upstream)
            procs.append(up_proc)
            fields = {"upstream_url": upstream + "/v1", "clients": [{"key": CLIENT_KEY, "agent": "bench-agent"}]}
            spec_json = json.dumps({**fields, "models": [MODEL]})
            ChatProxySpec.model_validate_json(spec_json)  # refuse a bad spec here, not in the child
            px_proc, proxied = _start(ctx, _serve_proxy, str(policy), spec_json)
            procs.append(px_proc)
            headers = {"authorization": f"Bearer {CLIENT_KEY}"}
            results: dict[str, list[float]] = {k: [] for k in ("chat_d", "chat_p", "ttft_d", "ttft_p")}
            with httpx.Client(headers=headers, trust_env=False, timeout=30) as client:
                warm = max(20, n // 10)
                for i in range(-warm, n):
                    for kind, fn, stream in (("chat", _completion, False), ("ttft", _ttft, True)):
                        order = ((upstream, "d"), (proxied, "p")) if i % 2 else ((proxied, "p"), (upstream, "d"))
                        for base, tag in order:
                            ms = fn(client, base + "/v1/chat/completions", _body(i + 10_000 * (tag == "p"), stream))
                            if i >= 0:
                                results[f"{kind}_{tag}"].append(ms)
        finally:
            for proc in procs:
                proc.terminate()
                proc.join(10)
    out: dict[str, float] = {"n": float(n)}
    for kind in ("chat", "ttft"):
        d, p = results[f"{kind}_d"], results[f"{kind}_p"]
        out[f"{kind}_direct_ms_p50"] = statistics.median(d)
        out[f"{kind}_proxied_ms_p50"] = statistics.median(p)
        out[f"{kind}_direct_ms_p99"] = _p(d, 0.99)
        out[f"{kind}_proxied_ms_p99"] = _p(p, 0.99)
        out[f"{kind}_added_ms_p50"] = statistics.median(p) - statistics.median(d)
        out[f"{kind}_added_ms_p99"] = _p(p, 0.99) - _p(d, 0.99)
        out[f"{kind}_ratio_p50"] = statistics.median(p) / statistics.median(d)
    out = {k: round(v, 3) for k, v in out.items()}
    if verbose:
        for kind, title in (("chat", "non-streaming completion"), ("ttft", "streaming time to first token")):
            f = {k.removeprefix(kind + "_"): v for k, v in out.items() if k.startswith(kind + "_")}
            print(
                f"{title:30} direct p50 {f['direct_ms_p50']:7.3f} ms p99 {f['direct_ms_p99']:7.3f} | "
                f"warded p50 {f['proxied_ms_p50']:7.3f} ms p99 {f['proxied_ms_p99']:7.3f} | "
                f"added p50 {f['added_ms_p50']:6.3f} ms, ratio {f['ratio_p50']:.2f}x"
            )
    return out


if __name__ == "__main__":
    figures = run_chat_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(json.dumps(figures))
