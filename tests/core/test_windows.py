"""Sliding windows: counts and totals over time, expiry, and scope resets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warded.core.windows import Claim, SlidingWindows


def test_count_and_total_expire_with_the_window() -> None:
    w = SlidingWindows()
    for t, amount in ((0.0, 10.0), (5.0, 20.0), (9.0, 30.0)):
        w.add(("spend", ("a",)), t, amount)
    assert w.count(("spend", ("a",)), 10.0, 9.5) == 3
    assert w.total(("spend", ("a",)), 10.0, 9.5) == 60.0
    assert w.total(("spend", ("a",)), 10.0, 12.0) == 50.0  # the first event left the window
    assert w.count(("spend", ("a",)), 10.0, 30.0) == 0
    assert w.total(("spend", ("a",)), 10.0, 30.0) == 0.0
    assert len(w) == 0


def test_reset_scope_forgets_only_that_scope() -> None:
    w = SlidingWindows()
    w.add(("burst", ("a", "s1")), 1.0)
    w.add(("burst", ("a", "s2")), 1.0)
    w.reset_scope(("a", "s1"))
    assert w.count(("burst", ("a", "s1")), 60.0, 2.0) == 0
    assert w.count(("burst", ("a", "s2")), 60.0, 2.0) == 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1000)), max_size=40), st.floats(1, 50))
def test_running_total_equals_a_fresh_sum(events: list[tuple[float, float]], window: float) -> None:
    w = SlidingWindows()
    now = 0.0
    seen: list[tuple[float, float]] = []
    for step, amount in sorted(events):
        now = step
        w.add("k", now, amount)
        seen.append((now, amount))
        expected = sum(a for t, a in seen if t > now - window)
        assert abs(w.total("k", window, now) - expected) < 1e-6 * max(1.0, expected)


def test_reserve_records_all_claims_or_none() -> None:
    w = SlidingWindows()
    burst = Claim(("burst", ("a", "s1")), 60.0, 2.0)
    spend = Claim(("spend", ("a",)), 60.0, 10.0, amount=6.0, counted=False)
    assert w.reserve([burst, spend], 1.0) is None
    assert w.reserve([burst, spend], 2.0) == 1  # 6 + 6 > 10: nothing recorded, not even the burst slot
    assert w.count(burst.key, 60.0, 2.0) == 1
    assert w.total(spend.key, 60.0, 2.0) == 6.0
    assert w.reserve([burst], 3.0) is None
    assert w.reserve([burst], 4.0) == 0  # the limit of 2 is full
    assert w.reserve([burst], 70.0) is None  # the first slot left the window
    assert w.reserve([], 80.0) is None


@pytest.mark.parametrize(
    ("current", "claim", "fits"),
    [
        pytest.param(2, Claim("k", 1.0, 3.0), True, id="count-below-limit"),
        pytest.param(3, Claim("k", 1.0, 3.0), False, id="count-at-limit"),
        pytest.param(4.0, Claim("k", 1.0, 10.0, 6.0, counted=False), True, id="sum-reaches-budget-exactly"),
        pytest.param(4.5, Claim("k", 1.0, 10.0, 6.0, counted=False), False, id="sum-over-budget"),
    ],
)
def test_a_claim_fits_exactly_when_decide_would_not_call_it_exceeded(current: float, claim: Claim, fits: bool) -> None:
    assert claim.fits(current) is fits
