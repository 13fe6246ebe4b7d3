"""PostgreSQL audit store: one totally ordered hash chain shared by every gateway replica.

**Why one chain.** Every replica appends to the same chain, so ``warded audit verify`` checks one sequence
with the same rules as the SQLite log, and an entry's position says when it was decided relative to every
other replica's. Appends are serialised on a one-row table ``audit_head``: an append locks that row
(``SELECT ... FOR UPDATE``), chains its entry after the head it read, inserts the entry and moves the head in
one statement, and commits. A replica that dies mid-append leaves no trace (its transaction rolls back and
the lock is released); a committed entry is durable (``synchronous_commit``) before ``append`` returns.

**Cost per decision.** One round trip per append: the function ``warded_audit_append`` (migration 2) locks
the head row, chains, inserts and moves the head inside one autocommit statement. The head lock is held for
the server's own work plus the commit's WAL flush (no network round trip), so appends from all replicas
together run at roughly ``1 / (commit flush)`` per second. Readers never take the lock.

Tables (room ``audit``, created by :func:`~warded.store._postgres.migrate`): ``audit_entries`` (the chain),
``audit_head`` (the lock row: ``seq``, ``hash`` of the last entry appended) and ``audit_checkpoints``.
Rows are read back as stored, so a tampered table is reported by verification rather than crashing a reader.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from warded.audit.canonical import canonical_str
from warded.audit.chain import GENESIS_HASH, AuditEntry, Checkpoint, decode_body, encode_entry, entry_hash_canonical
from warded.audit.store import check_page_args
from warded.errors import AuditError
from warded.store._postgres import (
    DEFAULT_SCHEMA,
    Fault,
    Migration,
    PooledStore,
    connection,
    migrate_pool,
    open_pool,
    register_migrations,
    translate,
)

__all__ = ["MIGRATIONS", "PostgresAuditError", "PostgresAuditStore"]


class PostgresAuditError(AuditError):
    """The PostgreSQL audit store failed; ``fault`` says how (unreachable, timeout, serialization, error)."""

    def __init__(self, message: str, fault: Fault = Fault.ERROR) -> None:
        self.fault = fault
        super().__init__(message)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "audit chain, head and checkpoints",
        (
            "CREATE TABLE audit_entries (seq bigint PRIMARY KEY, ts double precision NOT NULL, kind text NOT NULL,"
            " body text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL)",
            "CREATE TABLE audit_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL)",
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64))",  # GENESIS_HASH
            "CREATE TABLE audit_checkpoints (id bigserial PRIMARY KEY, seq bigint NOT NULL, head_hash text NOT NULL,"
            " ts double precision NOT NULL, key_id text NOT NULL, signature text NOT NULL)",
            "CREATE INDEX audit_checkpoints_by_seq ON audit_checkpoints (seq, id)",
        ),
    ),
)
"""The audit room's schema, version by version."""

MIGRATIONS += (
    Migration(
        2,
        "one-statement append",
        (
            # The whole append in one statement, so in one round trip: lock the head, chain the entry after
            # it, insert it, move the head. The client sends the entry's hash preimage up to the previous
            # hash (``p_head``) and after it everything but the sequence number; the server completes and
            # hashes it (the same bytes as ``entry_hash_canonical``), and the client checks the result.
            "CREATE FUNCTION warded_audit_append(p_ts double precision, p_kind text, p_body text, p_head bytea,"
            " p_ts_text text) RETURNS TABLE (new_seq bigint, prev_hash text, new_hash text)"
            " LANGUAGE plpgsql AS $fn$"
            " DECLARE h_seq bigint; h_hash text; n bigint; d text;"
            " BEGIN"
            "  SELECT a.seq, a.hash INTO h_seq, h_hash FROM audit_head a WHERE a.id = 1 FOR UPDATE;"
            "  IF NOT FOUND THEN RAISE EXCEPTION 'the audit_head row is missing; not a warded schema'; END IF;"
            "  n := h_seq + 1;"
            '  d := encode(sha256(p_head || convert_to(h_hash || \'","seq":\' || n::text || \',"ts":\''
            "   || p_ts_text || '}', 'UTF8')), 'hex');"
            "  INSERT INTO audit_entries (seq, ts, kind, body, prev_hash, hash)"
            "   VALUES (n, p_ts, p_kind, p_body, h_hash, d);"
            "  UPDATE audit_head SET seq = n, hash = d WHERE id = 1;"
            "  RETURN QUERY SELECT n, h_hash, d;"
            " END $fn$",
        ),
    ),
)

