"""Prometheus metrics of the decision API, summed over every worker process.

The exposition is written by ``prometheus_client`` (its text format 0.0.4, from metric families a custom
collector yields). Its multiprocess mode (a directory of mmap files and an environment variable that must be
set before import) is not used: each worker keeps its counters in memory and writes a snapshot of them to the
table ``api_metrics`` of the gateway's SQLite file at most once a second (and on every scrape and at
shutdown); ``/metrics`` answers with the sum of all workers' snapshots, whichever worker is asked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

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


class _Totals(Collector):
    """The summed snapshots as metric families, for ``prometheus_client`` to expose."""

    def __init__(self, items: Iterable[tuple[tuple[str, Labels], float]]) -> None:
        self._items = list(items)

    def collect(self) -> Iterator[Metric]:
        by_family: dict[str, list[tuple[str, Labels, float]]] = {}
        for (name, labels), value in self._items:
            by_family.setdefault(_family(name), []).append((name, labels, value))
        # Every family is declared, with zeros, so dashboards see zeros rather than missing series.
        for family in [*_HELP, *sorted(set(by_family) - set(_HELP))]:
            kind, help_text = _HELP.get(family, ("untyped", family))
            samples = by_family.get(family, [])
            if kind == "histogram":
                yield _histogram(family, help_text, samples)
                continue
            names = sorted({k for _, labels, _ in samples for k, _ in labels})
            metric: Metric
            if kind == "counter":
                metric = CounterMetricFamily(family, help_text, labels=names)
            else:
                metric = UnknownMetricFamily(family, help_text, labels=names)
            for _, labels, value in sorted(samples):
                given = dict(labels)
                metric.add_metric([given.get(k, "") for k in names], value)
            yield metric


def _histogram(family: str, help_text: str, samples: list[tuple[str, Labels, float]]) -> Metric:
    buckets = {repr(b): 0.0 for b in DECIDE_BUCKETS} | {"+Inf": 0.0}
    total = 0.0
    for name, labels, value in samples:
        if name.endswith("_bucket"):
            bound = dict(labels).get("le")
            if bound in buckets:
                buckets[bound] += value
        elif name.endswith("_sum"):
            total += value
    metric = HistogramMetricFamily(family, help_text)
    metric.add_metric([], list(buckets.items()), total)
    return metric


def render_text(items: Iterable[tuple[tuple[str, Labels], float]]) -> str:
    """The text exposition (format 0.0.4) of ``items``, written by ``prometheus_client``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Totals(items))
    return generate_latest(registry).decode("utf-8")
