"""The SQLite approval store: records, single use across threads and processes, corruption refused."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from approve_helpers import ALICE, DECIDED, EXPIRES, NOW, new_request

from warded.approve.approvals import ApprovalVerdict, SignedApproval, sign_approval, verify_approval
from warded.approve.digest import action_digest
from warded.approve.store import RequestStatus, SQLiteApprovalStore
from warded.errors import StoreError
from warded.store.state import SQLiteStateStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "warded.db")


@pytest.fixture
def store(db: str) -> Iterator[SQLiteApprovalStore]:
    with SQLiteApprovalStore(db) as s:
        yield s


@contextlib.contextmanager
def raw(db: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def approved(store: SQLiteApprovalStore, request_id: str = "r0001", nonce: str = "n" * 32) -> SignedApproval:
    request = new_request(request_id=request_id, nonce=nonce)
    store.save_request(request)
    approval = sign_approval(request, ALICE, "alice", DECIDED)
    store.record_verdict(approval)
    return approval


def test_save_and_load(store: SQLiteApprovalStore) -> None:
    request = new_request()
    store.save_request(request)
    assert store.load_request("r0001") == request
    assert store.load_request("r9999") is None
    assert store.status("r0001") == RequestStatus.PENDING
    assert store.status("r9999") is None
    assert store.load_verdict("r0001") is None


def test_ids_and_nonces_are_unique(store: SQLiteApprovalStore) -> None:
    store.save_request(new_request())
    with pytest.raises(StoreError):
        store.save_request(new_request())
    with pytest.raises(StoreError):
        store.save_request(new_request(request_id="r0002"))  # same nonce
    store.save_request(new_request(request_id="r0002", nonce="m" * 32))


def test_pending_lists_oldest_first_and_hides_expired(store: SQLiteApprovalStore) -> None:
    store.save_request(new_request(request_id="r2", nonce="b" * 32, created_at=NOW - 10))
    store.save_request(new_request(request_id="r1", nonce="a" * 32))
    store.save_request(new_request(request_id="r3", nonce="c" * 32, expires_at=NOW))
    assert [r.id for r in store.pending()] == ["r1", "r3", "r2"]
    assert [r.id for r in store.pending(NOW)] == ["r1", "r2"]
    approved(store, "r4", "d" * 32)
    assert "r4" not in [r.id for r in store.pending()]


def test_verdicts_are_recorded_once(store: SQLiteApprovalStore) -> None:
    approval = approved(store)
    assert store.status("r0001") == RequestStatus.APPROVED
    assert store.load_verdict("r0001") == approval
    denial = sign_approval(new_request(), ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY)
    with pytest.raises(StoreError, match="already approved"):
        store.record_verdict(denial)


def test_denial_is_final(store: SQLiteApprovalStore) -> None:
    request = new_request()
    store.save_request(request)
    store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY))
    assert store.status(request.id) == RequestStatus.DENIED
    with pytest.raises(StoreError, match="already denied"):
        store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED))
    assert store.consume(request, NOW) is False


def test_verdict_for_unknown_or_other_request_is_refused(store: SQLiteApprovalStore) -> None:
    with pytest.raises(StoreError, match="no approval request"):
        store.record_verdict(sign_approval(new_request(), ALICE, "alice", DECIDED))
    store.save_request(new_request())
    other = sign_approval(new_request(expires_at=EXPIRES + 1), ALICE, "alice", DECIDED)
    with pytest.raises(StoreError, match="does not match"):
        store.record_verdict(other)
    with pytest.raises(StoreError):
        store.record_verdict("approval")  # type: ignore[arg-type]


def test_consume_once(store: SQLiteApprovalStore) -> None:
    request = new_request()
    store.save_request(request)
    assert store.consume(request, NOW) is False  # pending: nothing to spend
    store.record_verdict(sign_approval(request, ALICE, "alice", DECIDED))
    assert request.nonce not in store.used_nonces
    assert store.consume(request, NOW) is True
    assert store.consume(request, NOW) is False
    assert store.status(request.id) == RequestStatus.USED
    assert request.nonce in store.used_nonces
    assert 5 not in store.used_nonces


def test_verify_then_consume_is_the_gateway_flow(store: SQLiteApprovalStore) -> None:
    approval = approved(store)
    request = store.load_request("r0001")
    assert request is not None
    digest = action_digest(request.agent_id, request.session_id, request.tool, dict(new_request().arguments),
                           request.expires_at, request.nonce)  # fmt: skip
    approvers = {ALICE.key_id: ("alice", ALICE.public_key)}
    verify_approval(request, approval, approvers, NOW, store.used_nonces, action_digest=digest)
    assert store.consume(request, NOW)
    with pytest.raises(Exception, match=r"approval\.replayed"):
        verify_approval(request, approval, approvers, NOW, store.used_nonces, action_digest=digest)


def test_void(store: SQLiteApprovalStore) -> None:
    store.save_request(new_request())
    assert store.void("r0001") is True
    assert store.void("r0001") is False
    assert store.status("r0001") == RequestStatus.VOID


def test_mark_used_and_purge(store: SQLiteApprovalStore) -> None:
    assert store.mark_used("tok1", kind="capability", digest="d", expires_at=100.0, now=50.0) is True
    assert store.mark_used("tok1", kind="capability", digest="d", expires_at=100.0, now=50.0) is False
    assert store.is_used("tok1")
    assert store.purge_used(100.0 + 86_400.0) == 0
    assert store.purge_used(100.0 + 86_401.0) == 1
    assert not store.is_used("tok1")
    with pytest.raises(StoreError):
        store.mark_used("", kind="x", digest="d", expires_at=1.0, now=1.0)


def test_threads_racing_to_consume_win_once(store: SQLiteApprovalStore) -> None:
    approved(store)
    request = new_request()
    start = threading.Barrier(12)
    wins: list[bool] = []

    def use() -> None:
        start.wait()
        wins.append(store.consume(request, NOW))

    threads = [threading.Thread(target=use) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


RACER = textwrap.dedent(
    """
    import json, os, random, sys, time
    sys.path.insert(0, sys.argv[1])
    from warded.approve.approvals import request_from_json
    from warded.approve.store import SQLiteApprovalStore

    db, go = sys.argv[2], sys.argv[3]
    with open(sys.argv[4], encoding="utf-8") as handle:
        requests = [request_from_json(r) for r in json.load(handle)]
    random.Random(int(sys.argv[5])).shuffle(requests)  # each racer its own order: they collide mid-way
    store = SQLiteApprovalStore(db, timeout_s=30.0)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    start = float(open(go, encoding="utf-8").read())
    while time.time() < start:  # every racer starts within microseconds of the others
        pass
    won = [r.id for r in requests if store.consume(r, 1.0)]
    store.close()
    print(json.dumps(won), flush=True)
    """
)


def test_processes_racing_to_consume_win_once(db: str, tmp_path: Path) -> None:
    with SQLiteApprovalStore(db) as store:
        requests = []
        for i in range(40):
            approved(store, f"r{i:04d}", f"{i:032d}")
            loaded = store.load_request(f"r{i:04d}")
            assert loaded is not None
            requests.append(loaded.to_json())
    go = tmp_path / "go"
    todo = tmp_path / "requests.json"
    todo.write_text(json.dumps(requests), encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, SRC, db, str(go), str(todo), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    won: list[str] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.with_suffix(".tmp").write_text(repr(time.time() + 0.2), encoding="utf-8")
        go.with_suffix(".tmp").replace(go)
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            won.extend(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert sorted(won) == [f"r{i:04d}" for i in range(40)]  # every approval spent exactly once in total


def test_shares_the_file_with_the_state_store(db: str) -> None:
    state = SQLiteStateStore(db)
    with SQLiteApprovalStore(db) as store:
        store.save_request(new_request())
        state.pause("a", "s", "why", "operator.pause", 1.0)
        assert store.load_request("r0001") is not None
        assert state.paused("a", "s") is not None
    state.close()
    with raw(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"signed_approvals", "used_nonces", "session_pauses"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_records_are_refused(store: SQLiteApprovalStore, db: str) -> None:
    approved(store)
    with raw(db) as conn:
        conn.execute("UPDATE signed_approvals SET request_json = '{\"truncated\": ' WHERE request_id = 'r0001'")
    with pytest.raises(StoreError, match="corrupt"):
        store.load_request("r0001")


def test_columns_that_disagree_with_the_record_are_refused(store: SQLiteApprovalStore, db: str) -> None:
    approved(store)
    with raw(db) as conn:
        conn.execute("UPDATE signed_approvals SET expires_at = expires_at + 3600 WHERE request_id = 'r0001'")
    with pytest.raises(StoreError, match="disagree"):
        store.load_request("r0001")


def test_corrupt_verdict_is_refused(store: SQLiteApprovalStore, db: str) -> None:
    approved(store)
    with raw(db) as conn:
        conn.execute("UPDATE signed_approvals SET approval_json = '{}' WHERE request_id = 'r0001'")
    with pytest.raises(StoreError, match="corrupt"):
        store.load_verdict("r0001")


def test_closed_store_raises_store_error(db: str) -> None:
    store = SQLiteApprovalStore(db)
    store.close()
    store.close()
    with pytest.raises(StoreError):
        store.load_request("r0001")
    with pytest.raises(StoreError):
        store.save_request(new_request())


def test_unopenable_store_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteApprovalStore(str(tmp_path / "missing" / "dir" / "x.db"))
    with pytest.raises(StoreError):
        SQLiteApprovalStore(str(tmp_path / "x.db"), synchronous="OFF")
    not_db = tmp_path / "not.db"
    not_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SQLiteApprovalStore(str(not_db))
