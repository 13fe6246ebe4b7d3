"""Pauses in Redis answer exactly as pauses in SQLite: the same sequence of calls, the same results."""

from __future__ import annotations

from pathlib import Path

import pytest

from warded.errors import StoreError
from warded.store.redis import RedisStateStore
from warded.store.state import ALL_SESSIONS, QUARANTINE, Pause, SQLiteStateStore

# (method, arguments): every call is made on both stores and their answers compared.
SCRIPT: list[tuple[str, tuple[object, ...]]] = [
    ("paused", ("a", "s1")),
    ("pause", ("a", "s1", "burst of deletes", "delete-burst", 1.0)),
    ("pause", ("a", "s1", "again", "delete-burst", 2.0)),  # already paused: False, the first pause stays
    ("paused", ("a", "s1")),
    ("pause", ("a", "s2", "tainted result", QUARANTINE, 3.0)),
    ("pause", ("a", "s2", "quarantined again", QUARANTINE, 4.0)),  # a quarantine never replaces one
    ("pause", ("a", "s2", "operator", "ops.pause", 5.0)),  # a real pause replaces a quarantine
    ("pause", ("a", "s2", "back to quarantine", QUARANTINE, 6.0)),  # ...never the other way round
    ("paused", ("a", "s2")),
    ("paused", ("a", "s3")),
    ("pause", ("a", ALL_SESSIONS, "kill switch", "ops.kill", 7.0)),
    ("paused", ("a", "s3")),  # the agent-wide pause
    ("paused", ("a", "s1")),  # the session's own pause first
    ("paused", ("b", "s1")),
    ("pause", ("b", "s1", "naïve — ünïcode", "r", 0.5)),
    ("list_pauses", ()),
    ("resume", ("a", "s1")),
    ("resume", ("a", "s1")),  # not paused any more: False
    ("paused", ("a", "s1")),  # still under the agent-wide pause
    ("resume", ("a", ALL_SESSIONS)),
    ("paused", ("a", "s1")),
    ("list_pauses", ()),
]


def test_redis_pauses_answer_as_sqlite_pauses(redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    with SQLiteStateStore(str(tmp_path / "state.db")) as sqlite, RedisStateStore(redis_url, prefix=redis_prefix) as rs:
        for method, args in SCRIPT:
            expected = getattr(sqlite, method)(*args)
            assert getattr(rs, method)(*args) == expected, (method, args)


def test_pauses_are_shared_between_clients(redis_url: str, redis_prefix: str) -> None:
    with RedisStateStore(redis_url, prefix=redis_prefix) as one, RedisStateStore(redis_url, prefix=redis_prefix) as two:
        assert one.pause("a", "s1", "why", "rule", 1.25)
        assert two.paused("a", "s1") == Pause("a", "s1", "why", "rule", 1.25)
        assert not two.pause("a", "s1", "why", "rule", 2.0)
        assert two.resume("a", "s1")
        assert one.paused("a", "s1") is None


def test_a_closed_store_refuses(redis_url: str, redis_prefix: str) -> None:
    store = RedisStateStore(redis_url, prefix=redis_prefix)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.paused("a", "s1")


@pytest.mark.parametrize("ids", [("", "s1"), ("a", "")], ids=["empty-agent", "empty-session"])
def test_empty_identifiers_are_refused(redis_url: str, redis_prefix: str, ids: tuple[str, str]) -> None:
    with RedisStateStore(redis_url, prefix=redis_prefix) as store, pytest.raises(StoreError):
        store.pause(*ids, "why", "rule", 1.0)
