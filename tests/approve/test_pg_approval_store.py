"""The PostgreSQL approval store: the SQLite store's records and rules, and single use exactly once across
threads and processes racing on one database."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from approve_helpers import ALICE, CREATED, DECIDED, EXPIRES, NOW, new_request

from warded.approve.approvals import ApprovalRequest, ApprovalVerdict, sign_approval
from warded.approve.pg_store import PostgresApprovalStore
from warded.approve.store import RequestStatus
from warded.errors import StoreError
from warded.store._postgres import Fault, PostgresStoreError

RACE_REQUESTS = 20


@pytest.fixture
def store(pg_schema: tuple[str, str]) -> Iterator[PostgresApprovalStore]:
    dsn, schema = pg_schema
    with PostgresApprovalStore(dsn, schema=schema) as s:
        yield s


def _approved(store: PostgresApprovalStore, request: ApprovalRequest) -> None:
    store.save_request(request)
    store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED))


def test_request_round_trip(store: PostgresApprovalStore) -> None:
    request = new_request()
    assert store.load_request(request.id) is None and store.status(request.id) is None
    store.save_request(request)
    assert store.load_request(request.id) == request
    assert store.status(request.id) is RequestStatus.PENDING
    assert store.pending() == [request]
    assert store.pending(now=EXPIRES + 1) == []
    with pytest.raises(StoreError, match="already exists"):
        store.save_request(request)
    with pytest.raises(StoreError, match="already exists"):
        store.save_request(new_request(request_id="r0002"))  # same nonce
    with pytest.raises(StoreError):
        store.save_request("request")  # type: ignore[arg-type]


def test_verdicts_are_recorded_once(store: PostgresApprovalStore) -> None:
    request = new_request()
    assert store.load_verdict(request.id) is None
    with pytest.raises(StoreError, match="no approval request"):
        store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED))
    store.save_request(request)
    with pytest.raises(StoreError, match="does not match"):
        store.record_verdict(sign_approval(new_request(expires_at=EXPIRES + 1), ALICE, "alice", DECIDED))
    approval = sign_approval(request, ALICE, "alice", DECIDED)
    store.record_verdict(approval)
    assert store.status(request.id) is RequestStatus.APPROVED
    assert store.load_verdict(request.id) == approval
    with pytest.raises(StoreError, match="already approved"):
        store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY))
    assert store.pending() == []


def test_denial_is_final_and_void_only_pending(store: PostgresApprovalStore) -> None:
    denied, other = new_request(), new_request(request_id="r0002", nonce="m" * 32)
    store.save_request(denied)
    store.record_verdict(sign_approval(denied, ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY))
    assert store.status(denied.id) is RequestStatus.DENIED
    assert store.consume(denied, NOW) is False
    assert store.void(denied.id) is False
    store.save_request(other)
    assert store.void(other.id) is True and store.void(other.id) is False
    assert store.status(other.id) is RequestStatus.VOID


def test_consume_once_and_nonces(store: PostgresApprovalStore) -> None:
    request = new_request()
    store.save_request(request)
    assert store.consume(request, NOW) is False  # pending: nothing to spend
    store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED))
    assert request.nonce not in store.used_nonces
    assert store.consume(request, NOW) is True
    assert store.consume(request, NOW) is False
    assert store.status(request.id) is RequestStatus.USED
    assert request.nonce in store.used_nonces and store.is_used(request.nonce)
    assert store.mark_used("tok", kind="capability", digest="d", expires_at=EXPIRES, now=NOW) is True
    assert store.mark_used("tok", kind="capability", digest="d", expires_at=EXPIRES, now=NOW) is False
    with pytest.raises(StoreError):
        store.mark_used("", kind="capability", digest="d", expires_at=EXPIRES, now=NOW)
    assert store.purge_used(EXPIRES + 10, keep_s=100.0) == 0
    assert store.purge_used(EXPIRES + 200, keep_s=100.0) == 2
    assert not store.is_used("tok")


def test_consume_refuses_a_request_whose_nonce_was_spent_otherwise(store: PostgresApprovalStore) -> None:
    request = new_request()
    _approved(store, request)
    assert store.mark_used(request.nonce, kind="capability", digest="d", expires_at=EXPIRES, now=NOW) is True
    assert store.consume(request, NOW) is False
    assert store.status(request.id) is RequestStatus.APPROVED  # rolled back whole


def test_consume_refuses_another_digest(store: PostgresApprovalStore) -> None:
    request = new_request()
    _approved(store, request)
    forged = new_request(arguments={"to": "mallory@example.com"})
    assert forged.digest != request.digest
    assert store.consume(forged, NOW) is False
    assert store.consume(request, NOW) is True


def test_corrupt_record_is_a_store_error(pg_schema: tuple[str, str], store: PostgresApprovalStore) -> None:
    dsn, schema = pg_schema
    store.save_request(new_request())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".signed_approvals SET expires_at = expires_at + 1'.encode())
    with pytest.raises(StoreError, match="corrupt"):
        store.load_request("r0001")


def test_eight_threads_consume_exactly_once(store: PostgresApprovalStore) -> None:
    request = new_request()
    _approved(store, request)
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait(timeout=30)
        won = store.consume(request, NOW)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] * 7 + [True]


def _race_request(i: int) -> ApprovalRequest:
    return new_request(request_id=f"race{i:04d}", nonce=f"{i:032d}", created_at=CREATED + i)


def _consumer(dsn: str, schema: str, barrier: Any, out: Any) -> None:
    try:
        with PostgresApprovalStore(dsn, schema=schema, pool_size=2) as store:
            barrier.wait(timeout=60)
            out.put([i for i in range(RACE_REQUESTS) if store.consume(_race_request(i), NOW)])
    except Exception as exc:
        out.put(repr(exc))


def test_three_processes_consume_each_approval_exactly_once(
    pg_schema: tuple[str, str], store: PostgresApprovalStore
) -> None:
    dsn, schema = pg_schema
    for i in range(RACE_REQUESTS):
        _approved(store, _race_request(i))
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_consumer, args=(dsn, schema, barrier, out), daemon=True) for _ in range(3)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
    assert all(isinstance(r, list) for r in results), results
    won = sorted(i for r in results for i in r)
    assert won == list(range(RACE_REQUESTS))  # every approval spent, none twice
    assert all(store.status(_race_request(i).id) is RequestStatus.USED for i in range(RACE_REQUESTS))


def test_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unreachable") as info:
        PostgresApprovalStore("postgresql://postgres@127.0.0.1:1/test", timeout_s=1.0)
    assert isinstance(info.value, PostgresStoreError) and info.value.fault is Fault.UNREACHABLE


def test_closed_store_refuses(store: PostgresApprovalStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.status("r0001")
