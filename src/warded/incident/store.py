"""Where incident records live: one interface, a SQLite backend (next to the policy) and a PostgreSQL one
(the policy's ``store: postgres``, room ``incident`` of ``warded store migrate``)."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any, Protocol

from warded.errors import StoreError
from warded.incident.model import Incident
from warded.store._sqlite import open_sqlite

if TYPE_CHECKING:
    from warded.policy.compile import CompiledPolicy

#: The SQLite file, next to the policy.
INCIDENTS_DB = "warded-incidents.db"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, updated REAL NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incidents_updated ON incidents(updated);"
)


class IncidentStore(Protocol):
    def put(self, incident: Incident) -> None:
        """Insert or replace the record with this id."""
        ...

    def get(self, incident_id: str) -> Incident | None: ...

    def list(self) -> list[Incident]:
        """Every record, most recently updated first."""
        ...

    def close(self) -> None: ...


def _parse(body: str | dict[str, Any]) -> Incident:
    data = json.loads(body) if isinstance(body, str) else body
    return Incident.model_validate(data)


class SQLiteIncidentStore:
    def __init__(self, path: str, *, timeout_s: float = 5.0) -> None:
        self._db = open_sqlite(path, what="incident store", timeout_s=timeout_s, synchronous="FULL", schema=_SCHEMA)
        self._lock = threading.Lock()

    def put(self, incident: Incident) -> None:
        body = incident.model_dump_json()
        with self._lock:
            self._db.execute(
                "INSERT INTO incidents(id, updated, body) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, body = excluded.body",
                (incident.id, incident.updated, body),
            )

    def get(self, incident_id: str) -> Incident | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return _parse(row[0]) if row else None

    def list(self) -> list[Incident]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM incidents ORDER BY updated DESC, id").fetchall()
        return [_parse(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_incident_store(policy_path: str) -> IncidentStore:
    """The store the policy implies: its PostgreSQL when ``store: postgres`` is set, else SQLite next to it."""
    from warded.policy.compile import load_policy  # noqa: PLC0415

    return incident_store_for(load_policy(policy_path))


def incident_store_for(policy: CompiledPolicy) -> IncidentStore:
    """:func:`open_incident_store` for a policy already loaded (the operator console's)."""
    from warded.config.store import resolve_store  # noqa: PLC0415

    if policy.spec.store is not None:
        resolved = resolve_store(policy.spec.store)
        if resolved.postgres is not None:
            from warded.incident.pg_store import PostgresIncidentStore  # noqa: PLC0415 - psycopg when configured

            return PostgresIncidentStore(resolved.postgres, schema=resolved.schema, timeout_s=resolved.timeout_s)
    try:
        return SQLiteIncidentStore(os.path.join(policy.base_dir, INCIDENTS_DB))
    except StoreError:
        raise
