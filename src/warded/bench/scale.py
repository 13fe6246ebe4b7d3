"""``warded bench scale``: decisions/s of N ``warded serve`` replicas sharing PostgreSQL and Redis, beside SQLite.

For each N in ``--replicas`` the bench creates a fresh PostgreSQL schema and Redis key prefix, runs
``warded store migrate`` on a policy whose ``store:`` names them, starts N ``warded serve`` processes (one
worker each) on loopback and drives them from this process: ``concurrency`` keep-alive connections per
replica, each request sent to the next replica in turn (round robin, as a load balancer would). Then the same
workload runs against one ``warded serve`` on the SQLite file, with as many workers as the largest N.

The workload mixes reads with ``send_email`` calls under a per-session limit of ``LIMIT`` calls: every
ALLOW of ``send_email`` past that limit in one session, summed over sessions, is a ``limit_violation``
(exact shared windows give 0). ``round_trips_per_allow`` is counted on the wire, not by warded: before
the timed run, the N replicas are started once more with PostgreSQL and Redis reached through a
:class:`~warded.bench._trips.TripCounter` each, and ``TRIP_REQUESTS`` calls that are all allowed are
sent; the round trips both counters saw, over the ALLOWs (split into ``_postgres`` and ``_redis``).
Figures are of this machine, client included; no test asserts them.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from warded.bench._trips import TripCounter
from warded.bench.proxy_api import _free_port, _stop, _wait_healthy
from warded.config.serve import hash_api_key, new_api_key
from warded.errors import WardedError

__all__ = ["ScaleBenchError", "run_scale_bench"]

LIMIT = 5
SESSIONS = 8
MAX_REPLICAS = 16
TRIP_REQUESTS = 400  # all-allow calls whose store round trips are counted on the wire
START_TIMEOUT_S = 60.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

_POLICY = """\
version: 1
agents:
  bench-agent:
    tools: [read_inbox, send_email]
tools:
  read_inbox:
    tier: read
    args:
      folder: {{type: string, values: {{allow: [inbox, archive]}}}}
  send_email:
    tier: external
    args:
      to: {{type: array, required: true, max_length: 5, email: {{allow: ["*@example.com"]}}}}
      body: {{type: string, max_length: 2000}}
limits:
  - {{id: external-rate, tiers: [external], scope: session, max_calls: {limit}, window: 1h, on_exceed: deny}}
scan:
  enabled: false
flow:
  enabled: false
audit:
  path: bench-audit.db
  key: bench-audit.key
