"""Versioned PostgreSQL migrations: a fresh schema is created, a re-run changes nothing, replicas migrating
at once apply each migration exactly once, and a database newer than the code is refused."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import psycopg
import pytest

import warded.approve.pg_store  # registers the approve room, in the spawned workers too
import warded.audit.postgres  # registers the audit room
import warded.incident.pg_store  # registers the incident room
import warded.store.pg_pins  # registers the pins room
from warded.store._postgres import Fault, PostgresStoreError, migrate, registered_rooms, schema_versions

EXPECTED = {
    "approve": len(warded.approve.pg_store.MIGRATIONS),
    "audit": len(warded.audit.postgres.MIGRATIONS),
    "incident": len(warded.incident.pg_store.MIGRATIONS),
    "pins": len(warded.store.pg_pins.MIGRATIONS),
}


def _version_rows(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = f'SELECT room, version, applied_at FROM "{schema}".warded_schema_version ORDER BY room, version'
        return conn.execute(query.encode()).fetchall()


def _tables(dsn: str, schema: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    return {row[0] for row in rows}


def test_backends_register_their_rooms() -> None:
    assert {"audit", "approve", "pins"} <= set(registered_rooms())


def test_fresh_schema_is_created_and_versioned(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    assert schema_versions(dsn, schema) == {}
    assert migrate(dsn, schema) == EXPECTED
    assert schema_versions(dsn, schema) == EXPECTED
    assert {
        "warded_schema_version",
        "audit_entries",
        "audit_head",
        "audit_checkpoints",
        "signed_approvals",
        "used_nonces",
        "mcp_tool_pins",
    } <= _tables(dsn, schema)


def test_rerun_is_a_no_op(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    migrate(dsn, schema)
    before = _version_rows(dsn, schema)
    assert migrate(dsn, schema) == EXPECTED
    assert _version_rows(dsn, schema) == before  # same rows, same applied_at


def test_one_room_at_a_time(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    assert migrate(dsn, schema, rooms=["audit"]) == {"audit": EXPECTED["audit"]}
    assert "signed_approvals" not in _tables(dsn, schema)
    assert migrate(dsn, schema) == EXPECTED
    with pytest.raises(PostgresStoreError, match="no migrations registered"):
        migrate(dsn, schema, rooms=["nonesuch"])


def _migrate_worker(dsn: str, schema: str, barrier: Any, out: Any) -> None:
    barrier.wait(timeout=60)
    try:
        out.put(migrate(dsn, schema))
    except Exception as exc:
        out.put(repr(exc))


def test_concurrent_migrations_apply_once(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_migrate_worker, args=(dsn, schema, barrier, out), daemon=True) for _ in range(3)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
    assert results == [EXPECTED] * 3
    rows = _version_rows(dsn, schema)
    assert [(room, version) for room, version, _ in rows] == sorted(
        (room, v) for room, n in EXPECTED.items() for v in range(1, n + 1)
    )


def test_newer_database_is_refused(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    migrate(dsn, schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = f"INSERT INTO \"{schema}\".warded_schema_version (room, version, name) VALUES ('audit', 99, 'future')"
        conn.execute(query.encode())
    with pytest.raises(PostgresStoreError, match="newer than this warded knows"):
        migrate(dsn, schema)


@pytest.mark.parametrize("schema", ["", "Warded", "a-b", "pg_catalog", 'x"; DROP TABLE y; --', "a" * 64])
def test_bad_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(PostgresStoreError, match="schema must match"):
        migrate("postgresql://postgres@127.0.0.1:5432/test", schema)


def test_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(PostgresStoreError, match="unreachable") as info:
        migrate("postgresql://postgres@127.0.0.1:1/test", "warded", timeout_s=1.0)
    assert info.value.fault is Fault.UNREACHABLE
