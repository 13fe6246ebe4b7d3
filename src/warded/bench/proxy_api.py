"""Decide-API throughput: ``warded serve`` with N workers on loopback, driven by a separate client process.

The server is started as a subprocess (``python -m warded.proxy.api.serve``) with a fresh policy, audit log and
API key in a temporary directory. The client is another process: a small asyncio HTTP/1.1 client holding
``concurrency`` keep-alive connections, each sending one ``POST /v1/decide`` at a time (no pipelining), for
``seconds`` seconds. Both the client and the server run on this machine and share its cores, so the figure
is what one machine does end to end, client included. Every request is fully audited (hash-chained SQLite
append, synchronous=NORMAL) and workers share limits and breakers through SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from warded.config.serve import hash_api_key, new_api_key

__all__ = ["run_api_bench"]

MAX_SECONDS = 60.0
MAX_CONCURRENCY = 256
START_TIMEOUT_S = 60.0

_POLICY = """\
version: 1
agents:
  bench-agent:
    tools: [read_inbox, read_email, send_email]
tools:
  read_inbox:
    tier: read
    args:
      folder: {type: string, values: {allow: [inbox, archive]}}
  read_email:
    tier: read
    args:
      id: {type: integer, required: true, number: {min: 1}}
  send_email:
    tier: external
    args:
      to: {type: array, required: true, max_length: 5, email: {allow: ["*@example.com"]}}
      body: {type: string, max_length: 2000}
limits:
  - {id: external-rate, tiers: [external], scope: session, max_calls: 1000000, window: 1h, on_exceed: deny}
scan:
  enabled: false
flow:
  enabled: false
audit:
  path: bench-audit.db
  key: bench-audit.key
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bodies(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        session = f"s{i % 64}"
        pick = rng.random()
        if pick < 0.5:
            body: dict[str, Any] = {"tool": "read_inbox", "arguments": {"folder": rng.choice(["inbox", "archive"])}}
        elif pick < 0.8:
            body = {"tool": "read_email", "arguments": {"id": rng.randint(-5, 5000)}}
        else:
            to = rng.choice(["bob@example.com", "eve@evil.example.net"])
            body = {"tool": "send_email", "arguments": {"to": [to], "body": "hello"}}
        out.append(json.dumps({"session_id": session, **body}).encode())
    return out


def _request(port: int, key: str, body: bytes) -> bytes:
    return (
        f"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], counts: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12].decode()
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status == "200":
                verdict = json.loads(payload).get("verdict", "?")
                counts[verdict] = counts.get(verdict, 0) + 1
            else:
                counts[f"http_{status}"] = counts.get(f"http_{status}", 0) + 1
    finally:
        writer.close()


async def _drive(port: int, key: str, seconds: float, concurrency: int) -> dict[str, Any]:
    requests = [_request(port, key, b) for b in _bodies(512, seed=11)]
    latencies: list[float] = []
    counts: dict[str, int] = {}
    # Warm up (connections, caches) for a fixed short time, then measure.
    warm_deadline = time.perf_counter() + min(1.0, seconds / 4)
    await asyncio.gather(*(_connection(port, requests, warm_deadline, [], {}) for _ in range(concurrency)))
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(port, requests, deadline, latencies, counts) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(ordered) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(statistics.median(ordered) * 1000, 3) if ordered else None,
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 3) if ordered else None,
        "outcomes": dict(sorted(counts.items())),
    }


def _client_main() -> None:
    """Entry of the client process: arguments as one JSON object on argv[1], result as JSON on stdout."""
    args = json.loads(sys.argv[1])
    result = asyncio.run(_drive(int(args["port"]), str(args["key"]), float(args["seconds"]), int(args["concurrency"])))
    print(json.dumps(result))


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before serving")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz within {timeout_s:.0f} s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def run_api_bench(workers: int = 2, seconds: float = 5.0, *, concurrency: int = 16) -> dict[str, Any]:
    """Requests per second and latency of ``POST /v1/decide`` through ``warded serve`` with ``workers`` workers."""
    if not 1 <= workers <= 16:
        raise ValueError("workers must be between 1 and 16")
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS:g}]")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
    with tempfile.TemporaryDirectory(prefix="warded-bench-api-") as root:
        policy = os.path.join(root, "warded.yaml")
        with open(policy, "w", encoding="utf-8") as handle:
            handle.write(_POLICY)
        key = new_api_key()
        spec = json.dumps({"api_keys": {"bench-agent": hash_api_key(key)}})
        port = _free_port()
        command = [sys.executable, "-m", "warded.proxy.api.serve", policy, "--port", str(port)]
        command += ["--workers", str(workers), "--spec-json", spec]
        server = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        try:
            _wait_healthy(port, server, START_TIMEOUT_S)
            time.sleep(0.5 * workers)  # let every worker finish starting
            client_args = json.dumps({"port": port, "key": key, "seconds": seconds, "concurrency": concurrency})
            client = subprocess.run(  # noqa: S603
                [sys.executable, "-c", "from warded.bench.proxy_api import _client_main; _client_main()", client_args],
                capture_output=True,
                timeout=seconds + 60,
                check=False,
            )
            if client.returncode != 0:
                raise RuntimeError(f"the client failed: {client.stderr.decode(errors='replace')[-2000:]}")
            result = json.loads(client.stdout)
        finally:
            _stop(server)
    return {
        "benchmark": "decide_api",
        "decide_api_rps": result["rps"],
        "decide_api_p50_ms": result["p50_ms"],
        "decide_api_p99_ms": result["p99_ms"],
        "workers": workers,
        "concurrency": concurrency,
        "seconds": seconds,
        "requests": result["requests"],
        "outcomes": result["outcomes"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "notes": "POST /v1/decide over HTTP/1.1 keep-alive from a separate asyncio client process on the same "
        "machine; every decision audited (SQLite WAL, synchronous=NORMAL); windows shared through SQLite.",
    }


if __name__ == "__main__":
    print(json.dumps(run_api_bench(), indent=2))
