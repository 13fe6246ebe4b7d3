"""Sliding-window counters in SQLite, shared by every process that opens the same file.

The same interface as :class:`warded.core.windows.SlidingWindows` (``count``, ``total``, ``add``,
``reset_scope``), so several ``warded serve`` workers share rate limits, budgets and circuit breakers:
a burst spread over two workers trips the breaker exactly as it would in one.

Events live in the table ``window_events`` of the gateway's SQLite file (WAL mode). Keys are tuples of
strings (nested tuples allowed, e.g. ``("delete-burst", ("agent", "s1"))``), stored as canonical JSON
(arrays, no spaces, non-ASCII kept), so the same key always has the same spelling in every process.

Expired events are pruned: each process remembers the window it last used for each key and, at most
every ``prune_every_s`` seconds, deletes those keys' expired events and every event older than the longest
window it has seen. Reads never depend on pruning: they only count events inside the window.

An allowed call takes its slot with :meth:`SQLiteWindows.reserve`: the counts are read and the events
inserted inside one ``BEGIN IMMEDIATE`` transaction, which holds the file's write lock from the first read
to the commit, so two processes deciding at the same instant are serialised and the second sees the
first's event: a limit or budget shared by any number of workers is exact (the gateway decides again on
the fresh counts when a reservation is refused). ``count``/``total``/``add`` remain for reading state and
for events recorded after the fact (calls that a ``count: denied`` limit counts). Every failure raises
:class:`~warded.errors.StoreError`, which the gateway turns into DENY.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time
from collections.abc import Callable, Hashable, Sequence

from warded.core.windows import Claim
from warded.errors import StoreError
from warded.store._sqlite import SQLiteStore

__all__ = ["SCHEMA", "SQLiteWindows", "canonical_key"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS window_events (
    key TEXT NOT NULL,
    scope TEXT,
    at REAL NOT NULL,
    amount REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS window_events_by_key ON window_events (key, at);
CREATE INDEX IF NOT EXISTS window_events_by_scope ON window_events (scope) WHERE scope IS NOT NULL;
CREATE INDEX IF NOT EXISTS window_events_by_time ON window_events (at);
"""
"""The one table this store owns (created if missing; other modules own other tables in the same file)."""

MAX_KEY_DEPTH = 4
MAX_KEY_CHARS = 4096


def _check_key(key: object, depth: int = 0) -> None:
    if isinstance(key, str):
        return
    if not isinstance(key, tuple) or depth >= MAX_KEY_DEPTH:
        raise StoreError(f"a window key must be a tuple of strings (or of such tuples), got {type(key).__name__}")
    for part in key:
        _check_key(part, depth + 1)


def canonical_key(key: object) -> str:
    """The one spelling of a window key: JSON arrays, no whitespace. StoreError for anything else."""
    if not isinstance(key, tuple):
        raise StoreError(f"a window key must be a tuple, got {type(key).__name__}")
    _check_key(key)
    text = json.dumps(key, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_KEY_CHARS:
        raise StoreError(f"a window key is longer than {MAX_KEY_CHARS} characters")
    return text


def _scope_of(key: object) -> str | None:
    """The column ``reset_scope`` matches: the key's second part, for ``(id, scope)`` keys."""
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], tuple):
        return canonical_key(key[1])
    return None


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StoreError(f"{what} must be a finite number, got {value!r:.40}")
    return float(value)


