"""Sliding-window counters for rate limits, circuit breakers and budgets.

Values in, values out: the caller passes the time. Each key keeps a deque of
(timestamp, amount) pairs; entries older than the window are dropped on access, so memory
is bounded by the number of events inside the longest window.

An allowed call takes its slot with :meth:`WindowStore.reserve`: check and record in one step, so
that two deciders sharing a store (several ``warded serve`` workers on one SQLite file) can never
both take the last slot of a limit or the last of a budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Claim:
    """One event to record only if its window stays within ``cap`` with it.

    ``counted``: the window's value is its number of events (a limit: ``count + 1 <= cap``); otherwise
    the sum of their amounts (a budget: ``total + amount <= cap``). These are exactly the negations of
    what ``decide()`` calls exceeded, computed on the same numbers the gateway reads.
    """

    key: Hashable
    window: float
    cap: float
    amount: float = 1.0
    counted: bool = True
    record: bool = True  # False: only checked (a limit that counts denied calls: an ALLOW takes no slot in it)

    def fits(self, current: float) -> bool:
        return current + (1.0 if self.counted else self.amount) <= self.cap


class WindowStore(Protocol):
    """Where sliding windows live: in memory (one process) or in SQLite (several workers)."""

    def count(self, key: Hashable, window: float, now: float) -> int: ...

    def total(self, key: Hashable, window: float, now: float) -> float: ...

    def add(self, key: Hashable, now: float, amount: float = 1.0) -> None: ...

    def reset_scope(self, scope: tuple[str, ...]) -> None: ...

    def reserve(self, claims: Sequence[Claim], now: float) -> int | None:
        """Atomically: if every claim fits its window, record them all (those with ``record``) and return
        ``None``; otherwise record nothing and return the index of the first claim that does not fit."""
        ...


class SlidingWindows:
    """In-memory windows for one process. Each key keeps its events and a running total, so counting
    and summing cost O(1) plus the events that expired (a 24-hour budget does not re-add a day of
    payments on every call)."""

    def __init__(self) -> None:
        self._events: dict[Hashable, deque[tuple[float, float]]] = {}
        self._totals: dict[Hashable, float] = {}

    def _trim(self, key: Hashable, window: float, now: float) -> deque[tuple[float, float]] | None:
        events = self._events.get(key)
        if events is None:
            return None
        horizon = now - window
        expired = 0.0
        while events and events[0][0] <= horizon:
            expired += events.popleft()[1]
        if not events:
            del self._events[key]
            self._totals.pop(key, None)
            return None
        if expired:
            self._totals[key] -= expired
        return events

    def count(self, key: Hashable, window: float, now: float) -> int:
        events = self._trim(key, window, now)
        return 0 if events is None else len(events)

    def total(self, key: Hashable, window: float, now: float) -> float:
        events = self._trim(key, window, now)
        return 0.0 if events is None else self._totals[key]

    def add(self, key: Hashable, now: float, amount: float = 1.0) -> None:
        self._events.setdefault(key, deque()).append((now, amount))
        self._totals[key] = self._totals.get(key, 0.0) + amount

    def reserve(self, claims: Sequence[Claim], now: float) -> int | None:
        """See :meth:`WindowStore.reserve`. Atomic because one process owns these windows and the caller
        (the gateway) holds its lock across reading, deciding and reserving."""
        for i, claim in enumerate(claims):
            current = (
                self.count(claim.key, claim.window, now) if claim.counted else self.total(claim.key, claim.window, now)
            )
            if not claim.fits(current):
                return i
        for claim in claims:
            if claim.record:
                self.add(claim.key, now, 1.0 if claim.counted else claim.amount)
        return None

    def reset_scope(self, scope: tuple[str, ...]) -> None:
        """Forget every window whose key is ``(anything, scope)``: used when a paused scope resumes."""
        for key in [k for k in self._events if isinstance(k, tuple) and len(k) == 2 and k[1] == scope]:
            del self._events[key]
            self._totals.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)
