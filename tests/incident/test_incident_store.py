"""The incident store interface on both backends: SQLite next to the policy, and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from warded.incident.model import Event, Incident, Indicator, Source, new_id
from warded.incident.store import IncidentStore, SQLiteIncidentStore


def record(title: str, updated: float) -> Incident:
    return Incident(
        id=new_id(updated),
        title=title,
        created=updated,
        updated=updated,
        source=Source(kind="alert", ref="7..7"),
        indicators=[Indicator(kind="domain", value="evil.test")],
        timeline=[Event(ts=updated, status="open")],
    )


def exercise(store: IncidentStore) -> None:
    first, second = record("first", 1_800_000_000.0), record("second", 1_800_000_100.0)
    store.put(first)
    store.put(second)
    assert [i.title for i in store.list()] == ["second", "first"]
    changed = first.model_copy(update={"status": "closed", "updated": 1_800_000_200.0})
    store.put(changed)
    got = store.get(first.id)
    assert got == changed
    assert [i.id for i in store.list()] == [first.id, second.id]
    assert store.get("OSV-WARDED-2026-00000000") is None


def test_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteIncidentStore(str(tmp_path / "incidents.db"))
    try:
        exercise(store)
    finally:
        store.close()
    again = SQLiteIncidentStore(str(tmp_path / "incidents.db"))
    try:
        assert len(again.list()) == 2  # durable
    finally:
        again.close()


def test_postgres_store(pg_schema: tuple[str, str]) -> None:
    from warded.incident.pg_store import PostgresIncidentStore  # noqa: PLC0415 - psycopg only here

    dsn, schema = pg_schema
    store = PostgresIncidentStore(dsn, schema=schema)
    try:
        exercise(store)
    finally:
        store.close()
    again = PostgresIncidentStore(dsn, schema=schema)  # migrating twice is a no-op
    try:
        assert len(again.list()) == 2
    finally:
        again.close()


def test_malformed_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="id"):
        Incident(id="CVE-1", title="x", created=0.0, updated=0.0, source=Source(kind="alert"))