serve:
  workers: {workers}
  api_keys: {{bench-agent: "{key_hash}"}}
{store}"""


class ScaleBenchError(WardedError):
    """The scale benchmark cannot run here (no store: support, services unreachable, a replica failed)."""


@dataclass(frozen=True)
class _Stores:
    postgres: str
    redis: str
    schema: str
    prefix: str


def _check_store_support() -> None:
    """Refuse clearly when this warded has no ``store:`` section or no ``warded store migrate``."""
    from warded.policy.schema import PolicySpec  # noqa: PLC0415 (only the scale bench needs the schema)

    if "store" not in PolicySpec.model_fields:
        raise ScaleBenchError("this warded has no store: policy section (PostgreSQL/Redis backends); cannot scale out")
    try:
        from warded.ops import migrate_store  # noqa: PLC0415, F401
    except ImportError:
        raise ScaleBenchError("this warded has no `warded store migrate`; cannot create the shared schema") from None


def _check_reachable(url: str, what: str, default_port: int) -> None:
    import socket  # noqa: PLC0415

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        raise ScaleBenchError(f"{what} is not reachable at {host}:{port} ({exc}); the scale bench needs it") from None


def _policy_text(key_hash: str, workers: int, stores: _Stores | None) -> str:
    store = ""
    if stores is not None:
        store = (
            'store:\n  postgres: "${WARDED_BENCH_PG}"\n  redis: "${WARDED_BENCH_REDIS}"\n'
            f"  schema: {stores.schema}\n  prefix: {json.dumps(stores.prefix)}\n"
        )
    return _POLICY.format(limit=LIMIT, workers=workers, key_hash=key_hash, store=store)


def _bodies(n: int, prefix: str, *, allow_only: bool = False) -> list[tuple[str, bytes]]:
    """(session, body) pairs: 60% reads, 40% sends to an allowed address, over ``SESSIONS`` sessions (with
    ``allow_only``, a new session every ``LIMIT`` calls, so no session reaches its limit)."""
    out = []
    for i in range(n):
        session = f"{prefix}{i // LIMIT}" if allow_only else f"{prefix}{i % SESSIONS}"
        if i % 5 < 3:
            body: dict[str, Any] = {"tool": "read_inbox", "arguments": {"folder": "inbox"}}
        else:
            body = {"tool": "send_email", "arguments": {"to": ["bob@example.com"], "body": "hi"}}
        out.append((session, json.dumps({"session_id": session, **body}).encode()))
    return out


def _request(port: int, key: str, body: bytes) -> bytes:
    return (
        f"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[str, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return head[9:12].decode(), await reader.readexactly(length)


async def _drive(
    ports: Sequence[int], key: str, total: int, concurrency: int, prefix: str, *, allow_only: bool = False
) -> dict[str, Any]:
    """Send ``total`` requests over ``concurrency`` workers; request k of a worker goes to replica k mod N."""
    work = _bodies(total, prefix, allow_only=allow_only)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    sends_allowed: dict[str, int] = {}
    cursor = iter(range(total))

    async def worker(offset: int) -> None:
        conns = [await asyncio.open_connection("127.0.0.1", port) for port in ports]
        turn = offset
        try:
            for index in cursor:
                session, body = work[index]
                turn = (turn + 1) % len(ports)
                reader, writer = conns[turn]
                started = time.perf_counter()
                status, payload = await _exchange(reader, writer, _request(ports[turn], key, body))
                latencies.append(time.perf_counter() - started)
                verdict = json.loads(payload).get("verdict", "?") if status == "200" else f"http_{status}"
                outcomes[verdict] = outcomes.get(verdict, 0) + 1
                if verdict == "allow" and b"send_email" in body:
                    sends_allowed[session] = sends_allowed.get(session, 0) + 1
        finally:
            for _, writer in conns:
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "decisions_per_s": round(len(ordered) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(statistics.median(ordered) * 1000, 3) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3) if ordered else None,
        "outcomes": dict(sorted(outcomes.items())),
        "limit_violations": sum(max(0, n - LIMIT) for n in sends_allowed.values()),
    }


@contextmanager
def _servers(root: str, policy: str, count: int, env: dict[str, str]) -> Iterator[list[int]]:
    """``count`` healthy ``warded serve`` processes on ``policy``; their ports. Stopped on exit."""
    ports = [_free_port() for _ in range(count)]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            servers.append(_start(root, policy, port, env))
        for port, server in zip(ports, servers, strict=True):
            try:
                _wait_healthy(port, server, START_TIMEOUT_S)
            except RuntimeError as exc:
                done = server.poll() is not None and server.stderr is not None
                err = server.stderr.read().decode(errors="replace")[-2000:] if done and server.stderr else ""
                raise ScaleBenchError(f"replica on port {port} did not start: {exc}\n{err}") from None
        yield ports
    finally:
        for server in servers:
            _stop(server)
            if server.stderr is not None:
                server.stderr.close()


def _start(root: str, policy: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "warded.cli", "serve", "--policy", policy, "--port", str(port)]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _run_servers(
    root: str, policy: str, count: int, env: dict[str, str], *, total: int, concurrency: int, key: str
) -> dict[str, Any]:
    with _servers(root, policy, count, env) as ports:
        asyncio.run(_drive(ports, key, max(concurrency * count, total // 10), concurrency * count, "w"))  # warm-up
        return asyncio.run(_drive(ports, key, total, concurrency * count, "s"))


def _via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by ``127.0.0.1:port`` (user and path kept)."""
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def _count_trips(
    root: str, policy: str, count: int, env: dict[str, str], stores: _Stores, *, concurrency: int, key: str
) -> dict[str, Any]:
    """Round trips per ALLOW, counted on the wire: the replicas reach PostgreSQL and Redis through one
    :class:`TripCounter` each, and a workload in which every call is allowed (no session reaches its limit)
    runs after a warm-up (start-up traffic is not counted)."""
    pg, rd = urlsplit(stores.postgres), urlsplit(stores.redis)
    with (
        TripCounter(pg.hostname or "127.0.0.1", pg.port or 5432) as pg_trips,
        TripCounter(rd.hostname or "127.0.0.1", rd.port or 6379) as redis_trips,
    ):
        via = {
            **env,
            "WARDED_BENCH_PG": _via(stores.postgres, pg_trips.port),
            "WARDED_BENCH_REDIS": _via(stores.redis, redis_trips.port),
        }
        with _servers(root, policy, count, via) as ports:
            asyncio.run(_drive(ports, key, concurrency * count * 4, concurrency * count, "tw", allow_only=True))
            pg_trips.reset()
            redis_trips.reset()
            result = asyncio.run(_drive(ports, key, TRIP_REQUESTS, concurrency * count, "t", allow_only=True))
            trips_pg, trips_redis = pg_trips.trips, redis_trips.trips
    allows = result["outcomes"].get("allow", 0)
    if allows != result["requests"] or not allows:
        raise ScaleBenchError(f"the all-allow workload was not all allowed: {result['outcomes']}")
    return {
        "round_trips_per_allow": round((trips_pg + trips_redis) / allows, 3),
        "round_trips_per_allow_postgres": round(trips_pg / allows, 3),
        "round_trips_per_allow_redis": round(trips_redis / allows, 3),
    }


