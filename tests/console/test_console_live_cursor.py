"""The live decisions page and its stream meet at a cursor: a decision written between the page's render and
the stream's subscription is sent once (not lost), one already on the page is not sent again (not doubled),
whatever the follower had read when. The follower is driven by hand (``poll``), so each interleaving is
produced on purpose, not by timing."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from warded.console import _live, create_app, open_console
from warded.console._auth import COOKIE
from warded.console.app import Console
from warded.demo import write_demo_policy
from warded.errors import AuditError


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = open_console(write_demo_policy(str(tmp_path)))
    try:
        yield c
    finally:
        c.close()


def _decide(c: Console, tool: str, verdict: str = "deny") -> int:
    body = {"action": {"agent_id": "a", "session_id": "s", "tool": tool}, "decision": {"verdict": verdict}}
    return c.record("decision", body).seq


async def _never() -> bool:
    return False


class Reader:
    """Reads a stream in a task of its own (cancelling a wait on the reader never closes the stream)."""

    def __init__(self, stream: AsyncGenerator[bytes, None]) -> None:
        self.stream = stream
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        async for chunk in self.stream:
            await self.chunks.put(chunk)

    async def events(self, n: int) -> list[tuple[str, str]]:
        """The next ``n`` events (name, id or data), comments skipped; a generous bound against a hang."""
        out: list[tuple[str, str]] = []
        deadline = asyncio.get_running_loop().time() + 30  # one bound for all (keep-alives come every 15 s)
        while len(out) < n:
            left = deadline - asyncio.get_running_loop().time()
            chunk = await asyncio.wait_for(self.chunks.get(), max(0.0, left))
            if chunk.startswith(b":"):
                continue
            lines = dict(line.split(": ", 1) for line in chunk.decode().strip().split("\n"))
            out.append((lines["event"], lines.get("id", lines["data"])))
        return out

    async def quiet(self) -> bool:
        """True when the stream has no event to send now; comments are skipped. The short wait only decides
        how soon "nothing" is believed: a slow machine can only make this pass later, never wrongly."""
        while True:
            try:
                chunk = await asyncio.wait_for(self.chunks.get(), 0.3)
            except TimeoutError:
                return True
            if not chunk.startswith(b":"):
                return False

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.stream.aclose()


def _page_cursor(c: Console) -> tuple[int, str, list[int]]:
    """Render /decisions as a browser does: its cursor, its stream URL and the seqs it shows."""
    with TestClient(create_app(c), base_url="https://localhost:8787") as client:
        client.get("/login")
        session = c.sessions.get(client.cookies.get(COOKIE), c.clock())
        assert session is not None
        signed = c.sessions.sign_in(session, "carol", "test-credential", c.clock())
        client.cookies.clear()
        client.cookies.set(COOKIE, signed.sid)
        html = client.get("/decisions").text
        assert client.get("/decisions/stream", params={"after": "x"}).status_code == 400
        assert client.get("/decisions/stream", headers={"last-event-id": "-1"}).status_code == 400
    after = re.search(r'data-after="(\d+)"', html)
    url = re.search(r'data-stream="([^"]+)"', html)
    assert after is not None and url is not None
    shown = [int(s) for s in re.findall(r'data-seq="(\d+)"', html)]
    return int(after.group(1)), url.group(1).replace("&amp;", "&"), shown


def test_a_decision_between_render_and_subscribe_is_sent_once(console: Console) -> None:
    c = console
    first = _decide(c, "before_render")
    cursor, url, shown = _page_cursor(c)
    assert cursor == c.audit.store.head()[0] and first in shown and f"after={cursor}" in url
    feed = _live.DecisionFeed(c.audit.store)  # not started: polled by hand

    async def scenario() -> list[tuple[str, str]]:
        await feed.poll()  # the follower has read everything up to the page
        between = _decide(c, "between_render_and_subscribe")
        await feed.poll()  # ... and the injected decision, before anyone subscribed: no queue holds it
        stream = Reader(feed.stream(feed.subscribe(_live.Filter()), _never, after=cursor))
        got = await stream.events(1)
        after_sub = _decide(c, "after_subscribe")
        await feed.poll()
        got += await stream.events(1)
        assert await stream.quiet()
        await stream.close()
        assert [g[1] for g in got] == [str(between), str(after_sub)]
        return got

    asyncio.run(scenario())


def test_a_decision_on_the_page_and_in_the_queue_is_not_sent_again(console: Console) -> None:
    c = console
    feed = _live.DecisionFeed(c.audit.store)  # follows from here; it has not read what comes next
    on_page = _decide(c, "on_the_page")
    cursor, _, shown = _page_cursor(c)
    assert on_page in shown and cursor >= on_page

    async def scenario() -> None:
        stream = Reader(feed.stream(feed.subscribe(_live.Filter()), _never, after=cursor))
        assert await stream.quiet()  # subscribed, the backlog (empty) read
        racing = _decide(c, "written_after_subscribe")
        await feed.poll()  # the follower, behind, queues the page's decision and the new one
        got = await stream.events(1)
        assert got == [("decision", str(racing))]
        assert await stream.quiet()
        await stream.close()

    asyncio.run(scenario())


def test_a_decision_in_both_the_backlog_and_the_queue_is_sent_once(console: Console) -> None:
    c = console
    feed = _live.DecisionFeed(c.audit.store)
    cursor = c.audit.store.head()[0]
    sub = feed.subscribe(_live.Filter())

    async def scenario() -> None:
        both = _decide(c, "in_backlog_and_queue")  # after the subscription, before the backlog read
        await feed.poll()  # queued
        stream = Reader(feed.stream(sub, _never, after=cursor))  # the backlog read will find it too
        got = await stream.events(1)
        later = _decide(c, "later")
        await feed.poll()
        got += await stream.events(1)
        assert got == [("decision", str(both)), ("decision", str(later))]
        assert await stream.quiet()
        await stream.close()

    asyncio.run(scenario())


def test_the_backlog_is_bounded_and_says_what_it_skipped(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_live, "BACKLOG", 5)
    c = console
    cursor = c.audit.store.head()[0]
    seqs = [_decide(c, f"t{i}", "allow" if i % 2 else "deny") for i in range(12)]
    feed = _live.DecisionFeed(c.audit.store)
    reads: list[Any] = []
    real = c.audit.store.entries_before

    def counted(*args: Any, **kw: Any) -> Any:
        found = real(*args, **kw)
        reads.append(len(found))
        return found

    monkeypatch.setattr(c.audit.store, "entries_before", counted)

    async def scenario() -> list[tuple[str, str]]:
        stream = Reader(feed.stream(feed.subscribe(_live.Filter(verdict="deny")), _never, after=cursor))
        got = await stream.events(3)  # the gap, then the deny decisions among the newest 5 entries
        assert await stream.quiet()
        await stream.close()
        return got

    got = asyncio.run(scenario())
    assert reads == [5]
    newest = seqs[-5:]
    assert got == [("gap", str(len(seqs) - 5))] + [("decision", str(s)) for s in newest if (s - seqs[0]) % 2 == 0]


def test_without_a_cursor_the_stream_starts_now(console: Console) -> None:
    c = console
    _decide(c, "old")
    feed = _live.DecisionFeed(c.audit.store)

    async def scenario() -> list[tuple[str, str]]:
        stream = Reader(feed.stream(feed.subscribe(_live.Filter()), _never))
        assert await stream.quiet()
        new = _decide(c, "new")
        await feed.poll()
        got = await stream.events(1)
        await stream.close()
        assert got == [("decision", str(new))]
        return got

    asyncio.run(scenario())


def test_a_follower_that_cannot_read_says_so_and_loses_nothing(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = console
    feed = _live.DecisionFeed(c.audit.store, poll_s=0.01)
    real = c.audit.store.iter_entries
    failing = [3]

    def flaky(start_seq: int = 1) -> Any:
        if failing[0] > 0:
            failing[0] -= 1
            raise AuditError("the audit store is down (test)")
        return real(start_seq)

    async def scenario() -> list[tuple[str, str]]:
        stream = Reader(feed.stream(feed.subscribe(_live.Filter()), _never))
        assert await stream.quiet()
        monkeypatch.setattr(c.audit.store, "iter_entries", flaky)
        meanwhile = _decide(c, "written_while_the_store_failed")
        feed.start()  # the follower runs on its own now: it fails three times, then reads again
        got: list[tuple[str, str]] = []
        while not got or got[-1][0] == "stalled":  # one "stalled" per failed read, then the decision
            got += await stream.events(1)
        await feed.stop()
        await stream.close()
        decisions = [g for g in got if g[0] == "decision"]
        assert decisions == [("decision", str(meanwhile))]
        return got

    got = asyncio.run(scenario())
    assert [g[0] for g in got] == ["stalled"] * 3 + ["decision"] and "cannot read the audit log" in got[0][1]
    assert feed.failures == 3
