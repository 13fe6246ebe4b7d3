"""MCP tool pins in PostgreSQL, shared by every replica (room ``pins``, table ``mcp_tool_pins``).

The same meaning as the SQLite pins (``warded.proxy.mcp._pins``): both run :func:`~warded.store.pins.judge`.
A first listing inserts the row with ``ON CONFLICT DO NOTHING`` and then every observation locks the row
(``SELECT ... FOR UPDATE``) before judging it, so two replicas listing one server at once agree on what was
pinned first, and an operator's approval is never overwritten by a listing that read the row before it.
Every failure raises :class:`~warded.store._postgres.PostgresStoreError` (a ``StoreError``): the proxy then
blocks the tool.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from warded.errors import StoreError
from warded.store._postgres import (
    DEFAULT_SCHEMA,
    Migration,
    PooledStore,
    PostgresStoreError,
    migrate_pool,
    open_pool,
    register_migrations,
    transaction,
)
from warded.store.pins import FIRST_SIGHT, PinCheck, PinRecord, PinWrite, Stored, judge

__all__ = ["MIGRATIONS", "PostgresPinStore"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "MCP tool pins",
        (
            "CREATE TABLE mcp_tool_pins (server text NOT NULL, tool text NOT NULL, digest text, definition text,"
            " pinned_at double precision, pinned_by text, candidate text, candidate_definition text,"
            " candidate_seen double precision, PRIMARY KEY (server, tool))",
        ),
    ),
)
"""The pins room's schema, version by version."""

register_migrations("pins", MIGRATIONS)

_Pool = ConnectionPool[psycopg.Connection[tuple[Any, ...]]]
_SET_PINNED = (
    "UPDATE mcp_tool_pins SET digest = %s, definition = %s, pinned_at = %s, pinned_by = %s, candidate = NULL,"
    " candidate_definition = NULL, candidate_seen = NULL WHERE server = %s AND tool = %s"
)
_SET_CANDIDATE = (
    "UPDATE mcp_tool_pins SET candidate = %s, candidate_definition = %s, candidate_seen = %s"
    " WHERE server = %s AND tool = %s"
)
_CLEAR_CANDIDATE = (
    "UPDATE mcp_tool_pins SET candidate = NULL, candidate_definition = NULL, candidate_seen = NULL"
    " WHERE server = %s AND tool = %s"
)
_LOCK = "SELECT digest, pinned_by, candidate FROM mcp_tool_pins WHERE server = %s AND tool = %s FOR UPDATE"
_LOCK_FOR_APPROVAL = (
    "SELECT digest, candidate, candidate_definition, definition FROM mcp_tool_pins"
    " WHERE server = %s AND tool = %s FOR UPDATE"
)
_RECORDS = (
    "SELECT server, tool, digest, pinned_at, pinned_by, candidate, candidate_seen FROM mcp_tool_pins"
    " WHERE (digest IS NOT NULL OR candidate IS NOT NULL) AND (%s::text IS NULL OR server = %s)"
    " ORDER BY server, tool"
)


class PostgresPinStore(PooledStore):
    """A :class:`~warded.store.pins.PinStore` in PostgreSQL; thread-safe, shared across processes and hosts.
    With ``migrate`` (the default) the table is created or upgraded on open."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 2,
        timeout_s: float = 5.0,
        migrate: bool = True,
    ) -> None:
        self.schema = schema
        self._timeout = float(timeout_s)
        self._lock = threading.Lock()
        self._pool: _Pool | None = open_pool(
            dsn, schema=schema, min_size=1, max_size=pool_size, timeout=self._timeout, what="tool pin store"
        )
        try:
            if migrate:
                migrate_pool(self._pool, schema, rooms=["pins"], timeout_s=max(self._timeout, 30.0))
        except BaseException:
            self.close()
            raise

    def _pool_or_raise(self) -> _Pool:
        pool = self._pool
        if pool is None:
            raise PostgresStoreError("the tool pin store is closed")
        return pool

    def observe(
        self, server: str, tool: str, digest: str, definition: dict[str, Any], now: float, *, pin: bool
    ) -> PinCheck:
        """Compare a definition just listed with the pin; pin it if nothing is pinned and ``pin`` is true."""
        text = json.dumps(definition, sort_keys=True, default=repr)
        with transaction(self._pool_or_raise(), "tool pin store", timeout_s=self._timeout) as conn:
            created = conn.execute(
                "INSERT INTO mcp_tool_pins (server, tool) VALUES (%s, %s) ON CONFLICT DO NOTHING", (server, tool)
            ).rowcount
            row = conn.execute(_LOCK, (server, tool)).fetchone()
            if row is None:
                raise PostgresStoreError(f"tool pin row for {server!r}/{tool!r} vanished")
            stored = None if created == 1 else Stored(*(str(v) if v is not None else None for v in row))
            check, write = judge(stored, digest, pin=pin)
            if write in (PinWrite.INSERT_PINNED, PinWrite.PIN_FIRST_SIGHT):
                conn.execute(_SET_PINNED, (digest, text, now, FIRST_SIGHT, server, tool))
            elif write in (PinWrite.INSERT_WAITING, PinWrite.SET_CANDIDATE):
                conn.execute(_SET_CANDIDATE, (digest, text, now, server, tool))
            elif write is PinWrite.CLEAR_CANDIDATE:
                conn.execute(_CLEAR_CANDIDATE, (server, tool))
        return check

    def approve(self, server: str, tool: str, now: float, *, digest: str | None = None, by: str = "operator") -> str:
        """Pin the tool's waiting definition (or exactly ``digest``, which must be the one waiting or pinned).
        Returns the digest now pinned. Raises ``StoreError`` if there is nothing to approve."""
        if not by or by == FIRST_SIGHT:
            raise StoreError("an approval must name who approved it")
        with transaction(self._pool_or_raise(), "tool pin store", timeout_s=self._timeout) as conn:
            row = conn.execute(_LOCK_FOR_APPROVAL, (server, tool)).fetchone()
            if row is None or (row[0] is None and row[1] is None):
                raise StoreError(f"no tool {tool!r} has been seen from MCP server {server!r}")
            pinned, candidate, candidate_def, pinned_def = row
            target = digest or candidate or pinned
            if target is None or target not in (candidate, pinned):
                raise StoreError(f"tool {tool!r} of {server!r}: digest {target!r} is neither waiting nor pinned")
            definition = candidate_def if target == candidate else pinned_def
            conn.execute(_SET_PINNED, (target, definition, now, by, server, tool))
        return str(target)

    def records(self, server: str | None = None) -> list[PinRecord]:
        with transaction(self._pool_or_raise(), "tool pin store", timeout_s=self._timeout) as conn:
            rows = conn.execute(_RECORDS, (server, server)).fetchall()
        return [PinRecord(*row) for row in rows]
