"""Tool pinning: the definition an MCP server showed us is remembered, and a changed one is not trusted.

A tool definition is hashed: SHA-256 of the canonical JSON of the *whole* definition exactly as the proxy
forwards it to the client (name, title, description, input and output schemas, ``annotations`` such as
``readOnlyHint``, ``_meta``, ``icons``, ``execution``, and any extra field the server sends, which the SDK
keeps and passes on). Nothing the client can see is left out of the pin, so flipping ``readOnlyHint`` or
adding a note under ``_meta`` is a change like any other. The first definition seen is pinned (or, with
``pin: approval``, waits for an operator); a later listing whose hash differs is a "rug pull": the new
definition is kept as a *candidate* and the tool stays blocked until an operator approves the candidate.

Pins recorded before the digest covered the whole definition (name, title, description and schemas only)
no longer match: each such tool is blocked as changed once, until an operator approves it again.

Pins live in table ``mcp_tool_pins`` of the audit database (WAL mode, shared by every warded process), or,
with ``store.postgres``, in PostgreSQL (``warded.store.pg_pins``, shared by every replica). The records and
the comparison rule both backends use are in ``warded.store.pins``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Any

from warded.audit.canonical import canonical_json
from warded.errors import AuditError, StoreError
from warded.store._sqlite import open_sqlite
from warded.store.pins import FIRST_SIGHT, PinCheck, PinRecord, PinStatus, PinWrite, Stored, judge

__all__ = ["FIRST_SIGHT", "PinCheck", "PinRecord", "PinStatus", "PinStore", "tool_definition", "tool_digest"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mcp_tool_pins ("
    " server TEXT NOT NULL, tool TEXT NOT NULL,"
    " digest TEXT, definition TEXT, pinned_at REAL, pinned_by TEXT,"
    " candidate TEXT, candidate_definition TEXT, candidate_seen REAL,"
    " PRIMARY KEY (server, tool))"
)
_INSERT_PINNED = (
    "INSERT INTO mcp_tool_pins (server, tool, digest, definition, pinned_at, pinned_by) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_WAITING = (
    "INSERT INTO mcp_tool_pins (server, tool, candidate, candidate_definition, candidate_seen) VALUES (?, ?, ?, ?, ?)"
)


def tool_definition(tool: Any) -> dict[str, Any]:
    """An MCP ``Tool`` as plain JSON, every field included: what is pinned is all the client is shown.

    The SDK serialises a ``Tool`` for the client the same way (by alias, ``None`` fields left out, extra
    fields kept), so this is byte for byte the definition the client receives.
    """
    data = tool.model_dump(mode="json", by_alias=True, exclude_none=True) if hasattr(tool, "model_dump") else tool
    if not isinstance(data, dict):
        raise StoreError("a tool definition must be an object")
    return data


def tool_digest(definition: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a tool definition (falls back to sorted ``json.dumps`` for floats
    canonical JSON refuses, such as NaN, which a schema should never hold anyway). Raises
    :class:`StoreError` if the definition cannot be encoded at all."""
    try:
        raw = canonical_json(definition)
    except AuditError:
        try:
            raw = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=repr).encode("utf-8")
        except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as exc:
            raise StoreError(f"a tool definition cannot be hashed: {type(exc).__name__}") from exc
    return hashlib.sha256(raw).hexdigest()


