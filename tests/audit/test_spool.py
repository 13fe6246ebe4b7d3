"""The local audit spool: what the shared store could not take waits on disk, in order, and reaches the
chain once the store answers again; without a spool, or with an unwritable one, nothing is pretended."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from warded.audit.chain import AuditEntry, Checkpoint
from warded.audit.keys import Signer, generate_keypair
from warded.audit.log import AuditLog, AuditUnavailable
from warded.audit.spool import SPOOL_KEY, AuditSpool
from warded.audit.sqlite import SQLiteAuditStore
from warded.errors import AuditError


class Flaky(SQLiteAuditStore):
    """A SQLite audit store that can be made 'unreachable' the way PostgreSQL reports it (``fault``)."""

    down = False

    def append(self, kind: str, ts: float, body: Mapping[str, Any]) -> AuditEntry:
        if self.down:
            err = AuditError("server unreachable")
            err.fault = "unreachable"  # type: ignore[attr-defined]
            raise err
        return super().append(kind, ts, body)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        if self.down:
            raise AuditError("server unreachable")
        super().add_checkpoint(checkpoint)


@pytest.fixture
def log(tmp_path: Path) -> tuple[AuditLog, Flaky, AuditSpool]:
    generate_keypair(tmp_path / "k")
    store = Flaky(str(tmp_path / "audit.db"))
    spool = AuditSpool(str(tmp_path / "audit.db.spool"), check_every_s=0.0)
    return AuditLog(store, Signer.from_file(tmp_path / "k"), spool=spool), store, spool


def test_spooled_entries_reach_the_chain_in_order(log: tuple[AuditLog, Flaky, AuditSpool]) -> None:
    audit, store, spool = log
    audit.append("decision", {"n": 0})
    store.down = True
    with pytest.raises(AuditUnavailable):
        audit.append("decision", {"n": 1})
    ids = [audit.record("decision", {"n": n}) for n in (1, 2)]
    assert all(isinstance(i, str) and i.startswith("spool-") for i in ids)
    assert spool.count() == 2
    with pytest.raises(AuditUnavailable):  # still down: the spool stays, in order
        audit.drain()
    store.down = False
    entry = audit.append("decision", {"n": 3})  # the spool drains first
    bodies = [e.body for e in store.iter_entries()]
    assert [b["n"] for b in bodies] == [0, 1, 2, 3]
    assert [b[SPOOL_KEY]["id"] for b in bodies[1:3]] == ids
    assert all(b[SPOOL_KEY]["why"] == "server unreachable" for b in bodies[1:3])
    assert entry.seq == 4 and spool.count() == 0
    audit.checkpoint()
    assert audit.verify().entries == 4
    audit.close()


def test_a_new_log_drains_what_a_dead_one_left(tmp_path: Path, log: tuple[AuditLog, Flaky, AuditSpool]) -> None:
    audit, store, _ = log
    store.down = True
    audit.record("decision", {"n": 1})
    # The process dies here: nothing closes it. A new replica on the same host starts.
    again = Flaky(str(tmp_path / "audit.db"))
    fresh = AuditLog(again, Signer.from_file(tmp_path / "k"), spool=AuditSpool(str(tmp_path / "audit.db.spool")))
    fresh.start("gateway_started", {})
    assert [e.kind for e in again.iter_entries()] == ["decision", "gateway_started"]
    fresh.close()


def test_without_a_spool_the_failure_is_raised(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k")
    store = Flaky(str(tmp_path / "audit.db"))
    audit = AuditLog(store, Signer.from_file(tmp_path / "k"))
    store.down = True
    assert not audit.can_spool
    with pytest.raises(AuditUnavailable):
        audit.record("decision", {})
    with pytest.raises(AuditError, match="no spool"):
        audit.spool("decision", {}, "why")


def test_an_unwritable_spool_raises(tmp_path: Path) -> None:
    spool = AuditSpool(str(tmp_path / "missing-dir" / "x.spool"))
    with pytest.raises(AuditError):
        spool.put("decision", 1.0, {}, "why")
    ok = AuditSpool(str(tmp_path / "ok.spool"))
    with pytest.raises(AuditError, match="reserved"):
        ok.put("decision", 1.0, {SPOOL_KEY: 1}, "why")
    ok.close()


def test_a_spool_busy_draining_elsewhere_does_not_hold_appends(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k")
    store = Flaky(str(tmp_path / "audit.db"))
    path = str(tmp_path / "audit.db.spool")
    audit = AuditLog(store, Signer.from_file(tmp_path / "k"), spool=AuditSpool(path, check_every_s=0.0, timeout_s=0.2))
    store.down = True
    audit.record("decision", {"n": 1})
    store.down = False
    other = sqlite3.connect(path, isolation_level=None)  # another replica of this host, draining right now
    other.execute("BEGIN IMMEDIATE")
    try:
        audit.append("decision", {"n": 2})  # does not wait for that drain
        assert [e.body["n"] for e in store.iter_entries()] == [2]
    finally:
        other.execute("ROLLBACK")
        other.close()
    audit.append("decision", {"n": 3})
    assert [e.body["n"] for e in store.iter_entries()] == [2, 1, 3]
    audit.close()
