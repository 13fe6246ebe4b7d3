"""The audit and alerts pages do bounded work on a large log: every page of the audit log, the oldest
included, reads one page of entries through one indexed query; a search reads at most its window and says
so when the window ends before a page of hits; the checkpoints shown are read as the latest few, not all.

Work is counted, not timed: a counting wrapper around the console's audit store records every call and
every entry or checkpoint it returns, and on SQLite a progress handler counts the virtual-machine steps
the database itself spends (rows it visits), so a query that walks the log would show here."""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from warded.audit.log import verify_store
from warded.audit.sqlite import SQLiteAuditStore
from warded.console import app as console_app
from warded.console import create_app, open_console
from warded.console._auth import COOKIE
from warded.console.app import Console
from warded.demo import write_demo_policy

ENTRIES = 3000


@dataclass
class Reads:
    calls: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    checkpoints: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.rows = self.checkpoints = 0


def _count_reads(store: Any) -> Reads:
    """Wrap ``store``'s read methods (on the instance) so that every entry they hand out is counted."""
    reads = Reads()
    for name in ("iter_entries", "entries_before", "tail", "get"):
        method = getattr(store, name)

        def counted(*args: Any, _name: str = name, _method: Callable[..., Any] = method, **kw: Any) -> Any:
            reads.calls[_name] += 1
            result = _method(*args, **kw)
            if _name == "iter_entries":
                return _counting(result, reads)
            found = result if isinstance(result, list) else [result] if result is not None else []
            reads.rows += len(found)
            return result

        setattr(store, name, functools.wraps(method)(counted))
    for name in ("checkpoints", "latest_checkpoints"):
        method = getattr(store, name)

        def counted_cp(*args: Any, _name: str = name, _method: Callable[..., Any] = method, **kw: Any) -> Any:
            reads.calls[_name] += 1
            result = _method(*args, **kw)
            reads.checkpoints += len(result)
            return result

        setattr(store, name, functools.wraps(method)(counted_cp))
    return reads


def _counting(entries: Iterable[Any], reads: Reads) -> Iterator[Any]:
    for entry in entries:
        reads.rows += 1
        yield entry


@dataclass
class World:
    console: Console
    client: TestClient
    reads: Reads
    steps: list[int]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    policy = write_demo_policy(str(tmp_path))
    c = open_console(policy)
    try:
        store = c.audit.store
        assert isinstance(store, SQLiteAuditStore)
        for i in range(
            ENTRIES
        ):  # seq i + 2 (after console_started); straight into the store: paging is the subject, not the signing
            kind = "alert" if i % 100 == 99 else "decision"
            body = {
                "i": i,
                "agent_id": "mail-assistant",
                "rule_id": "monitor.rate",
                "needle": "findme" if i % 500 == 7 else "-",
            }
            store.append(kind, 1_700_000_000.0 + i, body)
        for seq in range(100, store.head()[0], 100):  # a checkpoint every 100 entries (30 of them)
            entry = store.get(seq)
            assert entry is not None
            store.add_checkpoint(c.audit.signer.sign_checkpoint(seq, entry.hash, 1_700_000_000.0 + seq))
        # The chain's whole verification (in the background, when the head moved: not a page's work; its
        # bound is tested below) is done now, so that what is counted here is the pages' own reading.
        assert c.verify_chain_now().ok
        c.feed.last_seq = store.head()[0]  # and the live feed follows from here (it is not a page either)
        reads = _count_reads(store)
        steps = [0]
        conn = store._conn  # the database's own work: VM steps, in units of 100
        assert conn is not None

        def step() -> int:
            steps[0] += 1
            return 0

        conn.set_progress_handler(step, 100)
        with TestClient(create_app(c), base_url="https://localhost:8787") as client:
            _sign_in(c, client)
            yield World(c, client, reads, steps)
    finally:
        c.close()


def _sign_in(c: Console, client: TestClient) -> None:
    """A signed-in session for ``client`` (the passkey ceremony is the browser tests' subject)."""
    client.get("/login")
    session = c.sessions.get(client.cookies.get(COOKIE), c.clock())
    assert session is not None
    signed = c.sessions.sign_in(session, "carol", "test-credential", c.clock())
    client.cookies.clear()
    client.cookies.set(COOKIE, signed.sid)


def _get(w: World, path: str, **params: str | int) -> tuple[str, int]:
    """The page's HTML and the database steps it took (after a first, uncounted request warms caches)."""
    w.reads.reset()
    w.steps[0] = 0
    response = w.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.text, w.steps[0]


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)">', html)]


