"""AuditLog: appends, checkpoint schedule, shutdown, threads, convenience wrappers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit import (
    AuditLog,
    Signer,
    generate_keypair,
    load_public_keys,
    open_sqlite_log,
    verify_store,
)
from warded.audit.sqlite import SQLiteAuditStore
from warded.errors import AuditError, KeyFileError, VerificationError

SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_log(db: Path, clock: FakeClock | None = None, **kwargs: float) -> AuditLog:
    return AuditLog(SQLiteAuditStore(db), SIGNER, clock=clock or FakeClock(), **kwargs)  # type: ignore[arg-type]


def checkpoint_seqs(db: Path) -> list[int]:
    with SQLiteAuditStore(db) as store:
        return [cp.seq for cp in store.checkpoints()]


def test_append_uses_the_clock(tmp_path: Path) -> None:
    clock = FakeClock(1234.5)
    with make_log(tmp_path / "a.db", clock) as log:
        entry = log.append("decision", {"tool": "fs.read"})
    assert (entry.seq, entry.ts, entry.kind, entry.body) == (1, 1234.5, "decision", {"tool": "fs.read"})


def test_checkpoint_every_n_and_on_close(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    log = make_log(db, checkpoint_every=3)
    for i in range(7):
        log.append("e", {"i": i})
    assert checkpoint_seqs(db) == [3, 6]
    assert log.verify().unsigned_tail == 1
    log.close()
    assert checkpoint_seqs(db) == [3, 6, 7]
    with SQLiteAuditStore(db) as store:
        report = verify_store(store, KEYS)
    assert (report.entries, report.checkpoints, report.unsigned_tail) == (7, 3, 0)


def test_checkpoint_after_time_passes(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    clock = FakeClock(100.0)
    log = make_log(db, clock, checkpoint_every=1000, checkpoint_seconds=10.0)
    log.append("e", {})
    clock.now = 109.9
    log.append("e", {})
    assert checkpoint_seqs(db) == []
    clock.now = 110.0
    log.append("e", {})
    assert checkpoint_seqs(db) == [3]
    clock.now = 115.0
    log.append("e", {})
    assert checkpoint_seqs(db) == [3]
    clock.now = 120.5
    log.append("e", {})
    assert checkpoint_seqs(db) == [3, 5]
    log.close()


def test_forced_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with make_log(db) as log:
        assert log.checkpoint() is None  # empty log: nothing to sign
        log.append("e", {})
        log.append("e", {})
        cp = log.checkpoint()
        assert cp is not None
        assert (cp.seq, cp.key_id) == (2, SIGNER.key_id)
        assert log.checkpoint() is None  # head already signed
    assert checkpoint_seqs(db) == [2]  # close had nothing left to sign


def test_close_on_empty_log_writes_no_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    make_log(db).close()
    assert checkpoint_seqs(db) == []


def test_closed_log(tmp_path: Path) -> None:
    log = make_log(tmp_path / "a.db")
    log.close()
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append("e", {})
    with pytest.raises(AuditError, match="closed"):
        log.checkpoint()


def test_reopened_log_knows_existing_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with make_log(db) as log:
        log.append("e", {})
    with make_log(db, checkpoint_every=2) as log:
        assert log.checkpoint() is None
        log.append("e", {})
        log.append("e", {})
        assert log.verify().entries == 3
    assert checkpoint_seqs(db) == [1, 2, 3]  # 2 is a multiple of checkpoint_every; close signs 3


def test_refuses_to_sign_a_tampered_head(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    log = make_log(db)
    log.append("e", {"x": 1})
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("""UPDATE audit_entries SET body = '{"x":2}' WHERE seq = 1""")
    finally:
        conn.close()
    with pytest.raises(AuditError, match="refusing to sign"):
        log.checkpoint()
    with pytest.raises(AuditError, match="refusing to sign"):
        log.close()
    assert checkpoint_seqs(db) == []
    with pytest.raises(AuditError, match="closed"):
        log.append("e", {})


def test_verify_with_other_keys(tmp_path: Path) -> None:
    with make_log(tmp_path / "a.db") as log:
        log.append("e", {})
        log.checkpoint()
        other = Signer(Ed25519PrivateKey.generate())
        with pytest.raises(VerificationError, match="unknown key id"):
            log.verify({other.key_id: other.public_key})
        assert log.verify(KEYS).checkpoints == 1


def test_threads_append_one_chain(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    log = make_log(db, checkpoint_every=50)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(150):
                log.append("t", {"worker": worker, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert errors == []
    with SQLiteAuditStore(db) as store:
        report = verify_store(store, KEYS)
    assert (report.entries, report.unsigned_tail) == (600, 0)
    assert checkpoint_seqs(db) == [50 * k for k in range(1, 13)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_every": 1.5}, "checkpoint_every"),
        ({"checkpoint_every": True}, "checkpoint_every"),
        ({"checkpoint_seconds": 0}, "checkpoint_seconds"),
        ({"checkpoint_seconds": float("nan")}, "checkpoint_seconds"),
    ],
)
def test_rejects_bad_settings(tmp_path: Path, kwargs: dict[str, float], match: str) -> None:
    with SQLiteAuditStore(tmp_path / "a.db") as store, pytest.raises(AuditError, match=match):
        AuditLog(store, SIGNER, **kwargs)  # type: ignore[arg-type]


def test_rejects_non_signer(tmp_path: Path) -> None:
    with SQLiteAuditStore(tmp_path / "a.db") as store, pytest.raises(AuditError, match="Signer"):
        AuditLog(store, Ed25519PrivateKey.generate())  # type: ignore[arg-type]


def test_open_sqlite_log_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    generate_keypair(key)
    db = tmp_path / "audit.db"
    with open_sqlite_log(db, key, synchronous="FULL", checkpoint_every=2) as log:
        for i in range(5):
            log.append("decision", {"i": i})
    with SQLiteAuditStore(db) as store:
        report = verify_store(store, load_public_keys([f"{key}.pub"]))
    assert (report.entries, report.checkpoints, report.unsigned_tail) == (5, 3, 0)


def test_open_sqlite_log_with_missing_key(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        open_sqlite_log(tmp_path / "audit.db", tmp_path / "missing.key")
    assert not (tmp_path / "audit.db").exists()


def test_open_sqlite_log_rejects_bad_settings(tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    generate_keypair(key)
    with pytest.raises(AuditError, match="checkpoint_every"):
        open_sqlite_log(tmp_path / "audit.db", key, checkpoint_every=0)
