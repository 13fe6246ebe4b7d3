"""Keyset paging of the audit log (``entries_before``, ``latest_checkpoints``) on both backends: the right
entries, newest first, bounded by ``limit``, filtered by kind inside the seq window, arguments refused past
their bound; on SQLite the query walks the primary key (it never scans the table)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit.chain import Checkpoint
from warded.audit.keys import Signer
from warded.audit.sqlite import SQLiteAuditStore
from warded.audit.store import MAX_PAGE_ROWS, AuditStore
from warded.errors import AuditError

SIGNER = Signer(Ed25519PrivateKey.generate())


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    if request.param == "sqlite":
        with SQLiteAuditStore(tmp_path / "warded.db") as lite:
            yield lite
        return
    from warded.audit.postgres import PostgresAuditStore  # noqa: PLC0415 - only with PostgreSQL

    dsn, schema = request.getfixturevalue("pg_schema")
    with PostgresAuditStore(dsn, schema=schema) as pg:
        yield pg


def _fill(store: AuditStore, n: int) -> None:
    for i in range(n):
        store.append("alert" if i % 10 == 9 else "decision", 1000.0 + i, {"i": i})


def test_entries_before_pages_newest_first(store: AuditStore) -> None:
    _fill(store, 120)
    first = store.entries_before(121, 50)
    assert [e.seq for e in first] == list(range(120, 70, -1))
    second = store.entries_before(first[-1].seq, 50)  # keyset: the next page starts below the last seen
    assert [e.seq for e in second] == list(range(70, 20, -1))
    assert [e.seq for e in store.entries_before(21, 50)] == list(range(20, 0, -1))
    assert store.entries_before(1, 50) == [] and store.entries_before(-5, 50) == []
    assert [e.seq for e in store.entries_before(10**12, 2)] == [120, 119]  # past the head: the newest
    assert store.entries_before(121, 3)[0] == store.get(120)
    assert [e.seq for e in store.entries_before(121, 50, min_seq=115)] == [120, 119, 118, 117, 116, 115]


def test_entries_before_filters_kind_inside_the_window(store: AuditStore) -> None:
    _fill(store, 100)
    alerts = store.entries_before(101, 50, kind="alert")
    assert [e.seq for e in alerts] == list(range(100, 0, -10)) and all(e.kind == "alert" for e in alerts)
    assert [e.seq for e in store.entries_before(101, 3, kind="alert")] == [100, 90, 80]
    # The window ends at min_seq even when fewer than ``limit`` match: the caller learns where it stopped.
    assert [e.seq for e in store.entries_before(101, 50, kind="alert", min_seq=75)] == [100, 90, 80]
    assert store.entries_before(101, 50, kind="no-such-kind") == []


@pytest.mark.parametrize("args", [(10, 0), (10, MAX_PAGE_ROWS + 1), (10, -1), ("10", 5), (10, True), (10.0, 5)])
def test_entries_before_refuses_unbounded_or_odd_arguments(store: AuditStore, args: tuple[object, object]) -> None:
    with pytest.raises(AuditError):
        store.entries_before(*args)  # type: ignore[arg-type]


def test_latest_checkpoints(store: AuditStore) -> None:
    _fill(store, 30)
    signed: list[Checkpoint] = []
    for seq in (10, 20, 30, 30):
        entry = store.get(seq)
        assert entry is not None
        cp = SIGNER.sign_checkpoint(seq, entry.hash, 2000.0 + len(signed))
        store.add_checkpoint(cp)
        signed.append(cp)
    assert store.latest_checkpoints(2) == signed[2:]  # by seq, then insertion
    assert store.latest_checkpoints(3) == signed[1:]
    assert store.latest_checkpoints(10) == store.checkpoints() == signed
    assert store.latest_checkpoints(0) == []


def test_sqlite_pages_walk_the_primary_key(tmp_path: Path) -> None:
    """The query plans: a range search on the rowid (``seq``) and the checkpoint index, never a table scan."""
    db = tmp_path / "warded.db"
    with SQLiteAuditStore(db) as lite:
        _fill(lite, 10)
    conn = sqlite3.connect(db)
    try:
        plans = {
            "page": "SELECT * FROM audit_entries WHERE seq < 5 AND seq >= 1 ORDER BY seq DESC LIMIT 3",
            "kind": "SELECT * FROM audit_entries WHERE seq < 5 AND seq >= 1 AND kind = 'a' ORDER BY seq DESC LIMIT 3",
            "checkpoints": "SELECT * FROM audit_checkpoints ORDER BY seq DESC, rowid DESC LIMIT 3",
        }
        for name, sql in plans.items():
            plan = " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN audit_entries" not in plan and "TEMP B-TREE" not in plan, (name, plan)
            assert "INTEGER PRIMARY KEY" in plan or "audit_checkpoints_by_seq" in plan, (name, plan)
    finally:
        conn.close()