class SQLiteWindows(SQLiteStore):
    """Sliding-window counters in a SQLite file. Thread-safe; safe across processes."""

    def __init__(
        self,
        path: str,
        *,
        timeout_s: float = 5.0,
        synchronous: str = "NORMAL",
        prune_every_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._windows: dict[str, float] = {}  # key -> the window last asked for (pruning only)
        self._longest = 0.0
        self._prune_every_s = prune_every_s
        self._monotonic = monotonic
        self._next_prune = monotonic() + prune_every_s
        super().__init__(path, what="window store", schema=SCHEMA, timeout_s=timeout_s, synchronous=synchronous)

    # -- plumbing ---------------------------------------------------------------------------------

    def _run(self, what: str, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        # Caller holds self._lock.
        self._check_open()
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {exc}") from exc

    def _read(self, key: Hashable, window: float, now: float, column: str) -> float:
        text = canonical_key(key)
        window = _finite(window, "window")
        now = _finite(now, "now")
        if window <= 0:
            raise StoreError("window must be positive")
        with self._lock:
            self._windows[text] = window
            self._longest = max(self._longest, window)
            row = self._run(
                "read window",
                f"SELECT {column} FROM window_events WHERE key = ? AND at > ?",  # noqa: S608 (column is ours)
                (text, now - window),
            ).fetchone()
            self._maybe_prune(now)
        return float(row[0] or 0) if row is not None else 0.0

    def _maybe_prune(self, now: float) -> None:
        # Caller holds self._lock. Pruning errors are not swallowed: a store that cannot write fails closed.
        tick = self._monotonic()
        if tick < self._next_prune:
            return
        self._next_prune = tick + self._prune_every_s
        self.prune(now, _locked=True)

    def prune(self, now: float, *, _locked: bool = False) -> int:
        """Delete expired events of the keys this process has used, and all older than its longest window."""
        now = _finite(now, "now")
        if not _locked:
            with self._lock:
                return self.prune(now, _locked=True)
        removed = 0
        self._run("prune windows", "BEGIN IMMEDIATE", ())
        try:
            for text, window in self._windows.items():
                removed += self._run(
                    "prune windows", "DELETE FROM window_events WHERE key = ? AND at <= ?", (text, now - window)
                ).rowcount
            if self._longest > 0:
                removed += self._run(
                    "prune windows", "DELETE FROM window_events WHERE at <= ?", (now - self._longest,)
                ).rowcount
            self._run("prune windows", "COMMIT", ())
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._windows.clear()  # forget keys no longer in use; the next reads re-register them
        return removed

    # -- the SlidingWindows interface -------------------------------------------------------------

    def count(self, key: Hashable, window: float, now: float) -> int:
        """Events of ``key`` in ``(now - window, now]`` (and any recorded later, as in memory)."""
        return int(self._read(key, window, now, "COUNT(*)"))

    def total(self, key: Hashable, window: float, now: float) -> float:
        """Sum of the amounts of ``key``'s events inside the window."""
        return self._read(key, window, now, "TOTAL(amount)")

    def add(self, key: Hashable, now: float, amount: float = 1.0) -> None:
        text = canonical_key(key)
        scope = _scope_of(key)
        at = _finite(now, "now")
        value = _finite(amount, "amount")
        with self._lock:
            self._run("record window event", "INSERT INTO window_events VALUES (?, ?, ?, ?)", (text, scope, at, value))

    def reserve(self, claims: Sequence[Claim], now: float) -> int | None:
        """Check every claim against its window and record them all, or none, in one write transaction.

        ``BEGIN IMMEDIATE`` takes the database's write lock before the first read, so no other process can
        add an event between this check and this insert: the result is what one process deciding alone
        would get. Returns ``None`` when all were recorded, else the index of the first that did not fit.
        """
        now = _finite(now, "now")
        rows: list[tuple[str, str | None, float, float]] = []  # key, scope, window, amount
        for claim in claims:
            window = _finite(claim.window, "window")
            if window <= 0:
                raise StoreError("window must be positive")
            _finite(claim.cap, "cap")
            amount = 1.0 if claim.counted else _finite(claim.amount, "amount")
            rows.append((canonical_key(claim.key), _scope_of(claim.key), window, amount))
        recorded = [row for row, claim in zip(rows, claims, strict=True) if claim.record]
        if not rows:
            return None
        with self._lock:
            self._run("reserve window slots", "BEGIN IMMEDIATE", ())
            try:
                for i, (claim, (text, _scope, window, _amount)) in enumerate(zip(claims, rows, strict=True)):
                    self._windows[text] = window
                    self._longest = max(self._longest, window)
                    column = "COUNT(*)" if claim.counted else "TOTAL(amount)"
                    row = self._run(
                        "reserve window slots",
                        f"SELECT {column} FROM window_events WHERE key = ? AND at > ?",  # noqa: S608 (column is ours)
                        (text, now - window),
                    ).fetchone()
                    if not claim.fits(float(row[0] or 0) if row is not None else 0.0):
                        self._run("reserve window slots", "ROLLBACK", ())
                        return i
                for text, scope, _window, amount in recorded:
                    self._run(
                        "reserve window slots",
                        "INSERT INTO window_events VALUES (?, ?, ?, ?)",
                        (text, scope, now, amount),
                    )
                self._run("reserve window slots", "COMMIT", ())
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._maybe_prune(now)
        return None

    def reset_scope(self, scope: tuple[str, ...]) -> None:
        """Forget every window whose key is ``(anything, scope)``: used when a paused scope resumes."""
        text = canonical_key(scope)
        with self._lock:
            self._run("reset windows", "DELETE FROM window_events WHERE scope = ?", (text,))

    def __len__(self) -> int:
        """The number of keys with stored events (expired ones included until pruned)."""
        with self._lock:
            row = self._run("count windows", "SELECT COUNT(DISTINCT key) FROM window_events", ()).fetchone()
        return int(row[0]) if row is not None else 0
