"""Prometheus metrics of the decision API, summed over every worker process.

Hand-written text exposition format (version 0.0.4): a handful of counters and one histogram do not justify
``prometheus_client`` and its multiprocess mode (a directory of mmap files and an environment variable that
must be set before import). Instead each worker keeps its counters in memory and writes a snapshot of them
to the table ``api_metrics`` of the gateway's SQLite file at most once a second (and on every scrape and at
shutdown); ``/metrics`` answers with the sum of all workers' snapshots, whichever worker is asked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable

from warded.errors import StoreError
from warded.store._sqlite import open_sqlite

__all__ = ["DECIDE_BUCKETS", "Metrics"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_metrics (
    worker TEXT PRIMARY KEY,
    updated_at REAL NOT NULL,
    snapshot TEXT NOT NULL
);
"""

DECIDE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)

_HELP = {
    "warded_api_requests_total": ("counter", "HTTP requests answered, by route and status code."),
    "warded_api_auth_failures_total": ("counter", "Requests refused for authentication or identity."),
    "warded_decisions_total": ("counter", "Decisions returned by /v1/decide, by verdict."),
    "warded_results_total": ("counter", "Tool results scanned by /v1/results, by response."),
    "warded_decide_seconds": ("histogram", "Time to decide one /v1/decide request (gateway check only)."),
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


class Metrics:
    """Counters for one worker, flushed to a shared SQLite table. Thread-safe."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time, flush_every_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._clock = clock
        self._flush_every_s = flush_every_s
        self._next_flush = 0.0
        self._worker = f"{os.getpid()}-{os.urandom(4).hex()}"
        for bound in (*(repr(b) for b in DECIDE_BUCKETS), "+Inf"):  # every bucket present from the start
            self._counters[("warded_decide_seconds_bucket", (("le", bound),))] = 0.0
        self._counters[("warded_decide_seconds_sum", ())] = 0.0
        self._counters[("warded_decide_seconds_count", ())] = 0.0
        self._db = open_sqlite(
            path, what=f"the metrics table in {path!r}", timeout_s=5.0, synchronous="NORMAL", schema=_SCHEMA
        )

    def inc(self, name: str, labels: Labels = (), amount: float = 1.0) -> None:
        with self._lock:
            key = (name, labels)
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            for bound in DECIDE_BUCKETS:
                if seconds <= bound:
                    key = (f"{name}_bucket", (("le", repr(bound)),))
                    self._counters[key] = self._counters.get(key, 0.0) + 1.0
            inf = (f"{name}_bucket", (("le", "+Inf"),))
            self._counters[inf] = self._counters.get(inf, 0.0) + 1.0
            self._counters[(f"{name}_sum", ())] = self._counters.get((f"{name}_sum", ()), 0.0) + seconds
            self._counters[(f"{name}_count", ())] = self._counters.get((f"{name}_count", ()), 0.0) + 1.0

    def maybe_flush(self) -> None:
        """Write this worker's snapshot if the last one is older than ``flush_every_s``; never raises."""
        now = self._clock()
        if now >= self._next_flush:
            try:
                self.flush()
            except StoreError:
                self._next_flush = now + self._flush_every_s  # metrics are best effort; decisions are not

    def flush(self) -> None:
        now = self._clock()
        with self._lock:
            self._next_flush = now + self._flush_every_s
            snapshot = json.dumps(
                [[name, list(map(list, labels)), value] for (name, labels), value in self._counters.items()]
            )
            try:
                self._db.execute(
                    "INSERT INTO api_metrics VALUES (?, ?, ?) ON CONFLICT (worker) DO UPDATE SET "
                    "updated_at = excluded.updated_at, snapshot = excluded.snapshot",
                    (self._worker, now, snapshot),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write metrics: {exc}") from exc

    def _all(self) -> dict[tuple[str, Labels], float]:
        with self._lock:
            try:
                rows = self._db.execute("SELECT snapshot FROM api_metrics").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read metrics: {exc}") from exc
        total: dict[tuple[str, Labels], float] = {}
        for (text,) in rows:
            try:
                items = json.loads(str(text))
                for name, labels, value in items:
                    key = (str(name), tuple((str(k), str(v)) for k, v in labels))
                    total[key] = total.get(key, 0.0) + float(value)
            except (ValueError, TypeError):
                continue  # a corrupt snapshot is skipped, not fatal
        return total

    def render(self) -> str:
        """The Prometheus text exposition of every worker's counters, summed."""
        self.flush()
        return render_text(self._all().items())

    def close(self) -> None:
        try:
            self.flush()
        except StoreError:
            pass
        finally:
            with self._lock:
                self._db.close()


def _family(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in _HELP:
            return name[: -len(suffix)]
    return name


def _bucket_order(item: tuple[tuple[str, Labels], float]) -> tuple[str, int, float, Labels]:
    (name, labels), _ = item
    family = _family(name)
    part = 0 if name.endswith("_bucket") else 1 if name.endswith("_sum") else 2
    le = dict(labels).get("le")
    bound = float("inf") if le == "+Inf" else float(le) if le is not None else 0.0
    return (family, part if family != name else 0, bound, labels)


def render_text(items: Iterable[tuple[tuple[str, Labels], float]]) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    present = sorted(items, key=_bucket_order)
    families = {_family(name) for (name, _), _ in present}
    for family, (kind, help_text) in _HELP.items():
        if family not in families:
            # Always declare every family, so dashboards see zeros, not missing series.
            lines.append(f"# HELP {family} {help_text}")
            lines.append(f"# TYPE {family} {kind}")
            if kind == "histogram":
                lines.extend(f'{family}_bucket{{le="{b!r}"}} 0' for b in DECIDE_BUCKETS)
                lines.extend([f'{family}_bucket{{le="+Inf"}} 0', f"{family}_sum 0", f"{family}_count 0"])
            seen.add(family)
    for (name, labels), value in present:
        family = _family(name)
        if family not in seen:
            kind, help_text = _HELP.get(family, ("untyped", family))
            lines.append(f"# HELP {family} {help_text}")
            lines.append(f"# TYPE {family} {kind}")
            seen.add(family)
        number = repr(value) if value != int(value) else str(int(value))
        lines.append(f"{name}{_labels(labels)} {number}")
    return "\n".join(lines) + "\n"
