"""Redis nonces, approval wake-ups, and failures: every error is a StoreError, and the stores recover by
themselves after their connections are killed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from warded.core.windows import Claim
from warded.errors import StoreError
from warded.store.redis import ApprovalWaker, RedisNonces, RedisStateStore, RedisWindows

THREADS = 16


def test_a_nonce_is_used_once_across_threads(redis_url: str, redis_prefix: str) -> None:
    stores = [RedisNonces(redis_url, prefix=redis_prefix) for _ in range(4)]
    barrier = threading.Barrier(THREADS)
    wins: list[bool] = []

    def use(i: int) -> None:
        barrier.wait(timeout=10)
        wins.append(stores[i % len(stores)].mark_used("n-1", time.time() + 60))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(wins) == [False] * (THREADS - 1) + [True]
    assert stores[0].is_used("n-1")
    assert not stores[0].is_used("n-2")
    for s in stores:
        s.close()


def test_a_nonce_is_kept_until_it_expires(redis_url: str, redis_prefix: str) -> None:
    with RedisNonces(redis_url, prefix=redis_prefix) as nonces:
        assert nonces.mark_used("old", time.time() - 3600)  # already expired: still kept a minute
        assert not nonces.mark_used("old", time.time() - 3600)
        assert nonces.mark_used("new", time.time() + 600)
    client = redis.Redis.from_url(redis_url)
    try:
        ttls = sorted(client.pttl(k) for k in client.scan_iter(match=redis_prefix + "nonce:*"))
        assert 0 < ttls[0] <= 61_000 and 600_000 < ttls[1] <= 661_000
    finally:
        client.close()


def test_the_waker_wakes_a_waiter(redis_url: str, redis_prefix: str) -> None:
    with (
        ApprovalWaker(redis_url, prefix=redis_prefix) as waiter,
        ApprovalWaker(redis_url, prefix=redis_prefix) as other,
    ):
        woke: list[bool] = []
        thread = threading.Thread(target=lambda: woke.append(waiter.wait("req-1", 10.0)))
        started = time.monotonic()
        thread.start()
        time.sleep(0.2)
        other.notify("req-1")
        thread.join(10)
        assert woke == [True]
        assert time.monotonic() - started < 5.0  # woken, not timed out
        assert waiter.wait("req-1", 0.0)  # decided before this wait began: not missed
        assert not waiter.wait("req-2", 0.2)  # nobody notified


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a Redis that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CALLS: list[tuple[str, Callable[[str], Callable[[], object]]]] = [
    ("reserve", lambda url: lambda: RedisWindows(url, timeout_s=0.3).reserve([Claim(("k",), 1.0, 1.0)], 1.0)),
    ("count", lambda url: lambda: RedisWindows(url, timeout_s=0.3).count(("k",), 1.0, 1.0)),
    ("paused", lambda url: lambda: RedisStateStore(url, timeout_s=0.3).paused("a", "s")),
    ("mark_used", lambda url: lambda: RedisNonces(url, timeout_s=0.3).mark_used("n", 1.0)),
    ("wait", lambda url: lambda: ApprovalWaker(url, timeout_s=0.3).wait("r", 0.1)),
    ("notify", lambda url: lambda: ApprovalWaker(url, timeout_s=0.3).notify("r")),
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_an_unreachable_redis_is_a_store_error(name: str, call: Callable[[str], Callable[[], object]]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError):
        call(f"redis://127.0.0.1:{_free_port()}/0")()
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(("name", "call"), CALLS[:4], ids=[c[0] for c in CALLS[:4]])
def test_a_redis_that_hangs_is_a_store_error(
    silent_port: int, name: str, call: Callable[[str], Callable[[], object]]
) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="Timeout"):
        call(f"redis://127.0.0.1:{silent_port}/0")()
    assert time.monotonic() - started < 5.0


def test_a_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        RedisWindows("http://127.0.0.1:6379")


def test_the_stores_recover_after_their_connections_are_killed(redis_url: str, redis_prefix: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    limit = Claim(("burst", ("a",)), 60.0, 3.0)
    with RedisWindows(redis_url, prefix=redis_prefix) as w, RedisStateStore(redis_url, prefix=redis_prefix) as s:
        try:
            assert w.reserve([limit], 1.0) is None
            assert s.pause("a", "s1", "why", "rule", 1.0)
            for store in (w, s):
                assert admin.client_kill_filter(_id=str(store._redis.client_id()), skipme=True) == 1
            # The pooled connections are dead; each store reconnects by itself, and a retried reservation
            # is never recorded twice.
            assert w.reserve([limit], 2.0) is None
            assert w.count(limit.key, 60.0, 2.0) == 2
            assert s.paused("a", "s1") is not None
            assert w.reserve([limit], 3.0) is None
            assert w.reserve([limit], 4.0) == 0
        finally:
            admin.close()


def test_a_retried_reservation_is_recorded_once(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script recognises its own event ids: a call repeated after a lost reply records nothing more."""
    monkeypatch.setattr("warded.store.redis.secrets.token_hex", lambda n: "same-call")
    limit = Claim(("burst", ("a",)), 60.0, 5.0)
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        assert w.reserve([limit, limit], 1.0) is None
        assert w.reserve([limit, limit], 1.0) is None
        assert w.count(limit.key, 60.0, 1.0) == 2
