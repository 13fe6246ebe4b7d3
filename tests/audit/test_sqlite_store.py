"""SQLite audit store: chaining, reading, tamper tolerance, several threads and processes."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit.canonical import canonical_json
from warded.audit.chain import GENESIS_HASH, VerifyReport, VerifyRules, entry_hash
from warded.audit.keys import Signer
from warded.audit.log import verify_store
from warded.audit.sqlite import SQLiteAuditStore
from warded.audit.store import AuditStore
from warded.errors import AuditError, VerificationError

SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warded.db"


def verify_signed(store: SQLiteAuditStore) -> VerifyReport:
    """These tests are about the store's chain: sign its head, accept any checkpoint gap, then verify."""
    seq, head = store.head()
    store.add_checkpoint(SIGNER.sign_checkpoint(seq, head, 9.5))
    return verify_store(store, KEYS, VerifyRules(checkpoint_every=10**9))


def fill(store: SQLiteAuditStore, n: int) -> None:
    for i in range(n):
        store.append("decision", 1000.0 + i, {"i": i, "tool": "fs.read", "text": "é\n"})


@contextlib.contextmanager
def raw(db: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection, as an attacker with file access would use."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        yield conn
    finally:
        conn.close()


def test_satisfies_protocol(db: Path) -> None:
    store: AuditStore = SQLiteAuditStore(db)
    store.close()


def test_append_chains_entries(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        assert store.head() == (0, GENESIS_HASH)
        first = store.append("decision", 5.0, {"b": 1, "a": [1, 2]})
        second = store.append("approval", 6, {"x": None})
        assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
        assert first.hash == entry_hash(GENESIS_HASH, 1, 5.0, "decision", {"a": [1, 2], "b": 1})
        assert (second.seq, second.prev_hash, second.ts) == (2, first.hash, 6.0)
        assert store.head() == (2, second.hash)
        assert store.get(1) == first
        assert store.get(2) == second
        assert store.get(3) is None
        assert verify_signed(store).entries == 2


def test_returned_entry_does_not_alias_caller_body(db: Path) -> None:
    body: dict[str, Any] = {"items": [1]}
    with SQLiteAuditStore(db) as store:
        entry = store.append("k", 1.0, body)
        body["items"].append(2)
        assert entry.body == {"items": [1]}
        assert store.get(1) == entry


def test_stored_body_is_canonical_text(db: Path) -> None:
    body = {"z": 1, "a": "é", "t": (1, 2)}
    with SQLiteAuditStore(db) as store:
        store.append("k", 1.0, body)
    with raw(db) as conn:
        (text,) = conn.execute("SELECT body FROM audit_entries WHERE seq = 1").fetchone()
    assert text == canonical_json(body).decode()


def test_iter_tail_and_batches(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 2100)  # more than one read batch
        seqs = [e.seq for e in store.iter_entries()]
        assert seqs == list(range(1, 2101))
        assert [e.seq for e in store.iter_entries(2095)] == list(range(2095, 2101))
        assert list(store.iter_entries(5000)) == []
        assert [e.seq for e in store.tail(3)] == [2098, 2099, 2100]
        assert store.tail(0) == []
        assert len(store.tail(10_000)) == 2100
        assert verify_signed(store).entries == 2100


def test_checkpoints_round_trip(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 3)
        later = SIGNER.sign_checkpoint(3, store.head()[1], 9.0)
        earlier = SIGNER.sign_checkpoint(1, store.get(1).hash, 8.0)  # type: ignore[union-attr]
        store.add_checkpoint(later)
        store.add_checkpoint(earlier)
        assert store.checkpoints() == [earlier, later]
        report = verify_store(store, KEYS)
        assert (report.checkpoints, report.last_checkpoint_seq, report.unsigned_tail) == (2, 3, 0)


def test_reopen_continues_the_chain(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 3)
    with SQLiteAuditStore(db, synchronous="FULL") as store:
        assert store.append("k", 1.0, {}).seq == 4
        assert verify_signed(store).entries == 4


def test_wal_and_synchronous(db: Path) -> None:
    with SQLiteAuditStore(db, synchronous="FULL") as store:
        store.append("k", 1.0, {})
        with raw(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_rejects_unknown_synchronous(db: Path) -> None:
    with pytest.raises(AuditError, match="synchronous"):
        SQLiteAuditStore(db, synchronous="OFF")  # type: ignore[arg-type]


def test_shares_the_file_with_other_tables(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("CREATE TABLE approvals (id TEXT PRIMARY KEY, state TEXT)")
        conn.execute("INSERT INTO approvals VALUES ('a1', 'pending')")
    with SQLiteAuditStore(db) as store:
        fill(store, 2)
    with raw(db) as conn:
        assert conn.execute("SELECT * FROM approvals").fetchall() == [("a1", "pending")]


def test_refuses_foreign_audit_table(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("CREATE TABLE audit_entries (id INTEGER, payload TEXT)")
    with pytest.raises(AuditError, match="not a warded audit table"):
        SQLiteAuditStore(db)


def test_refuses_non_database_file(db: Path) -> None:
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AuditError, match="cannot open audit store"):
        SQLiteAuditStore(db)


def test_closed_store(db: Path) -> None:
    store = SQLiteAuditStore(db)
    store.close()
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.append("k", 1.0, {})
    with pytest.raises(AuditError, match="closed"):
        store.head()


def test_sqlite_errors_become_audit_errors(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        with raw(db) as conn:
            conn.execute("DROP TABLE audit_entries")
        with pytest.raises(AuditError, match="no such table"):
            store.append("k", 1.0, {})
        with pytest.raises(AuditError, match="no such table"):
            store.head()


@pytest.mark.parametrize(
    ("kind", "ts", "body", "match"),
    [
        ("", 1.0, {}, "kind"),
        (None, 1.0, {}, "kind"),
        ("k", True, {}, "ts"),
        ("k", "1", {}, "ts"),
        ("k", float("nan"), {}, "finite"),
        ("k", 1.0, [1], "mapping"),
        ("k", 1.0, {"x": float("inf")}, "canonical JSON"),
        ("k", 1.0, {1: "x"}, "canonical JSON"),
        ("k", 1.0, {"x": b"bytes"}, "canonical JSON"),
    ],
)
def test_rejects_bad_input_and_writes_nothing(db: Path, kind: Any, ts: Any, body: Any, match: str) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 1)
        head = store.head()
        with pytest.raises(AuditError, match=match):
            store.append(kind, ts, body)
        assert store.head() == head
        assert store.append("k", 2.0, {}).seq == 2


def test_append_refuses_to_chain_on_unreadable_head(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 2)
    with raw(db) as conn:
        conn.execute("UPDATE audit_entries SET hash = NULL WHERE seq = 2")
    # A store reads the head when it first appends (later it chains after what it wrote itself).
    with SQLiteAuditStore(db) as store:
        with pytest.raises(AuditError, match="expected a string"):
            store.append("k", 1.0, {})
        assert [e.seq for e in store.iter_entries()] == [1, 2]


def test_append_after_another_writer_chains_after_the_real_head(db: Path) -> None:
    with SQLiteAuditStore(db) as first, SQLiteAuditStore(db) as second:
        first.append("k", 1.0, {"n": 1})
        second.append("k", 2.0, {"n": 2})  # second has never seen first's entry: it must discover it
        first.append("k", 3.0, {"n": 3})  # first's cached head is stale: it must re-read
        assert [e.seq for e in first.iter_entries()] == [1, 2, 3]
        assert verify_signed(first).entries == 3


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("UPDATE audit_entries SET body = '{not json' WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET body = '[1, 2]' WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET body = NULL WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET body = X'7B22693A' WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET kind = CAST(X'FF' AS TEXT) WHERE seq = 2", "malformed"),
        ("UPDATE audit_entries SET kind = NULL WHERE seq = 2", "malformed"),
        ("UPDATE audit_entries SET ts = 'yesterday' WHERE seq = 2", "malformed"),
        ("UPDATE audit_entries SET ts = NULL WHERE seq = 2", "malformed"),
        ("UPDATE audit_entries SET ts = 1001.5 WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET hash = NULL WHERE seq = 2", "hash mismatch"),
        ("UPDATE audit_entries SET prev_hash = CAST(X'C0' AS TEXT) WHERE seq = 2", "prev_hash"),
        (
            'UPDATE audit_entries SET body = \'{"i":1,"text":"é\\n","tool":"fs.write"}\' WHERE seq = 2',
            "mismatch",
        ),
    ],
)
def test_tampered_rows_are_reported_not_crashed_on(db: Path, sql: str, match: str) -> None:
    with SQLiteAuditStore(db) as store:
        fill(store, 3)
    with raw(db) as conn:
        conn.execute(sql)
    with SQLiteAuditStore(db) as store:
        assert len(store.tail(3)) == 3
        with pytest.raises(VerificationError, match=match) as info:
            verify_store(store, KEYS)
    assert info.value.seq == 2


def test_threads_share_one_store(db: Path) -> None:
    with SQLiteAuditStore(db) as store:
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for i in range(200):
                    store.append("t", time.time(), {"worker": worker, "i": i})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert verify_signed(store).entries == 800


WORKER = """
import sys, time
from pathlib import Path
from warded.audit.sqlite import SQLiteAuditStore

db, worker, count, sync_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
store = SQLiteAuditStore(db)
(sync_dir / f"ready-{worker}").touch()
deadline = time.monotonic() + 30
while not (sync_dir / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.001)
for i in range(count):
    store.append("proc", time.time(), {"worker": worker, "i": i})
store.close()
"""


def test_two_processes_append_one_valid_chain(db: Path, tmp_path: Path) -> None:
    SQLiteAuditStore(db).close()  # create the schema once, up front
    count = 400
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(db), str(w), str(count), str(tmp_path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
            for w in (1, 2)
        ]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{w}").exists() for w in (1, 2)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.01)
        (tmp_path / "go").touch()
        results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    for err, returncode in results:
        assert returncode == 0, err.decode()

    with SQLiteAuditStore(db) as store:
        report = verify_signed(store)
        assert report.entries == 2 * count
        by_worker: dict[int, list[int]] = {1: [], 2: []}
        for entry in store.iter_entries():
            by_worker[entry.body["worker"]].append(entry.body["i"])
    assert by_worker == {1: list(range(count)), 2: list(range(count))}


def test_append_waits_for_another_writer(db: Path) -> None:
    with SQLiteAuditStore(db) as store, raw(db) as other:
        other.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.05, lambda: other.execute("COMMIT"))
        releaser.start()
        started = time.monotonic()
        entry = store.append("k", 1.0, {})
        releaser.join()
        assert time.monotonic() - started >= 0.04
        assert entry.seq == 1


def test_append_gives_up_after_timeout(db: Path) -> None:
    with SQLiteAuditStore(db, timeout=0.05) as store, raw(db) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(AuditError, match="locked for"):
                store.append("k", 1.0, {})
        finally:
            other.execute("ROLLBACK")
        assert store.append("k", 1.0, {}).seq == 1
