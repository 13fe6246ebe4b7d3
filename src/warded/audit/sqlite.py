"""SQLite audit store: WAL mode, safe with several writer threads and processes on one database file.

The database file may hold other modules' tables; this store only creates and touches ``audit_entries``
and ``audit_checkpoints``. Rows are read back as stored, bytes included, so a tampered database is
reported by verification rather than crashing the reader.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar

from warded.audit.chain import GENESIS_HASH, AuditEntry, Checkpoint, decode_body, encode_entry, entry_hash_canonical
from warded.audit.store import check_page_args
from warded.errors import AuditError
from warded.store._sqlite import open_sqlite

__all__ = ["SQLiteAuditStore"]

Synchronous = Literal["NORMAL", "FULL"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_entries ("
    "seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, body TEXT, prev_hash TEXT, hash TEXT)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (seq INTEGER, head_hash TEXT, ts REAL, key_id TEXT, signature TEXT)",
    "CREATE INDEX IF NOT EXISTS audit_checkpoints_by_seq ON audit_checkpoints (seq)",  # latest_checkpoints
)
_ENTRY_COLUMNS = ["seq", "ts", "kind", "body", "prev_hash", "hash"]
_CHECKPOINT_COLUMNS = ["seq", "head_hash", "ts", "key_id", "signature"]
_SELECT = "SELECT seq, ts, kind, body, prev_hash, hash FROM audit_entries"
_HEAD = "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
_SELECT_CHECKPOINTS = "SELECT seq, head_hash, ts, key_id, signature FROM audit_checkpoints"
_INSERT = "INSERT INTO audit_entries (seq, ts, kind, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"
_BATCH = 1000
_T = TypeVar("_T")


class SQLiteAuditStore:
    """An :class:`~warded.audit.store.AuditStore` on one SQLite file.

    One connection per store object, shared by threads under a lock. Each process opens its own store
    (never share one across ``fork``). ``synchronous="FULL"`` makes every append durable across power
    loss; ``"NORMAL"`` (WAL default) may lose the last appends on power loss but never corrupts the chain.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "NORMAL",
        timeout: float = 30.0,
    ):
        if synchronous not in ("NORMAL", "FULL"):
            raise AuditError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = os.fspath(path)
        self._timeout = float(timeout)
        self._lock = threading.Lock()
        conn = open_sqlite(
            self.path,
            what=f"audit store {self.path}",
            timeout_s=self._timeout,
            synchronous=synchronous,
            schema=";\n".join(_SCHEMA),
            text_factory=bytes,  # decode ourselves: tampered text must not crash reads
            require_wal=True,
            error=AuditError,
        )
        try:
            _check_columns(conn, "audit_entries", _ENTRY_COLUMNS)
            _check_columns(conn, "audit_checkpoints", _CHECKPOINT_COLUMNS)
            # From here on we wait for locks ourselves (_retry_busy): SQLite's own busy handler sleeps
            # up to 100 ms at a time, which makes multi-process writers stall for no reason.
            conn.execute("PRAGMA busy_timeout=0")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise AuditError(f"cannot open audit store {self.path}: {exc}") from exc
            raise
        self._conn: sqlite3.Connection | None = conn
        self._head: tuple[int, str] | None = None  # (seq, hash) this connection last wrote or read

    def append(self, kind: str, ts: float, body: Mapping[str, Any]) -> AuditEntry:
        """Chain a new entry after the head, atomically: one INSERT whose primary key rejects a lost race."""
        ts, body_json = encode_entry(kind, ts, body)
        body_text = body_json.decode("utf-8")

        def write(conn: sqlite3.Connection) -> tuple[int, str, str]:
            # Optimistic append: one autocommit INSERT chained after the head we last saw. ``seq`` is the
            # primary key, so if another writer (thread or process) appended meanwhile, our INSERT of the
            # same seq fails and we re-read the head and chain after it. Entries are never rewritten, so a
            # head we saw is still the entry at that seq: no fork, no gap, one statement per append.
            while True:
                if self._head is None:
                    row = conn.execute(_HEAD).fetchone()
                    self._head = (0, GENESIS_HASH) if row is None else (int(row[0]), _text(row[1]))
                seq, prev_hash = self._head[0] + 1, self._head[1]
                digest = entry_hash_canonical(prev_hash, seq, ts, kind, body_json)
                try:
                    conn.execute(_INSERT, (seq, ts, kind, body_text, prev_hash, digest))
                except sqlite3.IntegrityError:
                    self._head = None  # someone else took this seq: chain after the real head
                    continue
                self._head = (seq, digest)
                return seq, prev_hash, digest

        with self._lock:
            try:
                seq, prev_hash, digest = self._retry_busy(write, "append failed")
            except BaseException:
                self._head = None
                raise
        return AuditEntry(seq, ts, kind, json.loads(body_json), prev_hash, digest, body_json)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a signed checkpoint."""
        cp = checkpoint
        with self._lock:
            self._execute(
                "INSERT INTO audit_checkpoints (seq, head_hash, ts, key_id, signature) VALUES (?, ?, ?, ?, ?)",
                (cp.seq, cp.head_hash, cp.ts, cp.key_id, cp.signature_hex),
            )

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry, ``(0, GENESIS_HASH)`` when empty."""
        with self._lock:
            rows = self._fetchall(_HEAD)
        if not rows:
            return 0, GENESIS_HASH
        return int(rows[0][0]), _text(rows[0][1])

    def iter_entries(self, start_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries from ``start_seq`` on, fetched in batches; the lock is not held between batches."""
        next_seq = start_seq
        while True:
            with self._lock:
                rows = self._fetchall(f"{_SELECT} WHERE seq >= ? ORDER BY seq LIMIT ?", (next_seq, _BATCH))
            for row in rows:
                yield _entry(row)
            if len(rows) < _BATCH:
                return
            next_seq = rows[-1][0] + 1

    def get(self, seq: int) -> AuditEntry | None:
        """The entry at ``seq``, or ``None``."""
        with self._lock:
            rows = self._fetchall(f"{_SELECT} WHERE seq = ?", (seq,))
        return _entry(rows[0]) if rows else None

    def tail(self, n: int) -> list[AuditEntry]:
        """The last ``n`` entries, oldest first."""
        if n <= 0:
            return []
        with self._lock:
            rows = self._fetchall(f"{_SELECT} ORDER BY seq DESC LIMIT ?", (n,))
        return [_entry(row) for row in reversed(rows)]

    def entries_before(
        self, before_seq: int, limit: int, *, kind: str | None = None, min_seq: int = 1
    ) -> list[AuditEntry]:
        """Newest first, at most ``limit`` entries with ``min_seq <= seq < before_seq`` (of ``kind`` if given):
        one query down the primary key (``seq`` is the rowid), stopping after ``limit`` rows."""
        limit = check_page_args(before_seq, limit, min_seq, f"audit store {self.path}")
        sql = f"{_SELECT} WHERE seq < ? AND seq >= ?"
        params: tuple[Any, ...] = (before_seq, min_seq)
        if kind is not None:
            sql, params = sql + " AND kind = ?", (*params, kind)
        with self._lock:
            rows = self._fetchall(f"{sql} ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [_entry(row) for row in rows]

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, ordered by seq then insertion."""
        with self._lock:
            rows = self._fetchall(f"{_SELECT_CHECKPOINTS} ORDER BY seq, rowid")
        return [_checkpoint(row) for row in rows]

    def latest_checkpoints(self, n: int) -> list[Checkpoint]:
        """The ``n`` checkpoints with the highest seq, ordered by seq then insertion."""
        if n <= 0:
            return []
        with self._lock:
            rows = self._fetchall(f"{_SELECT_CHECKPOINTS} ORDER BY seq DESC, rowid DESC LIMIT ?", (n,))
        return [_checkpoint(row) for row in reversed(rows)]

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                raise AuditError(f"audit store {self.path}: close failed: {exc}") from exc

    def __enter__(self) -> SQLiteAuditStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteAuditStore({self.path!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AuditError(f"audit store {self.path} is closed")
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        # Caller holds self._lock.
        self._retry_busy(lambda conn: conn.execute(sql, params), "write failed")

    def _fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        # Caller holds self._lock.
        return self._retry_busy(lambda conn: conn.execute(sql, params).fetchall(), "read failed")

    def _retry_busy(self, operation: Callable[[sqlite3.Connection], _T], what: str) -> _T:
        """Run ``operation``, retrying with short jittered sleeps while another process holds the lock."""
        # Caller holds self._lock.
        conn = self._connection()
        deadline: float | None = None
        delay = 0.00005
        while True:
            try:
                return operation(conn)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise AuditError(f"audit store {self.path}: {what}: {exc}") from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._timeout
                elif now >= deadline:
                    raise AuditError(f"audit store {self.path}: {what}: locked for {self._timeout}s") from exc
            except sqlite3.Error as exc:
                raise AuditError(f"audit store {self.path}: {what}: {exc}") from exc
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
            delay = min(delay * 2, 0.001)


def _check_columns(conn: sqlite3.Connection, table: str, expected: list[str]) -> None:
    names = [_text(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]
    if names != expected:
        raise AuditError(f"table {table} has columns {names}, expected {expected}; not a warded audit table")


def _text(value: Any) -> Any:
    """Stored TEXT comes back as bytes; decode without ever failing (bad bytes fail verification)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _checkpoint(row: tuple[Any, ...]) -> Checkpoint:
    seq, head, ts, kid, sig = row
    return Checkpoint(seq=seq, head_hash=_text(head), ts=ts, key_id=_text(kid), signature_hex=_text(sig))


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, ts, kind, body, prev_hash, digest = row
    raw = body if isinstance(body, bytes) else b"null"  # NULL or another type: can never hash right
    parsed = decode_body(raw)
    return AuditEntry(
        seq=seq,
        ts=ts,
        kind=_text(kind),
        body=parsed if parsed is not None else {},
        prev_hash=_text(prev_hash),
        hash=_text(digest),
        body_json=raw,
    )
