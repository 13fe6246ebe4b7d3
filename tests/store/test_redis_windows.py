"""Redis windows: the same answers as the in-memory and SQLite windows, and exact across processes
because ``reserve`` checks and records in one Lua script (issue 14)."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.core.windows import Claim, SlidingWindows
from warded.errors import StoreError
from warded.store.redis import RedisWindows

BURST = Claim(("burst", ("a", "s1")), 60.0, 2.0)
SPEND = Claim(("spend", ("a",)), 60.0, 10.0, amount=6.0, counted=False)


def test_reserve_matches_the_in_memory_windows(redis_url: str, redis_prefix: str) -> None:
    mem = SlidingWindows()
    with RedisWindows(redis_url, prefix=redis_prefix) as db, RedisWindows(redis_url, prefix=redis_prefix) as other:
        steps: list[tuple[list[Claim], float]] = [
            ([BURST, SPEND], 1.0),
            ([BURST, SPEND], 2.0),
            ([BURST], 3.0),
            ([BURST], 4.0),
            ([SPEND], 5.0),
            ([BURST, SPEND], 70.0),
            ([], 80.0),
        ]
        for claims, now in steps:
            assert db.reserve(claims, now) == mem.reserve(claims, now), (claims, now)
            for claim in (BURST, SPEND):
                assert other.count(claim.key, 60.0, now) == mem.count(claim.key, 60.0, now)
                assert other.total(claim.key, 60.0, now) == mem.total(claim.key, 60.0, now)


def test_reserve_records_all_claims_or_none(redis_url: str, redis_prefix: str) -> None:
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        assert w.reserve([BURST, SPEND], 1.0) is None
        assert w.reserve([BURST, SPEND], 2.0) == 1  # 6 + 6 > 10: nothing recorded, not even the burst slot
        assert w.count(BURST.key, 60.0, 2.0) == 1
        assert w.total(SPEND.key, 60.0, 2.0) == 6.0
        assert w.reserve([BURST], 3.0) is None
        assert w.reserve([BURST], 4.0) == 0  # the limit of 2 is full
        assert w.reserve([BURST], 70.0) is None  # the first slot left the window
        assert w.reserve([], 80.0) is None


def test_count_and_total_expire_with_the_window(redis_url: str, redis_prefix: str) -> None:
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        key = ("spend", ("a",))
        for t, amount in ((0.0, 10.0), (5.0, 20.0), (9.0, 30.0)):
            w.add(key, t, amount)
        assert w.count(key, 10.0, 9.5) == 3
        assert w.total(key, 10.0, 9.5) == 60.0
        assert w.total(key, 10.0, 12.0) == 50.0  # the first event left the window
        assert w.count(key, 10.0, 30.0) == 0
        assert w.total(key, 10.0, 30.0) == 0.0


def test_equal_events_are_all_counted(redis_url: str, redis_prefix: str) -> None:
    """Events with the same time and amount are distinct members of the sorted set."""
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        for _ in range(5):
            w.add(("k",), 1.0, 2.5)
        assert w.reserve([Claim(("k",), 10.0, 100.0, 2.5, counted=False)] * 2, 1.0) is None
        assert w.count(("k",), 10.0, 1.0) == 7
        assert w.total(("k",), 10.0, 1.0) == 17.5


def test_reset_scope_forgets_only_that_scope(redis_url: str, redis_prefix: str) -> None:
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        w.add(("burst", ("a", "s1")), 1.0)
        assert w.reserve([Claim(("spend", ("a", "s1")), 60.0, 5.0)], 1.0) is None
        w.add(("burst", ("a", "s2")), 1.0)
        w.add(("global",), 1.0)
        w.reset_scope(("a", "s1"))
        assert w.count(("burst", ("a", "s1")), 60.0, 2.0) == 0
        assert w.count(("spend", ("a", "s1")), 60.0, 2.0) == 0
        assert w.count(("burst", ("a", "s2")), 60.0, 2.0) == 1
        assert w.count(("global",), 60.0, 2.0) == 1


def test_keys_are_hashed_under_the_prefix_and_expire(redis_url: str, redis_prefix: str) -> None:
    with RedisWindows(redis_url, prefix=redis_prefix) as w:
        assert w.reserve([Claim(("burst", ("agent-secret", "s1")), 600.0, 5.0)], 1.0) is None
        assert w.count(("denied", ("agent-secret", "s1")), 600.0, 1.0) == 0  # read first, as the gateway does
        w.add(("denied", ("agent-secret", "s1")), 1.0)
        assert len(w) == 2
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = list(client.scan_iter(match=redis_prefix + "*"))
        assert keys and all("agent-secret" not in k for k in keys)
        for k in keys:
            assert 0 < client.pttl(k) <= (600 + 60) * 1000
    finally:
        client.close()


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(Claim(("k",), 0.0, 1.0), id="zero-window"),
        pytest.param(Claim(("k",), float("nan"), 1.0), id="nan-window"),
        pytest.param(Claim(("k",), 1.0, float("inf")), id="infinite-cap"),
        pytest.param(Claim(("k",), 1.0, 1.0, float("nan"), counted=False), id="nan-amount"),
        pytest.param(Claim("not-a-tuple", 1.0, 1.0), id="bad-key"),
    ],
)
def test_reserve_refuses_bad_claims(redis_url: str, redis_prefix: str, claim: Claim) -> None:
    with RedisWindows(redis_url, prefix=redis_prefix) as db, pytest.raises(StoreError):
        db.reserve([claim], 1.0)


_example = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1000)), max_size=25), st.floats(1, 50))
def test_running_total_equals_a_fresh_sum(
    redis_url: str, redis_prefix: str, events: list[tuple[float, float]], window: float
) -> None:
    with RedisWindows(redis_url, prefix=f"{redis_prefix}{next(_example)}:") as w:  # the fixture deletes them all
        seen: list[tuple[float, float]] = []
        for now, amount in sorted(events):
            w.add(("k",), now, amount)
            seen.append((now, amount))
            expected = sum(a for t, a in seen if t > now - window)
            assert abs(w.total(("k",), window, now) - expected) <= 1e-9 * max(1.0, expected)


WORKERS = 4
ATTEMPTS = 60
CAP = 25
BUDGET = 10.0
PRICE = 0.25  # exactly representable: 40 fit


def _hammer(url: str, prefix: str, claims: list[Claim], barrier: Any, out: Any) -> None:
    with RedisWindows(url, prefix=prefix) as db:
        barrier.wait(timeout=60)
        out.put(sum(db.reserve(claims, 100.0) is None for _ in range(ATTEMPTS)))


def _run_workers(url: str, prefix: str, claims: list[Claim]) -> int:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, prefix, claims, barrier, out), daemon=True) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        return sum(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()


def test_processes_hammering_one_window_never_exceed_its_cap(redis_url: str, redis_prefix: str) -> None:
    limit = Claim(("burst", ("a",)), 3600.0, float(CAP))
    assert _run_workers(redis_url, redis_prefix, [limit]) == CAP
    with RedisWindows(redis_url, prefix=redis_prefix) as db:
        assert db.count(limit.key, 3600.0, 100.0) == CAP


def test_processes_spend_a_budget_exactly(redis_url: str, redis_prefix: str) -> None:
    """A limit and a budget claimed together: the budget binds, and the limit counts exactly what it allowed."""
    limit = Claim(("calls", ("a",)), 3600.0, 1000.0)
    budget = Claim(("spend", ("a",)), 3600.0, BUDGET, amount=PRICE, counted=False)
    assert _run_workers(redis_url, redis_prefix, [limit, budget]) == BUDGET / PRICE
    with RedisWindows(redis_url, prefix=redis_prefix) as db:
        assert db.total(budget.key, 3600.0, 100.0) == BUDGET
        assert db.count(limit.key, 3600.0, 100.0) == BUDGET / PRICE
