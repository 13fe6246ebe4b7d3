"""What every SQLite-backed store here shares: opening a WAL connection, closing, context management.

All stores live in one database file (the audit log's), each owning its own tables; each opens its own
connection, guarded by its own lock, so a failure in one store is a ``StoreError`` in that store only.
"""

from __future__ import annotations

import sqlite3
import threading
from types import TracebackType
from typing import Self

from warded.errors import StoreError


def connect_wal(path: str, *, what: str, schema: str, timeout_s: float, synchronous: str) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with ``schema`` applied. ``synchronous`` is NORMAL (durable
    across a process crash) or FULL (across a power loss), as the audit log's. Raises ``StoreError``."""
    if synchronous not in ("NORMAL", "FULL"):
        raise StoreError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    try:
        db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {what} {path!r}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"cannot open {what} {path!r}: {exc}") from exc
    return db


class SQLiteStore:
    """Base of the stores: one connection, one lock, idempotent ``close``, usable as a context manager."""

    def __init__(self, path: str, *, what: str, schema: str, timeout_s: float, synchronous: str) -> None:
        self.path = path
        self._what = what
        self._lock = threading.Lock()
        self._closed = False
        self._db = connect_wal(path, what=what, schema=schema, timeout_s=timeout_s, synchronous=synchronous)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        # Caller holds self._lock.
        if self._closed:
            raise StoreError(f"the {self._what} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
