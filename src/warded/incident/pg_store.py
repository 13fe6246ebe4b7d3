"""Incident records in PostgreSQL (``PooledStore``; migrations room ``incident``)."""

from __future__ import annotations

import threading
from typing import Any

from psycopg.types.json import Jsonb

from warded.incident.model import Incident
from warded.incident.store import _parse
from warded.store._postgres import (
    DEFAULT_SCHEMA,
    Migration,
    PooledStore,
    migrate_pool,
    open_pool,
    register_migrations,
    run,
    transaction,
)

MIGRATIONS = (
    Migration(
        1,
        "incidents",
        (
            "CREATE TABLE incidents (id TEXT PRIMARY KEY, updated DOUBLE PRECISION NOT NULL, body JSONB NOT NULL)",
            "CREATE INDEX incidents_updated ON incidents(updated)",
        ),
    ),
)
register_migrations("incident", MIGRATIONS)


class PostgresIncidentStore(PooledStore):
    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, timeout_s: float = 5.0, pool_size: int = 2) -> None:
        self.schema = schema
        self._lock = threading.Lock()
        self._timeout = timeout_s
        self._pool = open_pool(dsn, schema=schema, max_size=pool_size, timeout=timeout_s, what="incident store")
        try:  # its own room only, under the schema's advisory lock: safe from several processes at once
            migrate_pool(self._pool, schema, rooms=["incident"], timeout_s=max(timeout_s, 30.0))
        except BaseException:
            self.close()
            raise

    def _p(self) -> Any:
        pool = self._pool
        if pool is None:
            from warded.errors import StoreError  # noqa: PLC0415

            raise StoreError("the incident store is closed")
        return pool

    def put(self, incident: Incident) -> None:
        with transaction(self._p(), "cannot store the incident", timeout_s=self._timeout) as conn:
            conn.execute(
                "INSERT INTO incidents(id, updated, body) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET updated = EXCLUDED.updated, body = EXCLUDED.body",
                (incident.id, incident.updated, Jsonb(incident.model_dump(mode="json"))),
            )

    def get(self, incident_id: str) -> Incident | None:
        row = run(
            self._p(),
            "cannot read the incident",
            lambda c: c.execute("SELECT body FROM incidents WHERE id = %s", (incident_id,)).fetchone(),
            timeout_s=self._timeout,
        )
        return _parse(row[0]) if row else None

    def list(self) -> list[Incident]:
        rows = run(
            self._p(),
            "cannot list incidents",
            lambda c: c.execute("SELECT body FROM incidents ORDER BY updated DESC, id").fetchall(),
            timeout_s=self._timeout,
        )
        return [_parse(r[0]) for r in rows]