def _migrate(root: str, policy: str, env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "warded.cli", "store", "migrate", "--policy", policy],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ScaleBenchError(f"`warded store migrate` failed: {done.stderr.decode(errors='replace')[-2000:]}")


def _drop(stores: _Stores) -> None:
    """Remove the bench's schema and keys (best effort: the figures are already taken)."""
    try:
        import psycopg  # noqa: PLC0415
        import redis  # noqa: PLC0415

        with psycopg.connect(stores.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{stores.schema}" CASCADE')  # name made by this module
        client = redis.Redis.from_url(stores.redis)
        try:
            for name in client.scan_iter(match=stores.prefix + "*", count=1000):
                client.delete(name)
        finally:
            client.close()
    except Exception as exc:  # reported, not raised
        print(f"warded bench scale: cleanup of {stores.schema}/{stores.prefix} failed: {exc}", file=sys.stderr)


def run_scale_bench(
    replicas: Sequence[int] = (1, 2, 4),
    *,
    requests: int = 4000,
    concurrency: int = 8,
    postgres: str | None = None,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Decisions/s, p50/p99 and limit violations for each replica count on PostgreSQL+Redis, and on SQLite."""
    if not replicas or any(not 1 <= n <= MAX_REPLICAS for n in replicas):
        raise ScaleBenchError(f"replica counts must be between 1 and {MAX_REPLICAS}")
    if not 1 <= requests <= 1_000_000 or not 1 <= concurrency <= 64:
        raise ScaleBenchError("requests must be in 1..1000000 and concurrency in 1..64")
    _check_store_support()
    postgres = postgres or os.environ.get("WARDED_BENCH_PG") or DEFAULT_POSTGRES
    redis_url = redis_url or os.environ.get("WARDED_BENCH_REDIS") or DEFAULT_REDIS
    _check_reachable(postgres, "PostgreSQL", 5432)
    _check_reachable(redis_url, "Redis", 6379)
    key = new_api_key()
    env = {**os.environ, "WARDED_BENCH_PG": postgres, "WARDED_BENCH_REDIS": redis_url}
    load_before = round(os.getloadavg()[0], 2)  # other work on this machine skews every figure: say how much
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="warded-bench-scale-") as root:
        for n in replicas:
            tag = secrets.token_hex(4)
            stores = _Stores(postgres, redis_url, f"bench_scale_{tag}", f"bench-scale-{tag}:")
            policy = os.path.join(root, f"scale-{n}-{tag}.yaml")
            with open(policy, "w", encoding="utf-8") as handle:
                handle.write(_policy_text(hash_api_key(key), 1, stores))
            try:
                _migrate(root, policy, env)
                trips = _count_trips(root, policy, n, env, stores, concurrency=concurrency, key=key)
                result = _run_servers(root, policy, n, env, total=requests, concurrency=concurrency, key=key)
                result |= trips
            finally:
                _drop(stores)
            rows.append({"n": n, **result})
        sqlite_workers = max(replicas)
        policy = os.path.join(root, "sqlite.yaml")
        with open(policy, "w", encoding="utf-8") as handle:
            handle.write(_policy_text(hash_api_key(key), sqlite_workers, None))
        sqlite = _run_servers(root, policy, 1, env, total=requests, concurrency=concurrency * sqlite_workers, key=key)
    base = rows[0]["decisions_per_s"] or 1.0
    return {
        "benchmark": "scale",
        "replicas": [
            {k: row[k] for k in ("n", "decisions_per_s", "p50_ms", "p99_ms", "round_trips_per_allow")}
            | {k: row[k] for k in ("round_trips_per_allow_postgres", "round_trips_per_allow_redis")}
            | {"speedup_vs_first": round(row["decisions_per_s"] / base, 2), "outcomes": row["outcomes"]}
            for row in rows
        ],
        "sqlite_decisions_per_s": sqlite["decisions_per_s"],
        "sqlite_workers": sqlite_workers,
        "sqlite_p50_ms": sqlite["p50_ms"],
        "sqlite_p99_ms": sqlite["p99_ms"],
        "shared_vs_sqlite": [
            round(row["decisions_per_s"] / sqlite["decisions_per_s"], 2) if sqlite["decisions_per_s"] else None
            for row in rows
        ],
        "limit_violations": sum(row["limit_violations"] for row in rows) + sqlite["limit_violations"],
        "requests": requests,
        "concurrency_per_replica": concurrency,
        "limit_per_session": LIMIT,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "notes": "N `warded serve` processes (1 worker each) on loopback, PostgreSQL audit and approvals, Redis "
        "windows; a round-robin asyncio client in the bench process on the same machine. SQLite: one "
        "`warded serve` with max(N) workers sharing the file. limit_violations counts send_email ALLOWs past "
        f"{LIMIT} per session (0 when windows are exact).",
    }