def test_every_audit_page_reads_one_page(world: World) -> None:
    head = world.console.audit.store.head()[0]
    html, newest_steps = _get(world, "/audit")
    assert _seqs(html)[0] == head and len(_seqs(html)) == console_app.PAGE
    budget = console_app.PAGE + 1  # the page, and the head
    assert world.reads.rows <= budget  # (the live feed may poll meanwhile; it finds nothing new)
    assert world.reads.checkpoints <= console_app.CHECKPOINTS_SHOWN and world.reads.calls["checkpoints"] == 0
    for before in (head // 2, 300, 60, 2):
        html, steps = _get(world, "/audit", before=before)
        seqs = _seqs(html)
        assert seqs == list(range(before - 1, max(0, before - 1 - console_app.PAGE), -1)), before
        assert world.reads.rows <= budget, (before, world.reads)
        assert world.reads.checkpoints <= console_app.CHECKPOINTS_SHOWN
        # The database's own work for the oldest pages is that of the newest, not that of the whole log.
        assert steps <= 2 * newest_steps + 20, (before, steps, newest_steps)
    # Paging on from a page's last entry (keyset) covers the log with no gap and no repeat.
    html, _ = _get(world, "/audit", before=301)
    link = re.search(r'href="/audit\?q=&amp;kind=&amp;before=(\d+)(?:&amp;n=\d+)?">Older entries', html)
    assert link is not None and int(link.group(1)) == _seqs(html)[-1] == 301 - console_app.PAGE


def test_page_size_is_capped(world: World) -> None:
    html, _ = _get(world, "/audit", n=10)
    assert len(_seqs(html)) == 10
    html, _ = _get(world, "/audit", n=10**9)
    assert len(_seqs(html)) == console_app.MAX_PAGE and world.reads.rows <= console_app.MAX_PAGE + 1
    for odd in ("-3", "0", "x", "1e9"):
        html, _ = _get(world, "/audit", n=odd)
        assert len(_seqs(html)) in (1, console_app.PAGE), odd


def test_a_search_reads_at_most_its_window_and_says_where_it_stopped(world: World) -> None:
    window = console_app.SEARCH_WINDOW
    head = world.console.audit.store.head()[0]
    html, _ = _get(world, "/audit", q="no such text anywhere")
    assert _seqs(html) == []
    assert world.reads.rows <= window + 1, world.reads
    lower = head - window + 1
    assert f"searched entries #{lower} to #{head}" in html.lower() and "limit of one search" in html
    more = re.search(r'href="/audit\?q=no%20such%20text%20anywhere&amp;kind=&amp;before=(\d+)[^"]*">Search older', html)
    assert more is not None and int(more.group(1)) == lower
    # Following the link searches the next window, down to the first entry, and says it reached it.
    html, _ = _get(world, "/audit", q="no such text anywhere", before=lower)
    assert world.reads.rows <= window + 1 and "the first entry" in html and "Search older" not in html


def test_a_search_stops_after_a_page_of_hits(world: World) -> None:
    html, _ = _get(world, "/audit", kind="decision")
    seqs = _seqs(html)
    assert len(seqs) == console_app.PAGE and all(s % 100 != 1 for s in seqs)  # entry i is seq i + 2
    assert world.reads.rows <= console_app.PAGE + console_app.SEARCH_CHUNK + 1
    # Rare hits: every one in the log is found, window by window, newest first, each search bounded.
    found: list[int] = []
    before: int | None = None
    for _ in range(10):
        html, _ = _get(world, "/audit", q="FINDME", **({"before": before} if before else {}))
        assert world.reads.rows <= console_app.SEARCH_WINDOW + 1
        found += _seqs(html)
        more = re.search(r'before=(\d+)[^"]*">(?:Search older|Older entries)', html)
        if more is None:
            break
        before = int(more.group(1))
    assert found == [i + 2 for i in range(ENTRIES - 1, -1, -1) if i % 500 == 7]


def test_the_alerts_page_reads_its_window_once(world: World) -> None:
    html, _ = _get(world, "/alerts")
    assert world.reads.rows <= console_app.ALERT_SCAN // 100 + 1  # only the alerts of the window come back
    assert html.count('href="/audit?before=') == console_app.ALERT_SCAN // 100


def test_sqlite_counts_steps_of_a_whole_scan(world: World) -> None:
    """The step counter sees a full scan (so the bounds above mean something)."""
    world.steps[0] = 0
    store = world.console.audit.store
    assert isinstance(store, SQLiteAuditStore)
    assert sum(1 for _ in store.iter_entries()) == store.head()[0]
    whole = world.steps[0]
    _, page = _get(world, "/audit", before=60)
    assert whole > 20 * page, (whole, page)


def test_progress_handler_is_sqlite_own(tmp_path: Path) -> None:
    """A sanity check of the counting method on a plain database: more rows visited, more steps."""
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(5000)])
    counts = [0]

    def step() -> int:
        counts[0] += 1
        return 0

    conn.set_progress_handler(step, 100)
    conn.execute("SELECT * FROM t WHERE a < 10 ORDER BY a DESC LIMIT 5").fetchall()
    small = counts[0]
    conn.execute("SELECT count(*) FROM t WHERE b = 'y'").fetchall()
    assert counts[0] - small > 10 * max(1, small)
    conn.close()


def test_the_whole_chain_is_verified_at_most_once_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However many audit pages are served while the head moves, the whole-log verification runs once per
    :data:`VERIFY_EVERY_S` (and one at a time); the page says when the entries after its check are next."""
    now = [1_800_000_000.0]
    c = open_console(write_demo_policy(str(tmp_path)), clock=lambda: now[0])
    runs: list[int] = []
    real = verify_store

    def counted(store: Any, *args: Any, **kw: Any) -> Any:
        runs.append(store.head()[0])
        return real(store, *args, **kw)

    monkeypatch.setattr(console_app, "verify_store", counted)
    try:
        first = c.verify_chain_now()
        assert first.ok and len(runs) == 1
        for _ in range(5):  # the head moves and pages are served, within the minute: no new verification
            c.record("console_test", {"n": 1})
            now[0] += 5.0
            assert c.chain_status() == first and not c.verifying
        assert len(runs) == 1
        with TestClient(create_app(c), base_url="https://localhost:8787") as client:
            _sign_in(c, client)
            page = client.get("/audit").text
            assert f"Checked up to head seq {first.head_seq}" in page and "are verified next at" in page
            assert len(runs) == 1
        now[0] = first.checked_at + console_app.VERIFY_EVERY_S  # due: the next visit starts one
        assert c.chain_status() == first
        for _ in range(600):  # generous: the background thread gets the cores when it gets them
            status = c.chain_status()
            if status is not None and status != first:
                break
            threading.Event().wait(0.05)
        assert status is not None and status.ok and status.head_seq == c.audit.store.head()[0]
        assert len(runs) == 2
    finally:
        c.close()