register_migrations("audit", MIGRATIONS)

_APPEND_FN = "SELECT new_seq, prev_hash, new_hash FROM warded_audit_append(%s, %s, %s, %s, %s)"
_SELECT = "SELECT seq, ts, kind, body, prev_hash, hash FROM audit_entries"
_HEAD = "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
_SELECT_CHECKPOINTS = "SELECT seq, head_hash, ts, key_id, signature FROM audit_checkpoints"
_BATCH = 1000

_Pool = ConnectionPool[psycopg.Connection[tuple[Any, ...]]]


class PostgresAuditStore(PooledStore):
    """An :class:`~warded.audit.store.AuditStore` in PostgreSQL, shared by any number of processes and hosts.

    Thread-safe (a pool of up to ``pool_size`` connections). ``timeout_s`` bounds getting a connection and
    every statement, waits for the head lock included; past it the call raises :class:`PostgresAuditError`
    and the caller fails closed. With ``migrate`` (the default) the audit tables are created or upgraded
    on open; otherwise they must already be at this version (``warded store migrate``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        timeout_s: float = 5.0,
        migrate: bool = True,
    ) -> None:
        self.schema = schema
        self._timeout = float(timeout_s)
        self._lock = threading.Lock()
        self._pool: _Pool | None = open_pool(
            dsn,
            schema=schema,
            min_size=1,
            max_size=pool_size,
            timeout=self._timeout,
            what=f"audit store (PostgreSQL schema {schema!r})",
            error=PostgresAuditError,
        )
        try:
            if migrate:
                migrate_pool(
                    self._pool, schema, rooms=["audit"], timeout_s=max(self._timeout, 30.0), error=PostgresAuditError
                )
            else:
                self._check_version()
        except BaseException:
            self.close()
            raise

    # -- writes ------------------------------------------------------------------------------------

    def append(self, kind: str, ts: float, body: Mapping[str, Any]) -> AuditEntry:
        """Chain a new entry after the head in one statement (one round trip): one chain across all replicas.

        ``warded_audit_append`` (migration 2) locks the head row, hashes the entry after it, inserts it and
        moves the head; the lock is held only while the server runs it and commits, never across a network
        round trip. The hash the server computed is checked here against ``entry_hash_canonical``."""
        ts, body_json = encode_entry(kind, ts, body)
        body_text = body_json.decode("utf-8")
        head = b'{"body":' + body_json + b',"kind":' + canonical_str(kind) + b',"prev":"'
        with self._connection("append failed") as conn:
            row = conn.execute(_APPEND_FN, (ts, kind, body_text, head, float.__repr__(ts))).fetchone()
        if row is None:
            raise PostgresAuditError(f"audit store {self!r}: the append returned nothing; not a warded schema")
        seq, prev_hash, digest = int(row[0]), str(row[1]), str(row[2])
        expected = entry_hash_canonical(prev_hash, seq, ts, kind, body_json)
        if digest != expected:
            raise PostgresAuditError(
                f"audit store {self!r}: entry {seq} was hashed as {digest[:16]}… by the server, expected"
                f" {expected[:16]}…; the chain will not verify (a damaged warded_audit_append?)"
            )
        return AuditEntry(seq, ts, kind, json.loads(body_json), prev_hash, digest, body_json)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a signed checkpoint."""
        cp = checkpoint
        with self._connection("write failed") as conn:
            conn.execute(
                "INSERT INTO audit_checkpoints (seq, head_hash, ts, key_id, signature) VALUES (%s, %s, %s, %s, %s)",
                (cp.seq, cp.head_hash, cp.ts, cp.key_id, cp.signature_hex),
            )

    # -- reads -------------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry, ``(0, GENESIS_HASH)`` when empty."""
        rows = self._fetchall(_HEAD)
        if not rows:
            return 0, GENESIS_HASH
        return int(rows[0][0]), rows[0][1]

    def iter_entries(self, start_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries from ``start_seq`` on, fetched in batches of 1000 (no connection is held between them)."""
        next_seq = start_seq
        while True:
            rows = self._fetchall(f"{_SELECT} WHERE seq >= %s ORDER BY seq LIMIT %s", (next_seq, _BATCH))
            for row in rows:
                yield _entry(row)
            if len(rows) < _BATCH:
                return
            next_seq = int(rows[-1][0]) + 1

    def get(self, seq: int) -> AuditEntry | None:
        """The entry at ``seq``, or ``None``."""
        rows = self._fetchall(f"{_SELECT} WHERE seq = %s", (seq,))
        return _entry(rows[0]) if rows else None

    def tail(self, n: int) -> list[AuditEntry]:
        """The last ``n`` entries, oldest first."""
        if n <= 0:
            return []
        rows = self._fetchall(f"{_SELECT} ORDER BY seq DESC LIMIT %s", (n,))
        return [_entry(row) for row in reversed(rows)]

    def entries_before(
        self, before_seq: int, limit: int, *, kind: str | None = None, min_seq: int = 1
    ) -> list[AuditEntry]:
        """Newest first, at most ``limit`` entries with ``min_seq <= seq < before_seq`` (of ``kind`` if given):
        one query down the primary key index, stopping after ``limit`` rows."""
        limit = check_page_args(before_seq, limit, min_seq, f"audit store {self!r}")
        sql = f"{_SELECT} WHERE seq < %s AND seq >= %s"
        params: tuple[Any, ...] = (before_seq, min_seq)
        if kind is not None:
            sql, params = sql + " AND kind = %s", (*params, kind)
        rows = self._fetchall(f"{sql} ORDER BY seq DESC LIMIT %s", (*params, limit))
        return [_entry(row) for row in rows]

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, ordered by seq then insertion."""
        rows = self._fetchall(f"{_SELECT_CHECKPOINTS} ORDER BY seq, id")
        return [_checkpoint(row) for row in rows]

    def latest_checkpoints(self, n: int) -> list[Checkpoint]:
        """The ``n`` checkpoints with the highest seq, ordered by seq then insertion (index ``(seq, id)``)."""
        if n <= 0:
            return []
        rows = self._fetchall(f"{_SELECT_CHECKPOINTS} ORDER BY seq DESC, id DESC LIMIT %s", (n,))
        return [_checkpoint(row) for row in reversed(rows)]

    # -- lifecycle ---------------------------------------------------------------------------------

    def _connection(self, what: str) -> AbstractContextManager[psycopg.Connection[tuple[Any, ...]]]:
        pool = self._pool
        if pool is None:
            raise PostgresAuditError(f"audit store {self!r} is closed")
        return connection(pool, f"audit store {self!r}: {what}", timeout_s=self._timeout, error=PostgresAuditError)

    def _fetchall(self, query: Any, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connection("read failed") as conn:
            return list(conn.execute(query, params).fetchall())

    def _check_version(self) -> None:
        with self._connection("cannot read the schema version") as conn:
            try:
                row = conn.execute("SELECT max(version) FROM warded_schema_version WHERE room = 'audit'").fetchone()
            except psycopg.errors.UndefinedTable as exc:
                raise translate(exc, "audit tables missing", timeout_s=self._timeout, error=PostgresAuditError) from exc
        version = row[0] if row else None
        if version != len(MIGRATIONS):
            raise PostgresAuditError(
                f"audit store {self!r}: audit tables are at version {version}, expected {len(MIGRATIONS)};"
                " run `warded store migrate`"
            )


def _checkpoint(row: tuple[Any, ...]) -> Checkpoint:
    seq, head, ts, kid, sig = row
    return Checkpoint(seq=int(seq), head_hash=head, ts=float(ts), key_id=kid, signature_hex=sig)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, ts, kind, body, prev_hash, digest = row
    raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else b"null"
    parsed = decode_body(raw)
    return AuditEntry(
        seq=seq,
        ts=ts,
        kind=kind,
        body=parsed if parsed is not None else {},
        prev_hash=prev_hash,
        hash=digest,
        body_json=raw,
    )