class PinStore:
    """Tool pins in one SQLite file (a ``warded.store.pins.PinStore``). Thread-safe; safe with several
    processes on the same file."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        # synchronous FULL: SQLite's default, which the pins have always used.
        conn = open_sqlite(
            self.path, what=f"the tool pin store {self.path}", timeout_s=timeout, synchronous="FULL", schema=_SCHEMA
        )
        self._conn: sqlite3.Connection | None = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the tool pin store is closed")
        return self._conn

    def observe(
        self, server: str, tool: str, digest: str, definition: dict[str, Any], now: float, *, pin: bool
    ) -> PinCheck:
        """Compare a definition just listed with the pin; pin it if nothing is pinned and ``pin`` is true."""
        text = json.dumps(definition, sort_keys=True, default=repr)
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT digest, pinned_by, candidate FROM mcp_tool_pins WHERE server = ? AND tool = ?",
                        (server, tool),
                    ).fetchone()
                    check = self._observe(
                        conn, row, server=server, tool=tool, digest=digest, text=text, now=now, pin=pin
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"tool pin store: {exc}") from exc
        return check

    @staticmethod
    def _observe(
        conn: sqlite3.Connection,
        row: tuple[Any, ...] | None,
        *,
        server: str,
        tool: str,
        digest: str,
        text: str,
        now: float,
        pin: bool,
    ) -> PinCheck:
        stored = None if row is None else Stored(*(str(v) if v is not None else None for v in row))
        check, write = judge(stored, digest, pin=pin)
        if write is PinWrite.INSERT_PINNED:
            conn.execute(_INSERT_PINNED, (server, tool, digest, text, now, FIRST_SIGHT))
        elif write is PinWrite.INSERT_WAITING:
            conn.execute(_INSERT_WAITING, (server, tool, digest, text, now))
        elif write is PinWrite.CLEAR_CANDIDATE:
            conn.execute(
                "UPDATE mcp_tool_pins SET candidate = NULL, candidate_definition = NULL, candidate_seen = NULL "
                "WHERE server = ? AND tool = ?",
                (server, tool),
            )
        elif write is PinWrite.PIN_FIRST_SIGHT:
            conn.execute(
                "UPDATE mcp_tool_pins SET digest = ?, definition = ?, pinned_at = ?, pinned_by = ?, candidate = NULL, "
                "candidate_definition = NULL, candidate_seen = NULL WHERE server = ? AND tool = ?",
                (digest, text, now, FIRST_SIGHT, server, tool),
            )
        elif write is PinWrite.SET_CANDIDATE:
            conn.execute(
                "UPDATE mcp_tool_pins SET candidate = ?, candidate_definition = ?, candidate_seen = ? "
                "WHERE server = ? AND tool = ?",
                (digest, text, now, server, tool),
            )
        return check

    def approve(self, server: str, tool: str, now: float, *, digest: str | None = None, by: str = "operator") -> str:
        """Pin the tool's waiting definition (or exactly ``digest``, which must be the one waiting or pinned).

        Returns the digest now pinned. Raises :class:`StoreError` if there is nothing to approve.
        """
        if not by or by == FIRST_SIGHT:
            raise StoreError("an approval must name who approved it")
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT digest, candidate, candidate_definition, definition FROM mcp_tool_pins "
                        "WHERE server = ? AND tool = ?",
                        (server, tool),
                    ).fetchone()
                    if row is None:
                        raise StoreError(f"no tool {tool!r} has been seen from MCP server {server!r}")
                    pinned, candidate, candidate_def, pinned_def = row
                    target = digest or candidate or pinned
                    if target is None or target not in (candidate, pinned):
                        raise StoreError(
                            f"tool {tool!r} of {server!r}: digest {target!r} is neither waiting nor pinned"
                        )
                    definition = candidate_def if target == candidate else pinned_def
                    conn.execute(
                        "UPDATE mcp_tool_pins SET digest = ?, definition = ?, pinned_at = ?, pinned_by = ?, "
                        "candidate = NULL, candidate_definition = NULL, candidate_seen = NULL "
                        "WHERE server = ? AND tool = ?",
                        (target, definition, now, by, server, tool),
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"tool pin store: {exc}") from exc
        return str(target)

    def records(self, server: str | None = None) -> list[PinRecord]:
        query = "SELECT server, tool, digest, pinned_at, pinned_by, candidate, candidate_seen FROM mcp_tool_pins"
        params: tuple[str, ...] = ()
        if server is not None:
            query += " WHERE server = ?"
            params = (server,)
        with self._lock:
            try:
                rows = self._db().execute(query + " ORDER BY server, tool", params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"tool pin store: {exc}") from exc
        return [PinRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
