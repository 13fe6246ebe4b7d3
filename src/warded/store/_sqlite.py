"""What every SQLite-backed store shares: opening a WAL connection (:func:`open_sqlite`, used by the
audit log, the tool pins and the API metrics too), closing, context management.

All stores live in one database file (the audit log's), each owning its own tables; each opens its own
connection, guarded by its own lock, so a failure in one store is a ``StoreError`` in that store only.
"""

from __future__ import annotations

import sqlite3
import threading
from types import TracebackType
from typing import Self

from warded.errors import StoreError, WardedError


def open_sqlite(
    path: str,
    *,
    what: str,
    timeout_s: float,
    synchronous: str,
    schema: str = "",
    text_factory: type | None = None,
    require_wal: bool = False,
    error: type[WardedError] = StoreError,
) -> sqlite3.Connection:
    """The one way warded opens SQLite: an autocommit connection usable from any thread, in WAL mode,
    waiting up to ``timeout_s`` for a lock (``busy_timeout``), ``synchronous`` NORMAL (durable across a
    process crash) or FULL (across a power loss), with ``schema`` applied.

    ``what`` names the store in errors (``cannot open {what}: ...``); ``text_factory`` is set before
    anything is read; ``require_wal`` refuses a file that cannot switch to WAL (``:memory:`` excepted).
    Every failure closes the connection and raises ``error``.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise error(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    try:
        db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise error(f"cannot open {what}: {exc}") from exc
    try:
        if text_factory is not None:
            db.text_factory = text_factory
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if isinstance(mode, bytes):
            mode = mode.decode("ascii", "replace")
        if require_wal and str(mode).lower() != "wal" and path != ":memory:":
            raise error(f"{what}: cannot enable WAL mode (journal_mode={mode})")
        db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        db.execute(f"PRAGMA synchronous={synchronous}")
        if schema:
            db.executescript(schema)
    except BaseException as exc:
        db.close()
        if isinstance(exc, sqlite3.Error):
            raise error(f"cannot open {what}: {exc}") from exc
        raise
    return db


def connect_wal(path: str, *, what: str, schema: str, timeout_s: float, synchronous: str) -> sqlite3.Connection:
    """:func:`open_sqlite` for the stores here (errors name ``what`` and the path). Raises ``StoreError``."""
    return open_sqlite(path, what=f"{what} {path!r}", schema=schema, timeout_s=timeout_s, synchronous=synchronous)


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
