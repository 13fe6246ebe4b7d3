"""One SQLite opener: every store (state, windows, approvals, audit, tool pins, API metrics) opens its
connection through ``open_sqlite`` with the same pragmas: WAL, a busy timeout, synchronous as configured."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from warded.audit.sqlite import SQLiteAuditStore
from warded.errors import AuditError, StoreError
from warded.proxy._metrics import Metrics
from warded.proxy.mcp._pins import PinStore
from warded.store._sqlite import open_sqlite
from warded.store.state import SQLiteStateStore


def _pragmas(conn: sqlite3.Connection) -> tuple[str, int, int]:
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return (mode.decode() if isinstance(mode, bytes) else mode), busy, sync


@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
def test_pragmas(tmp_path: Path, synchronous: str, level: int) -> None:
    conn = open_sqlite(
        str(tmp_path / "x.db"), what="x", timeout_s=2.5, synchronous=synchronous, schema="CREATE TABLE t (a)"
    )
    try:
        assert _pragmas(conn) == ("wal", 2500, level)
        assert conn.isolation_level is None
        conn.execute("INSERT INTO t VALUES (1)")
    finally:
        conn.close()


def test_refusals_name_the_store_and_raise_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        open_sqlite(str(tmp_path / "x.db"), what="x", timeout_s=1, synchronous="OFF")
    with pytest.raises(AuditError, match="cannot open the thing"):
        open_sqlite(str(tmp_path), what="the thing", timeout_s=1, synchronous="FULL", error=AuditError)
    with pytest.raises(StoreError, match="cannot open the thing"):
        open_sqlite(str(tmp_path / "y.db"), what="the thing", timeout_s=1, synchronous="FULL", schema="NOT SQL")


class _Closable(Protocol):
    def close(self) -> None: ...


STORES: dict[str, tuple[Callable[[Path], Any], Callable[[Any], sqlite3.Connection], tuple[str, int, int]]] = {
    # The audit log waits for locks itself once open (busy_timeout 0).
    "audit": (lambda p: SQLiteAuditStore(p, synchronous="FULL"), lambda s: s._connection(), ("wal", 0, 2)),
    "pins": (PinStore, lambda s: s._db(), ("wal", 10_000, 2)),
    "metrics": (lambda p: Metrics(str(p)), lambda s: s._db, ("wal", 5000, 1)),
    "state": (lambda p: SQLiteStateStore(str(p)), lambda s: s._db, ("wal", 5000, 1)),
}


@pytest.mark.parametrize(("open_store", "connection", "expected"), STORES.values(), ids=STORES.keys())
def test_every_store_opens_through_the_one_opener(
    tmp_path: Path,
    open_store: Callable[[Path], _Closable],
    connection: Callable[[Any], sqlite3.Connection],
    expected: tuple[str, int, int],
) -> None:
    store = open_store(tmp_path / "warded.db")
    try:
        assert _pragmas(connection(store)) == expected
    finally:
        store.close()
