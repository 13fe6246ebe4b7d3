"""Shared fixtures. Tests are sealed: no outbound network."""

from __future__ import annotations

import os
import secrets
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from warded.policy.compile import CompiledPolicy, load_policy

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)  # type: ignore[arg-type]
    raise RuntimeError(f"tests are sealed: outbound connection to {address!r} blocked")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


def require_service(name: str, host: str, port: int) -> None:
    """Skip unless ``host:port`` accepts connections; fail instead with ``WARDED_REQUIRE_SERVICES=1`` (CI)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return
    except OSError:
        pass
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("WARDED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WARDED_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    """The test Redis (127.0.0.1:6379, database 0); each test uses its own key prefix."""
    require_service("Redis", "127.0.0.1", 6379)
    return os.environ.get("WARDED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"warded-test:{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """``(dsn, schema)``: the test PostgreSQL and a schema of this test's own, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg  # noqa: PLC0415 - only the PostgreSQL tests need it

    dsn = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"warded_test_{secrets.token_hex(6)}"
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture
def shared_services() -> tuple[str, str]:
    """``(postgres DSN, redis URL)`` of the test services; skips without them (fails with WARDED_REQUIRE_SERVICES=1)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    dsn = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    return dsn, os.environ.get("WARDED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "warded.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def compile_policy(write_policy: Callable[[str], Path]) -> Callable[[str], CompiledPolicy]:
    def compile_(text: str) -> CompiledPolicy:
        return load_policy(write_policy(text))

    return compile_
