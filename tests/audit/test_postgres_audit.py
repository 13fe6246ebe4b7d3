"""The PostgreSQL audit store: one chain across processes that verifies, checkpoints kept as signed,
tampering found by verification, and an unreachable server reported as an AuditError."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit.chain import GENESIS_HASH, VerifyRules
from warded.audit.keys import Signer, generate_keypair, load_public_keys, public_key_path
from warded.audit.log import AuditLog, open_postgres_log, verify_store
from warded.audit.postgres import PostgresAuditError, PostgresAuditStore
from warded.errors import AuditError, VerificationError
from warded.store._postgres import Fault

WORKERS = 4
APPENDS = 200


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "audit.key"
    generate_keypair(path)
    return path


@pytest.fixture
def store(pg_schema: tuple[str, str]) -> Iterator[PostgresAuditStore]:
    dsn, schema = pg_schema
    with PostgresAuditStore(dsn, schema=schema) as s:
        yield s


def test_append_read_back_and_verify(store: PostgresAuditStore) -> None:
    assert store.head() == (0, GENESIS_HASH)
    assert list(store.iter_entries()) == [] and store.tail(3) == [] and store.get(1) is None
    entries = [store.append("decision", 1_700_000_000.5 + i, {"i": i, "text": "café ☕", "n": None}) for i in range(5)]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH and entries[1].prev_hash == entries[0].hash
    assert store.head() == (5, entries[-1].hash)
    assert list(store.iter_entries()) == entries
    assert list(store.iter_entries(4)) == entries[3:]
    assert store.get(3) == entries[2] and store.tail(2) == entries[3:]
    signer = Signer(Ed25519PrivateKey.generate())
    store.add_checkpoint(signer.sign_checkpoint(5, entries[-1].hash, 1_700_000_010.0))
    report = verify_store(store, {signer.key_id: signer.public_key}, VerifyRules(checkpoint_every=10))
    assert report.entries == 5 and report.head_hash == entries[-1].hash and report.unsigned_tail == 0


def test_bad_entries_are_refused(store: PostgresAuditStore) -> None:
    with pytest.raises(AuditError):
        store.append("", 1.0, {})
    with pytest.raises(AuditError):
        store.append("k", True, {})
    with pytest.raises(AuditError):
        store.append("k", 1.0, [1])  # type: ignore[arg-type]
    assert store.head() == (0, GENESIS_HASH)


def test_checkpoints_round_trip(pg_schema: tuple[str, str], key: Path) -> None:
    dsn, schema = pg_schema
    log = open_postgres_log(dsn, key, schema=schema, checkpoint_every=3)
    log.start("start", {"replica": "a"})
    for i in range(7):
        log.append("decision", {"i": i})
    signed = log.store.checkpoints()
    log.close(final=("stop", {}))
    with PostgresAuditStore(dsn, schema=schema) as again:
        stored = again.checkpoints()
        assert stored[: len(signed)] == signed
        assert [cp.seq for cp in stored] == sorted(cp.seq for cp in stored)
        keys = load_public_keys([public_key_path(key)])
        report = verify_store(again, keys, VerifyRules(checkpoint_every=3, expect_stopped=True))
        assert report.entries == 9 and report.unsigned_tail == 0


def _appender(dsn: str, schema: str, key: str, barrier: Any, out: Any) -> None:
    try:
        log = open_postgres_log(dsn, key, schema=schema, checkpoint_every=50)
        log.start("start", {"pid": mp.current_process().name})
        barrier.wait(timeout=60)
        seqs = [log.append("decision", {"n": n}).seq for n in range(APPENDS)]
        log.close(final=("stop", {}))
        out.put(seqs)
    except Exception as exc:
        out.put(repr(exc))


def test_concurrent_appends_from_processes_make_one_chain(pg_schema: tuple[str, str], key: Path) -> None:
    dsn, schema = pg_schema
    PostgresAuditStore(dsn, schema=schema).close()  # migrate once, up front
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_appender, args=(dsn, schema, str(key), barrier, out), daemon=True) for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
    assert all(isinstance(r, list) for r in results), results
    appended = [seq for r in results for seq in r]
    assert len(appended) == len(set(appended)) == WORKERS * APPENDS
    total = WORKERS * (APPENDS + 2)  # each writer also appends its start and stop entries
    with PostgresAuditStore(dsn, schema=schema) as store:
        assert [e.seq for e in store.iter_entries()] == list(range(1, total + 1))
        keys = load_public_keys([public_key_path(key)])
        report = verify_store(store, keys, VerifyRules(checkpoint_every=50, expect_stopped=True))
    assert report.entries == total and report.head_seq == total


def test_tampering_is_found_by_verification(pg_schema: tuple[str, str], key: Path) -> None:
    dsn, schema = pg_schema
    with AuditLog(PostgresAuditStore(dsn, schema=schema), Signer.from_file(key), checkpoint_every=5) as log:
        for i in range(6):
            log.append("decision", {"i": i})
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".audit_entries SET body = \'{{"i":9}}\' WHERE seq = 3'.encode())
    with PostgresAuditStore(dsn, schema=schema) as store:
        assert store.get(3) is not None
        with pytest.raises(VerificationError) as info:
            verify_store(store, load_public_keys([public_key_path(key)]), VerifyRules(checkpoint_every=5))
    assert info.value.seq == 3


def test_unreachable_server_is_an_audit_error() -> None:
    with pytest.raises(AuditError, match="unreachable") as info:
        PostgresAuditStore("postgresql://postgres@127.0.0.1:1/test", schema="warded", timeout_s=1.0)
    assert isinstance(info.value, PostgresAuditError) and info.value.fault is Fault.UNREACHABLE


def test_closed_store_refuses(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    store = PostgresAuditStore(dsn, schema=schema)
    store.close()
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.append("k", 1.0, {})
    with pytest.raises(AuditError, match="closed"):
        store.head()


def test_without_migration_an_empty_schema_is_refused(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    with pytest.raises(AuditError, match=r"warded store migrate|missing"):
        PostgresAuditStore(dsn, schema=schema, migrate=False)


def test_a_held_head_lock_times_out_then_service_resumes(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    with PostgresAuditStore(dsn, schema=schema, timeout_s=0.5) as store:
        store.append("decision", 1.0, {"i": 0})
        with psycopg.connect(dsn) as blocker:  # another replica stuck mid-append
            blocker.execute(f'SELECT seq FROM "{schema}".audit_head FOR UPDATE'.encode())
            with pytest.raises(PostgresAuditError, match="did not answer") as info:
                store.append("decision", 2.0, {"i": 1})
            assert info.value.fault is Fault.TIMEOUT
            blocker.rollback()
        assert store.append("decision", 3.0, {"i": 2}).seq == 2
        assert [e.seq for e in store.iter_entries()] == [1, 2]
