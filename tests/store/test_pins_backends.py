"""MCP tool pins behave the same in SQLite and in PostgreSQL (shared by replicas), and PostgreSQL's first
sight is decided once when several replicas list the same server at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warded.errors import StoreError
from warded.gateway._stores import migrate_postgres, open_pins
from warded.policy.compile import load_policy
from warded.proxy.mcp._pins import PinStore as SQLitePinStore
from warded.store.pg_pins import PostgresPinStore
from warded.store.pins import FIRST_SIGHT, PinStatus, PinStore, PinWrite, Stored, judge

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEF = {"name": "t", "description": "d"}


@pytest.fixture(params=["sqlite", "postgres"])
def pin_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], PinStore]]:
    opened: list[PinStore] = []

    def make() -> PinStore:
        if request.param == "sqlite":
            store: PinStore = SQLitePinStore(tmp_path / "audit.db")
        else:
            schema = request.getfixturevalue("pg_schema")[1]
            store = PostgresPinStore(PG_DSN, schema=schema, timeout_s=5.0)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_first_sight_change_approval_and_return(pin_stores: Callable[[], PinStore]) -> None:
    pins = pin_stores()
    first = pins.observe("srv", "t", "a" * 64, DEF, 1.0, pin=True)
    assert (first.status, first.new, first.pinned_by) == (PinStatus.PINNED, True, FIRST_SIGHT)
    again = pins.observe("srv", "t", "a" * 64, DEF, 2.0, pin=True)
    assert (again.status, again.new, again.alert) == (PinStatus.PINNED, False, False)
    pulled = pins.observe("srv", "t", "b" * 64, DEF, 3.0, pin=True)
    assert (pulled.status, pulled.alert, pulled.pinned) == (PinStatus.CHANGED, True, "a" * 64)
    assert not pins.observe("srv", "t", "b" * 64, DEF, 4.0, pin=True).alert  # one alert per definition
    assert pins.observe("srv", "t", "a" * 64, DEF, 5.0, pin=True).trusted  # back to the pin: candidate cleared
    assert [r.candidate for r in pins.records("srv")] == [None]
    pins.observe("srv", "t", "b" * 64, DEF, 6.0, pin=True)
    assert pins.approve("srv", "t", 7.0, by="alice") == "b" * 64
    approved = pins.observe("srv", "t", "b" * 64, DEF, 8.0, pin=True)
    assert approved.operator_approved and approved.pinned_by == "alice"
    with pytest.raises(StoreError):
        pins.approve("srv", "missing", 9.0, by="alice")
    with pytest.raises(StoreError):
        pins.approve("srv", "t", 9.0, digest="c" * 64, by="alice")


def test_waiting_for_an_operator(pin_stores: Callable[[], PinStore]) -> None:
    pins = pin_stores()
    waiting = pins.observe("srv", "w", "c" * 64, DEF, 1.0, pin=False)
    assert (waiting.status, waiting.alert, waiting.new) == (PinStatus.UNAPPROVED, True, True)
    assert [(r.tool, r.digest, r.candidate) for r in pins.records()] == [("w", None, "c" * 64)]
    assert pins.approve("srv", "w", 2.0, by="bob") == "c" * 64
    assert pins.observe("srv", "w", "c" * 64, DEF, 3.0, pin=False).trusted


@pytest.mark.parametrize(
    ("stored", "digest", "pin", "status", "write"),
    [
        (None, "a", True, PinStatus.PINNED, PinWrite.INSERT_PINNED),
        (None, "a", False, PinStatus.UNAPPROVED, PinWrite.INSERT_WAITING),
        (Stored("a", FIRST_SIGHT, None), "a", True, PinStatus.PINNED, PinWrite.NONE),
        (Stored("a", FIRST_SIGHT, "b"), "a", True, PinStatus.PINNED, PinWrite.CLEAR_CANDIDATE),
        (Stored(None, None, "b"), "c", True, PinStatus.PINNED, PinWrite.PIN_FIRST_SIGHT),
        (Stored(None, None, "b"), "c", False, PinStatus.UNAPPROVED, PinWrite.SET_CANDIDATE),
        (Stored("a", "alice", None), "b", True, PinStatus.CHANGED, PinWrite.SET_CANDIDATE),
        (Stored("a", "alice", "b"), "b", True, PinStatus.CHANGED, PinWrite.NONE),
    ],
)
def test_judge(stored: Stored | None, digest: str, pin: bool, status: PinStatus, write: PinWrite) -> None:
    check, wanted = judge(stored, digest, pin=pin)
    assert (check.status, wanted) == (status, write)


def test_concurrent_first_sight_pins_one_definition(pg_schema: tuple[str, str]) -> None:
    stores = [PostgresPinStore(PG_DSN, schema=pg_schema[1], timeout_s=5.0) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    seen: list[PinStatus] = []

    def list_tools(i: int) -> None:
        barrier.wait()
        seen.append(stores[i].observe("srv", "race", f"{i}" * 64, DEF, float(i), pin=True).status)

    threads = [threading.Thread(target=list_tools, args=(i,)) for i in range(len(stores))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(seen) == sorted([PinStatus.PINNED] + [PinStatus.CHANGED] * 3)  # one first sight only
    finally:
        for store in stores:
            store.close()


def test_unreachable_postgres_raises_store_error(pg_schema: tuple[str, str]) -> None:
    with pytest.raises(StoreError):
        PostgresPinStore("postgresql://postgres@127.0.0.1:1/test", schema=pg_schema[1], timeout_s=0.5)
    store = PostgresPinStore(PG_DSN, schema=pg_schema[1], timeout_s=5.0)
    store.close()
    with pytest.raises(StoreError):
        store.observe("srv", "t", "a" * 64, DEF, 1.0, pin=True)


def test_policy_with_store_postgres_keeps_pins_in_postgres(
    tmp_path: Path, pg_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDED_PINS_PG", PG_DSN)
    policy = tmp_path / "warded.yaml"
    policy.write_text(
        "version: 1\naudit: {path: audit.db, key: audit.key}\n"
        f"store: {{postgres: '${{WARDED_PINS_PG}}', schema: {pg_schema[1]}}}\n",
        encoding="utf-8",
    )
    compiled = load_policy(policy)
    assert migrate_postgres(PG_DSN, pg_schema[1])["pins"] == 1
    pins = open_pins(compiled)
    assert isinstance(pins, PostgresPinStore)
    try:
        assert pins.observe("srv", "t", "a" * 64, DEF, 1.0, pin=True).trusted
    finally:
        pins.close()
    other = PostgresPinStore(PG_DSN, schema=pg_schema[1], migrate=False)  # another replica sees the pin
    try:
        assert [r.digest for r in other.records("srv")] == ["a" * 64]
    finally:
        other.close()
    assert not (tmp_path / "audit.db").exists()
