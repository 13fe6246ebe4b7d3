"""The one-round-trip allow path on Redis: ``reserve_if_unpaused`` checks the session's pauses and every
limit and budget and records the call's slots in one script, with the same answers as the stores that take
several steps."""

from __future__ import annotations

import pytest

from warded.core.windows import Claim, SlidingWindows
from warded.errors import StoreError
from warded.store.redis import RedisSessionWindows, RedisStateStore
from warded.store.state import ALL_SESSIONS, QUARANTINE, UnpausedReserve

LIMIT = Claim(("burst", ("a", "s1")), 60.0, 2.0)
SPEND = Claim(("spend", ("a",)), 60.0, 10.0, amount=6.0, counted=False)
DENIED = Claim(("denials", ("a",)), 60.0, 1.0, record=False)  # a limit counting denied calls: checked only


def test_same_answers_as_the_in_memory_windows(redis_url: str, redis_prefix: str) -> None:
    mem = SlidingWindows()
    with RedisSessionWindows(redis_url, prefix=redis_prefix) as windows:
        assert isinstance(windows, UnpausedReserve)
        for claims, now in [([LIMIT, SPEND], 1.0), ([LIMIT, SPEND], 2.0), ([LIMIT], 3.0), ([LIMIT], 4.0)]:
            expected = mem.reserve(claims, now) is None
            assert windows.reserve_if_unpaused("a", "s1", claims, now) is expected, (claims, now)
            for claim in claims:
                assert windows.count(claim.key, 60.0, now) == mem.count(claim.key, 60.0, now)
                assert windows.total(claim.key, 60.0, now) == mem.total(claim.key, 60.0, now)
        assert windows.reserve_if_unpaused("a", "s1", [LIMIT], 61.5) is True  # the first events left the window


def test_check_only_claims_are_checked_not_recorded(redis_url: str, redis_prefix: str) -> None:
    with RedisSessionWindows(redis_url, prefix=redis_prefix) as windows:
        assert windows.reserve_if_unpaused("a", "s1", [DENIED, LIMIT], 1.0) is True
        assert windows.count(DENIED.key, 60.0, 1.0) == 0 and windows.count(LIMIT.key, 60.0, 1.0) == 1
        windows.add(DENIED.key, 2.0)  # one denied call counted: the limit is reached
        assert windows.reserve_if_unpaused("a", "s1", [DENIED, LIMIT], 3.0) is False
        assert windows.count(LIMIT.key, 60.0, 3.0) == 1  # nothing recorded when a check fails


@pytest.mark.parametrize(
    ("session", "rule"),
    [("s1", "limit.x"), (ALL_SESSIONS, "limit.x"), ("s1", QUARANTINE)],
)
def test_a_paused_or_quarantined_session_takes_no_slot(
    redis_url: str, redis_prefix: str, session: str, rule: str
) -> None:
    with (
        RedisSessionWindows(redis_url, prefix=redis_prefix) as windows,
        RedisStateStore(redis_url, prefix=redis_prefix) as state,
    ):
        assert state.pause("a", session, "why", rule, 1.0)
        assert windows.reserve_if_unpaused("a", "s1", [LIMIT], 2.0) is False
        assert windows.count(LIMIT.key, 60.0, 2.0) == 0
        assert windows.reserve_if_unpaused("a", "other" if session == "s1" else "s1", [], 2.0) is (
            session == "s1"
        )  # another session of the agent is paused only by an agent-wide pause
        assert state.resume("a", session)
        assert windows.reserve_if_unpaused("a", "s1", [LIMIT], 3.0) is True


def test_unreachable_redis_raises_store_error() -> None:
    with RedisSessionWindows("redis://127.0.0.1:1/0", timeout_s=0.5) as windows, pytest.raises(StoreError):
        windows.reserve_if_unpaused("a", "s1", [LIMIT], 1.0)
